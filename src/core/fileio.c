/* fileio: whole-file reads and atomic writes (see fileio.h). */
#include "core/fileio.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *file_open_input(const char *path, const char *what, size_t max, size_t *size, err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_sys(e, "%s: cannot open '%s'", what, path);
        return NULL;
    }
    struct stat st;
    const char *why = NULL;
    if (fstat(fileno(f), &st) != 0)
        why = "cannot stat it";
    else if (!S_ISREG(st.st_mode))
        why = S_ISDIR(st.st_mode) ? "is a directory, not a regular file" : "is not a regular file";
    if (why) {
        fclose(f);
        err_set(e, VOLLEY_EINVAL, "%s: '%s' %s", what, path, why);
        return NULL;
    }
    if (max && (uint64_t)st.st_size > max) {
        fclose(f);
        err_set(e, VOLLEY_EINVAL, "%s: '%s' is %llu bytes, over the limit of %zu MiB", what,
                path, (unsigned long long)st.st_size, max >> 20);
        return NULL;
    }
    if (size)
        *size = (size_t)st.st_size;
    return f;
}

int file_read_all(const char *path, const char *what, char **out, size_t *len, err *e)
{
    size_t size;
    FILE *f = file_open_input(path, what, FILE_READ_MAX, &size, e);
    if (!f)
        return e && e->code ? e->code : VOLLEY_EINVAL;
    /* One allocation of the file's size: a large body is held once. */
    char *data = malloc(size + 1);
    if (!data) {
        fclose(f);
        return err_set(e, VOLLEY_ENOMEM, "%s: '%s' (%zu bytes): out of memory", what, path, size);
    }
    size_t n = size ? fread(data, 1, size, f) : 0;
    bool bad = ferror(f) || n != size;
    fclose(f);
    if (bad) {
        free(data);
        return err_sys(e, "%s: cannot read '%s' (it changed while read?)", what, path);
    }
    data[size] = 0;
    *out = data;
    *len = size;
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, err *e)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return err_set(e, VOLLEY_EINVAL, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return err_sys(e, "cannot write '%s'", tmp);
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        unlink(tmp);
        return err_sys(e, "cannot write '%s'", tmp);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return err_sys(e, "cannot rename '%s' to '%s'", tmp, path);
    }
    return 0;
}
