/* decode: streaming decoders for response Content-Encoding (gzip, deflate,
 * br, zstd through zlib, brotli and zstd), for --compressed. Bytes are fed
 * as they arrive in any split; the decoded bytes go to a sink (a Lua body,
 * a check) or are only counted. A decoder is made once per connection and
 * reset per response, so a response allocates nothing. The caller times
 * decoder_feed and keeps that time out of latency. */
#ifndef VOLLEY_DECODE_H
#define VOLLEY_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum decode_kind {
    DECODE_IDENTITY,
    DECODE_GZIP,
    DECODE_DEFLATE,
    DECODE_BR,
    DECODE_ZSTD,
    DECODE_UNKNOWN,
} decode_kind;

/* Errors (negative). */
enum {
    DECODE_ECORRUPT = -1,   /* not valid data of that encoding */
    DECODE_ETRUNCATED = -2, /* the body ended inside the compressed stream */
    DECODE_ENOMEM = -3,
    DECODE_ETOOBIG = -4,    /* decoded output passed the cap (a decompression bomb) */
};

/* The kind named by a Content-Encoding value (case-insensitive; "x-gzip"
 * too). A list ("gzip, br") is DECODE_UNKNOWN: volley offers one at a time. */
decode_kind decode_kind_of(const char *value, size_t len);
const char *decode_kind_name(decode_kind k);
/* The Accept-Encoding value --compressed sends. */
#define DECODE_ACCEPT "gzip, deflate, br, zstd"

typedef void (*decode_sink)(void *ctx, const char *data, size_t len);

typedef struct decoder decoder;

/* max_out: cap on decoded bytes per response (0: 1 GiB). */
decoder *decoder_new(uint64_t max_out);
void decoder_free(decoder *d);
/* Starts a response of kind k (IDENTITY passes bytes through). 0 or
 * DECODE_ENOMEM. */
int decoder_reset(decoder *d, decode_kind k);
/* Feeds encoded bytes; decoded ones go to sink (may be NULL: counted only).
 * Returns 0 or an error above. */
int decoder_feed(decoder *d, const void *in, size_t len, decode_sink sink, void *ctx);
/* The body ended: 0 when the compressed stream ended exactly there (or the
 * body was empty), else DECODE_ETRUNCATED. */
int decoder_finish(decoder *d);
/* Decoded bytes of the current response so far. */
uint64_t decoder_out_bytes(const decoder *d);
const char *decode_strerror(int rc);

#endif
