/* buf: growable byte buffer with a read offset (see buf.h). */
#include "core/buf.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void buf_compact(buf *b)
{
    if (b->off == 0)
        return;
    size_t n = b->len - b->off;
    if (n)
        memmove(b->data, b->data + b->off, n);
    b->off = 0;
    b->len = n;
}

int buf_reserve(buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t unread = b->len - b->off;
    if (extra > SIZE_MAX / 2 - unread)
        return VOLLEY_ENOMEM; /* would overflow; no real buffer is this big */
    /* Compacting is cheaper than growing when most of the buffer is read. */
    if (b->off && b->cap - (b->len - b->off) >= extra) {
        buf_compact(b);
        return 0;
    }
    size_t need = b->len - b->off + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (b->off)
        buf_compact(b);
    char *p = realloc(b->data, cap);
    if (!p)
        return VOLLEY_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n))
        return VOLLEY_ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return VOLLEY_EINVAL;
    if (buf_reserve(b, (size_t)n + 1))
        return VOLLEY_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_consume(buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void buf_reset(buf *b)
{
    b->off = b->len = 0;
}

void buf_free(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}
