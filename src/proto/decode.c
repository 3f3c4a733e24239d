/* decode: Content-Encoding decoders (see decode.h). One scratch buffer of
 * decoded output per decoder; each library's stream state is kept across
 * responses and reset (brotli 1.0 has no reset: its state is made again).
 * Neighbours: the exchange feeds response bodies here with --compressed. */
#include "proto/decode.h"

#include <brotli/decode.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define SCRATCH 65536u

struct decoder {
    decode_kind kind;
    uint64_t max_out, out;
    bool z_live, ended; /* zlib stream initialised; the encoded stream ended */
    z_stream z;
    BrotliDecoderState *br;
    ZSTD_DStream *zs;
    bool zs_mid;        /* inside a zstd frame */
    bool fed;           /* any encoded byte of this response */
    bool deflate_raw_checked;
    char scratch[SCRATCH];
};

decode_kind decode_kind_of(const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    static const struct {
        const char *name;
        decode_kind k;
    } names[] = {{"identity", DECODE_IDENTITY}, {"gzip", DECODE_GZIP}, {"x-gzip", DECODE_GZIP},
                 {"deflate", DECODE_DEFLATE},   {"br", DECODE_BR},     {"zstd", DECODE_ZSTD}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && !strncasecmp(v, names[i].name, n))
            return names[i].k;
    return n ? DECODE_UNKNOWN : DECODE_IDENTITY;
}

const char *decode_kind_name(decode_kind k)
{
    static const char *const n[] = {"identity", "gzip", "deflate", "br", "zstd", "unknown"};
    return k <= DECODE_UNKNOWN ? n[k] : "unknown";
}

const char *decode_strerror(int rc)
{
    switch (rc) {
    case DECODE_ECORRUPT: return "corrupt compressed body";
    case DECODE_ETRUNCATED: return "compressed body ends early";
    case DECODE_ENOMEM: return "out of memory decoding the body";
    case DECODE_ETOOBIG: return "decoded body too large";
    default: return "ok";
    }
}

decoder *decoder_new(uint64_t max_out)
{
    decoder *d = calloc(1, sizeof *d);
    if (d)
        d->max_out = max_out ? max_out : (1ull << 30);
    return d;
}

void decoder_free(decoder *d)
{
    if (!d)
        return;
    if (d->z_live)
        inflateEnd(&d->z);
    if (d->br)
        BrotliDecoderDestroyInstance(d->br);
    if (d->zs)
        ZSTD_freeDStream(d->zs);
    free(d);
}

int decoder_reset(decoder *d, decode_kind k)
{
    d->kind = k;
    d->out = 0;
    d->ended = false;
    d->zs_mid = false;
    d->fed = false;
    d->deflate_raw_checked = false;
    if (k == DECODE_GZIP || k == DECODE_DEFLATE) {
        if (d->z_live)
            inflateEnd(&d->z);
        memset(&d->z, 0, sizeof d->z);
        /* gzip; deflate starts as zlib-wrapped and turns raw if the first
         * bytes are no zlib header (servers send both). */
        d->z_live = inflateInit2(&d->z, k == DECODE_GZIP ? 16 + MAX_WBITS : MAX_WBITS) == Z_OK;
        return d->z_live ? 0 : DECODE_ENOMEM;
    }
    if (k == DECODE_BR) {
        if (d->br)
            BrotliDecoderDestroyInstance(d->br);
        d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
        return d->br ? 0 : DECODE_ENOMEM;
    }
    if (k == DECODE_ZSTD) {
        if (!d->zs && !(d->zs = ZSTD_createDStream()))
            return DECODE_ENOMEM;
        ZSTD_DCtx_reset(d->zs, ZSTD_reset_session_only);
    }
    return 0;
}

static int emit(decoder *d, size_t n, decode_sink sink, void *ctx)
{
    d->out += n;
    if (d->out > d->max_out)
        return DECODE_ETOOBIG;
    if (sink && n)
        sink(ctx, d->scratch, n);
    return 0;
}

static bool zlib_header(const unsigned char *p, size_t n)
{
    return n < 2 || ((p[0] & 0x0f) == 8 && ((p[0] << 8) | p[1]) % 31 == 0);
}

static int feed_zlib(decoder *d, const void *in, size_t len, decode_sink sink, void *ctx)
{
    if (d->kind == DECODE_DEFLATE && !d->deflate_raw_checked && len) {
        d->deflate_raw_checked = true;
        if (!zlib_header(in, len) && (inflateEnd(&d->z), inflateInit2(&d->z, -MAX_WBITS) != Z_OK)) {
            d->z_live = false;
            return DECODE_ENOMEM;
        }
    }
    d->z.next_in = (Bytef *)in;
    d->z.avail_in = (uInt)len;
    while (d->z.avail_in) {
        if (d->ended) {
            /* Another gzip member after the first (RFC 1952 allows them). */
            if (d->kind != DECODE_GZIP || inflateReset(&d->z) != Z_OK)
                return DECODE_ECORRUPT;
            d->ended = false;
        }
        d->z.next_out = (Bytef *)d->scratch;
        d->z.avail_out = SCRATCH;
        int zr = inflate(&d->z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            return zr == Z_MEM_ERROR ? DECODE_ENOMEM : DECODE_ECORRUPT;
        int rc = emit(d, SCRATCH - d->z.avail_out, sink, ctx);
        if (rc)
            return rc;
        if (zr == Z_STREAM_END)
            d->ended = true;
        else if (zr == Z_BUF_ERROR && d->z.avail_out == SCRATCH)
            break; /* needs more input */
    }
    return 0;
}

static int feed_br(decoder *d, const void *in, size_t len, decode_sink sink, void *ctx)
{
    const uint8_t *next_in = in;
    size_t avail_in = len;
    for (;;) {
        uint8_t *next_out = (uint8_t *)d->scratch;
        size_t avail_out = SCRATCH;
        BrotliDecoderResult r =
            BrotliDecoderDecompressStream(d->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
        int rc = emit(d, SCRATCH - avail_out, sink, ctx);
        if (rc)
            return rc;
        if (r == BROTLI_DECODER_RESULT_ERROR)
            return DECODE_ECORRUPT;
        if (r == BROTLI_DECODER_RESULT_SUCCESS) {
            d->ended = true;
            return avail_in ? DECODE_ECORRUPT : 0;
        }
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
            return 0;
    }
}

static int feed_zstd(decoder *d, const void *in, size_t len, decode_sink sink, void *ctx)
{
    ZSTD_inBuffer ib = {in, len, 0};
    while (ib.pos < ib.size) {
        ZSTD_outBuffer ob = {d->scratch, SCRATCH, 0};
        size_t r = ZSTD_decompressStream(d->zs, &ob, &ib);
        if (ZSTD_isError(r))
            return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? DECODE_ENOMEM
                                                                        : DECODE_ECORRUPT;
        int rc = emit(d, ob.pos, sink, ctx);
        if (rc)
            return rc;
        d->zs_mid = r != 0; /* 0: a frame ended exactly here */
        d->ended = !d->zs_mid;
        if (!ob.pos && ib.pos == ib.size)
            break;
    }
    return 0;
}

int decoder_feed(decoder *d, const void *in, size_t len, decode_sink sink, void *ctx)
{
    d->fed |= len > 0;
    switch (d->kind) {
    case DECODE_GZIP:
    case DECODE_DEFLATE:
        return feed_zlib(d, in, len, sink, ctx);
    case DECODE_BR:
        return feed_br(d, in, len, sink, ctx);
    case DECODE_ZSTD:
        return feed_zstd(d, in, len, sink, ctx);
    default:
        d->out += len;
        if (d->out > d->max_out)
            return DECODE_ETOOBIG;
        if (sink && len)
            sink(ctx, in, len);
        return 0;
    }
}

int decoder_finish(decoder *d)
{
    /* An empty body (HEAD, 204) carries no compressed stream at all. */
    if (d->kind == DECODE_IDENTITY || d->kind == DECODE_UNKNOWN || !d->fed)
        return 0;
    return d->ended ? 0 : DECODE_ETRUNCATED;
}

uint64_t decoder_out_bytes(const decoder *d)
{
    return d->out;
}
