/* fileio: whole-file reads and atomic writes (see fileio.h). */
#include "core/fileio.h"

#include "core/buf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int file_read_all(const char *path, const char *what, char **out, size_t *len, err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_sys(e, "%s: cannot open '%s'", what, path);
    buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (buf_append(&b, tmp, n)) {
            fclose(f);
            buf_free(&b);
            return err_set(e, VOLLEY_ENOMEM, "%s: '%s' is too large", what, path);
        }
    bool bad = ferror(f);
    fclose(f);
    if (bad || buf_append(&b, "", 1)) {
        buf_free(&b);
        return bad ? err_sys(e, "%s: cannot read '%s'", what, path)
                   : err_set(e, VOLLEY_ENOMEM, "%s: out of memory", what);
    }
    *out = b.data;
    *len = b.len - 1;
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
