/* fileio: whole-file reads and atomic writes, for every input file the
 * user names (bodies, targets, results) and every output volley writes. */
#ifndef VOLLEY_FILEIO_H
#define VOLLEY_FILEIO_H

#include "core/err.h"

#include <stddef.h>

/* Reads path into a malloc'd, NUL-terminated buffer (*len excludes the NUL).
 * `what` names the flag or purpose in errors ("--body-file"). */
int file_read_all(const char *path, const char *what, char **out, size_t *len, err *e);

/* Writes len bytes to path through path.tmp and rename(2), so a reader never
 * sees a half-written file and an interrupted write leaves the old one. */
int file_write_atomic(const char *path, const void *data, size_t len, err *e);

#endif
