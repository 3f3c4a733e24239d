/* err: error codes and messages with context (see err.h). */
#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

int err_sys(err *e, const char *fmt, ...)
{
    int saved = errno;
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof e->msg)
            snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(saved));
        e->code = VOLLEY_ESYS;
    }
    errno = saved;
    return VOLLEY_ESYS;
}

const char *err_str(int code)
{
    switch (code) {
    case VOLLEY_OK: return "ok";
    case VOLLEY_EINVAL: return "invalid argument";
    case VOLLEY_ESYS: return "system call failed";
    case VOLLEY_ENOMEM: return "out of memory";
    case VOLLEY_EPARSE: return "parse error";
    case VOLLEY_ERANGE: return "value out of range";
    case VOLLEY_EAGAIN: return "try again";
    case VOLLEY_EIO: return "i/o error";
    default: return "unknown error";
    }
}

void err_clear(err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}
