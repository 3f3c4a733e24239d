/* Fuzz target for proto/ws: a frame stream parsed whole and split at a
 * point taken from the input must give the same result and the same
 * delivered bytes; the server-side handshake check must never crash.
 * Build needs FUZZ_SRC_ws := src/proto/ws.c src/proto/http1.c in the Makefile. */
#include "proto/ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sum {
    uint64_t bytes, msgs, ctl;
    uint32_t h;
} sum;

static void on_data(void *ctx, uint8_t op, const char *d, size_t n, bool last)
{
    sum *s = ctx;
    s->bytes += n;
    for (size_t i = 0; i < n; i++)
        s->h = s->h * 31 + (uint8_t)d[i];
    if (last) { /* pieces may come split differently; messages may not */
        s->msgs++;
        s->h += op;
    }
}

static void on_control(void *ctx, uint8_t op, uint16_t code, const char *p, size_t n)
{
    sum *s = ctx;
    s->ctl++;
    s->h = s->h * 17 + op + code;
    for (size_t i = 0; i < n; i++)
        s->h = s->h * 31 + (uint8_t)p[i];
}

static int parse(const uint8_t *data, size_t size, size_t cut, bool server, sum *s)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    ws_callbacks cb = {.on_data = on_data, .on_control = on_control, .ctx = s};
    ws_parser p;
    ws_parser_init(&p, &cb, server, 1 << 16, 1 << 18);
    int rc = ws_parse(&p, copy, cut);
    if (rc == WS_NEED_MORE)
        rc = ws_parse(&p, copy + cut, size - cut);
    free(copy);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool server = data[0] & 1;
    size_t cut = size > 1 ? data[1] % size : 0;
    sum a = {0}, b = {0};
    int r1 = parse(data, size, size, server, &a);
    int r2 = parse(data, size, cut, server, &b);
    if (r1 != r2 || (r1 == WS_NEED_MORE && (a.bytes != b.bytes || a.msgs != b.msgs ||
                                            a.ctl != b.ctl || a.h != b.h)))
        abort();
    char acc[WS_ACCEPT_LEN + 1];
    ws_server_check((const char *)data, size, acc, NULL);
    return 0;
}
