/* fileio: whole-file reads and atomic writes, for every input file the
 * user names (bodies, targets, results) and every output volley writes. */
#ifndef VOLLEY_FILEIO_H
#define VOLLEY_FILEIO_H

#include "core/err.h"

#include <stddef.h>

#include <stdio.h>

/* Largest input file read whole (bodies, targets): 1 GiB. */
#define FILE_READ_MAX ((size_t)1 << 30)
/* Largest results.json read back (report, compare, baseline): 256 MiB. */
#define FILE_RESULTS_MAX ((size_t)256 << 20)

/* Opens a file the user named for reading. Refuses at once what is not a
 * regular file (a directory, /dev/zero, a FIFO) and, when max > 0, a file
 * larger than max bytes; errors are VOLLEY_EINVAL and name `what` and the
 * path. *size (may be NULL) gets the file's size. Returns NULL on error. */
FILE *file_open_input(const char *path, const char *what, size_t max, size_t *size, err *e);

/* Reads path (at most FILE_READ_MAX bytes, a regular file) into one malloc'd,
 * NUL-terminated buffer of its size (*len excludes the NUL). `what` names the
 * flag or purpose in errors ("--body-file"). */
int file_read_all(const char *path, const char *what, char **out, size_t *len, err *e);

/* Writes len bytes to path through path.tmp and rename(2), so a reader never
 * sees a half-written file and an interrupted write leaves the old one. */
int file_write_atomic(const char *path, const void *data, size_t len, err *e);

#endif
