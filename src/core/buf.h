/* buf: a growable byte buffer with a read offset, for connection input and
 * output. Data lives in [data+off, data+len). Owned by whoever embeds it. */
#ifndef VOLLEY_BUF_H
#define VOLLEY_BUF_H

#include <stddef.h>

typedef struct buf {
    char *data;
    size_t off;  /* first unread byte */
    size_t len;  /* end of valid data */
    size_t cap;
} buf;

/* Ensures room for `extra` more bytes after len (may compact or grow).
 * Returns 0 or VOLLEY_ENOMEM. */
int buf_reserve(buf *b, size_t extra);

/* Appends n bytes. Returns 0 or VOLLEY_ENOMEM. */
int buf_append(buf *b, const void *p, size_t n);

/* Appends a formatted string. Returns 0 or VOLLEY_ENOMEM. */
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Marks n unread bytes as consumed; resets to empty when all are read. */
void buf_consume(buf *b, size_t n);

/* Moves unread bytes to the start of the storage. */
void buf_compact(buf *b);

static inline size_t buf_unread(const buf *b) { return b->len - b->off; }
static inline char *buf_rpos(const buf *b) { return b->data + b->off; }
static inline char *buf_wpos(const buf *b) { return b->data + b->len; }
static inline size_t buf_room(const buf *b) { return b->cap - b->len; }

/* Empties b without freeing its storage. */
void buf_reset(buf *b);

/* Frees the storage; b is empty and reusable afterwards. */
void buf_free(buf *b);

#endif
