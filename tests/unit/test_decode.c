/* Tests for proto/decode: each Content-Encoding round-trips bodies made by
 * the real encoders (zlib, brotli, zstd), fed whole, split in two at many
 * points and one byte at a time; gzip members back to back, raw and
 * zlib-wrapped deflate, truncated and corrupt streams, the output cap, and
 * the Content-Encoding names. */
#include "proto/decode.h"

#include <brotli/encode.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

typedef struct out {
    char *p;
    size_t n, cap;
} out;

static void sink(void *ctx, const char *d, size_t n)
{
    out *o = ctx;
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->p = realloc(o->p, o->cap);
    }
    memcpy(o->p + o->n, d, n);
    o->n += n;
}

static char *text(size_t n)
{
    char *t = malloc(n);
    unsigned x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        t[i] = "volley HTTP load generator, honest latency.\n"[(x >> 16) % 44];
    }
    return t;
}

/* wbits: 16+15 gzip, 15 zlib, -15 raw deflate. */
static size_t zcompress(const char *in, size_t n, unsigned char *dst, size_t cap, int wbits)
{
    z_stream z = {0};
    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

static size_t encode(decode_kind k, const char *in, size_t n, unsigned char *dst, size_t cap)
{
    switch (k) {
    case DECODE_GZIP: return zcompress(in, n, dst, cap, 16 + 15);
    case DECODE_DEFLATE: return zcompress(in, n, dst, cap, 15);
    case DECODE_BR: {
        size_t len = cap;
        cr_assert(BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, n, (const uint8_t *)in, &len, dst));
        return len;
    }
    case DECODE_ZSTD: {
        size_t len = ZSTD_compress(dst, cap, in, n, 3);
        cr_assert(!ZSTD_isError(len));
        return len;
    }
    default: memcpy(dst, in, n); return n;
    }
}

/* Decodes enc[0..len) fed in pieces of `step` bytes (0: whole). */
static int decode_all(decoder *d, decode_kind k, const unsigned char *enc, size_t len, size_t step,
                      out *o)
{
    o->n = 0;
    cr_assert_eq(decoder_reset(d, k), 0);
    size_t at = 0;
    while (at < len) {
        size_t n = step ? (len - at < step ? len - at : step) : len;
        int rc = decoder_feed(d, enc + at, n, sink, o);
        if (rc)
            return rc;
        at += n;
    }
    return decoder_finish(d);
}

static const decode_kind kinds[] = {DECODE_IDENTITY, DECODE_GZIP, DECODE_DEFLATE, DECODE_BR,
                                    DECODE_ZSTD};

Test(decode, every_kind_round_trips_in_any_split)
{
    size_t n = 300000;
    char *t = text(n);
    unsigned char *enc = malloc(n + 4096);
    decoder *d = decoder_new(0);
    out o = {0};
    for (size_t i = 0; i < 5; i++) {
        size_t len = encode(kinds[i], t, n, enc, n + 4096);
        static const size_t steps[] = {0, 1, 7, 1000, 65536, 65537};
        for (size_t s = 0; s < 6; s++) {
            if (steps[s] == 1 && len > 20000)
                continue; /* byte by byte is covered by the small body below */
            cr_assert_eq(decode_all(d, kinds[i], enc, len, steps[s], &o), 0, "%s step %zu",
                         decode_kind_name(kinds[i]), steps[s]);
            cr_assert_eq(o.n, n, "%s", decode_kind_name(kinds[i]));
            cr_assert(!memcmp(o.p, t, n));
            cr_assert_eq(decoder_out_bytes(d), n);
        }
    }
    /* A small body one byte at a time, for every kind. */
    for (size_t i = 0; i < 5; i++) {
        size_t len = encode(kinds[i], t, 5000, enc, n);
        cr_assert_eq(decode_all(d, kinds[i], enc, len, 1, &o), 0);
        cr_assert_eq(o.n, 5000);
        cr_assert(!memcmp(o.p, t, 5000));
    }
    free(o.p);
    free(enc);
    free(t);
    decoder_free(d);
}

Test(decode, gzip_members_back_to_back_and_raw_deflate)
{
    char *t = text(10000);
    unsigned char enc[40000];
    size_t a = zcompress(t, 4000, enc, sizeof enc, 16 + 15);
    size_t b = zcompress(t + 4000, 6000, enc + a, sizeof enc - a, 16 + 15);
    decoder *d = decoder_new(0);
    out o = {0};
    cr_assert_eq(decode_all(d, DECODE_GZIP, enc, a + b, 333, &o), 0);
    cr_assert_eq(o.n, 10000);
    cr_assert(!memcmp(o.p, t, 10000));
    size_t r = zcompress(t, 10000, enc, sizeof enc, -15); /* no zlib header */
    cr_assert_eq(decode_all(d, DECODE_DEFLATE, enc, r, 100, &o), 0);
    cr_assert_eq(o.n, 10000);
    free(o.p);
    free(t);
    decoder_free(d);
}

Test(decode, truncated_and_corrupt_streams)
{
    char *t = text(20000);
    unsigned char enc[30000];
    decoder *d = decoder_new(0);
    out o = {0};
    for (size_t i = 1; i < 5; i++) {
        size_t len = encode(kinds[i], t, 20000, enc, sizeof enc);
        cr_assert_eq(decode_all(d, kinds[i], enc, len - 3, 0, &o), DECODE_ETRUNCATED, "%s",
                     decode_kind_name(kinds[i]));
        memset(enc, 0x5a, 16); /* a header that is none of them */
        cr_assert_eq(decode_all(d, kinds[i], enc, len, 0, &o), DECODE_ECORRUPT, "%s",
                     decode_kind_name(kinds[i]));
    }
    /* An empty body is no stream: nothing to decode, nothing missing. */
    cr_assert_eq(decode_all(d, DECODE_GZIP, enc, 0, 0, &o), 0);
    free(o.p);
    free(t);
    decoder_free(d);
}

Test(decode, output_cap_stops_a_bomb)
{
    size_t n = 4u << 20;
    char *zeros = calloc(1, n);
    unsigned char *enc = malloc(n);
    size_t len = zcompress(zeros, n, enc, n, 16 + 15);
    cr_assert_lt(len, 10000);
    decoder *d = decoder_new(1u << 20);
    out o = {0};
    cr_assert_eq(decode_all(d, DECODE_GZIP, enc, len, 0, &o), DECODE_ETOOBIG);
    cr_assert_str_eq(decode_strerror(DECODE_ETOOBIG), "decoded body too large");
    free(o.p);
    free(enc);
    free(zeros);
    decoder_free(d);
}

Test(decode, content_encoding_names)
{
    cr_assert_eq(decode_kind_of("gzip", 4), DECODE_GZIP);
    cr_assert_eq(decode_kind_of(" X-GZip ", 8), DECODE_GZIP);
    cr_assert_eq(decode_kind_of("br", 2), DECODE_BR);
    cr_assert_eq(decode_kind_of("zstd", 4), DECODE_ZSTD);
    cr_assert_eq(decode_kind_of("deflate", 7), DECODE_DEFLATE);
    cr_assert_eq(decode_kind_of("identity", 8), DECODE_IDENTITY);
    cr_assert_eq(decode_kind_of("", 0), DECODE_IDENTITY);
    cr_assert_eq(decode_kind_of("gzip, br", 8), DECODE_UNKNOWN);
    cr_assert_eq(decode_kind_of("compress", 8), DECODE_UNKNOWN);
    cr_assert_str_eq(decode_kind_name(DECODE_ZSTD), "zstd");
}
