/* Tests for proto/ws: the RFC 6455 accept key, SHA-1, handshake bytes and
 * checks, masking, and a table of frame streams each fed whole, split in
 * two at every byte and one byte at a time, which must give the same
 * messages, control frames and result. */
#include "proto/ws.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(ws, accept_key_rfc6455_example)
{
    char out[WS_ACCEPT_LEN + 1];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Test(ws, sha1_known_vectors)
{
    uint8_t d[20];
    char hex[41];
    ws_sha1("abc", 3, d);
    for (int i = 0; i < 20; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
    cr_assert_str_eq(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ws_sha1(m, strlen(m), d);
    for (int i = 0; i < 20; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
    cr_assert_str_eq(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

Test(ws, make_key_is_base64_of_16_bytes)
{
    uint64_t rng = 12345;
    char k1[WS_KEY_LEN + 1], k2[WS_KEY_LEN + 1];
    ws_make_key(&rng, k1);
    ws_make_key(&rng, k2);
    cr_assert_eq(strlen(k1), 24);
    cr_assert_eq(k1[22], '=');
    cr_assert_str_neq(k1, k2);
}

Test(ws, handshake_request_and_verify)
{
    buf b = {0};
    err e;
    http1_header h[] = {{"X-Test", "1"}};
    cr_assert_eq(ws_handshake_request(&b, "127.0.0.1:8080", "/ws?x=1", "dGhlIHNhbXBsZSBub25jZQ==",
                                      h, 1, &e), 0);
    buf_append(&b, "", 1);
    cr_assert(strstr(b.data, "GET /ws?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
    cr_assert(strstr(b.data, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    cr_assert(strstr(b.data, "X-Test: 1\r\n\r\n"));
    /* The server side accepts what the client wrote. */
    char acc[WS_ACCEPT_LEN + 1];
    cr_assert_eq(ws_server_check(b.data, b.len - 1, acc, &e), 0, "%s", e.msg);
    cr_assert_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ws_handshake hs = {0};
    ws_handshake_header(&hs, "upgrade", 7, "WebSocket", 9);
    ws_handshake_header(&hs, "Connection", 10, "keep-alive, Upgrade", 19);
    ws_handshake_header(&hs, "Sec-WebSocket-Accept", 20, acc, 28);
    cr_assert_eq(ws_handshake_verify(&hs, 101, "dGhlIHNhbXBsZSBub25jZQ==", &e), 0);
    cr_assert_neq(ws_handshake_verify(&hs, 200, "dGhlIHNhbXBsZSBub25jZQ==", &e), 0);
    cr_assert_neq(ws_handshake_verify(&hs, 101, "AAAAAAAAAAAAAAAAAAAAAA==", &e), 0);
    /* CR/LF in a header value never reaches the wire. */
    http1_header bad[] = {{"X", "a\r\nEvil: 1"}};
    size_t len = b.len;
    cr_assert_neq(ws_handshake_request(&b, "h:1", "/", "k", bad, 1, &e), 0);
    cr_assert_eq(b.len, len);
    buf_free(&b);
}

Test(ws, server_check_rejects_non_upgrades)
{
    char acc[WS_ACCEPT_LEN + 1];
    err e;
    const char *no_key = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n";
    cr_assert_neq(ws_server_check(no_key, strlen(no_key), acc, &e), 0);
    const char *v8 = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    cr_assert_neq(ws_server_check(v8, strlen(v8), acc, &e), 0);
}

Test(ws, mask_roundtrip_at_any_offset)
{
    const uint8_t m[4] = {0x37, 0xfa, 0x21, 0x3d};
    char a[] = "Hello";
    ws_mask(a, 5, m, 0);
    /* RFC 6455 5.7: a masked "Hello". */
    cr_assert_eq(memcmp(a, "\x7f\x9f\x4d\x51\x58", 5), 0);
    char b[] = "Hello";
    ws_mask(b, 2, m, 0);
    ws_mask(b + 2, 3, m, 2); /* split masking continues the key */
    cr_assert_eq(memcmp(a, b, 5), 0);
    ws_mask(a, 5, m, 0);
    cr_assert_eq(memcmp(a, "Hello", 5), 0);
}

Test(ws, frame_header_lengths)
{
    uint8_t h[WS_MAX_HEADER];
    cr_assert_eq(ws_frame_header(h, true, WS_OP_TEXT, 125, NULL), 2);
    cr_assert_eq(ws_frame_header(h, true, WS_OP_TEXT, 126, NULL), 4);
    cr_assert_eq(h[1], 126);
    cr_assert_eq(ws_frame_header(h, true, WS_OP_TEXT, 65536, NULL), 10);
    cr_assert_eq(h[1], 127);
    uint8_t m[4] = {1, 2, 3, 4};
    cr_assert_eq(ws_frame_header(h, false, WS_OP_BINARY, 5, m), 6);
    cr_assert_eq(h[0], 0x02);
    cr_assert_eq(h[1], 0x85);
}

/* ---- the parser table ---- */

typedef struct seen {
    char log[4096];
    size_t len;
} seen;

static void on_data(void *ctx, uint8_t op, const char *d, size_t n, bool last)
{
    seen *s = ctx;
    /* Pieces of one message concatenate; the end is marked. Long payloads
     * are logged by their length only. */
    if (n > 200)
        s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "[%zu]", n);
    else
        s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "%.*s", (int)n, d);
    if (last)
        s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "%s",
                                   op == WS_OP_TEXT ? "|T " : "|B ");
    cr_assert_lt(s->len, sizeof s->log);
}

static void on_control(void *ctx, uint8_t op, uint16_t code, const char *p, size_t n)
{
    seen *s = ctx;
    s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "<%x:%u:%.*s> ", op,
                               code, (int)n, p);
}

typedef struct frame_case {
    const char *name;
    const char *raw;
    size_t len;
    bool server;
    int result;
    const char *log;
} frame_case;

#define R(s) s, sizeof(s) - 1

static const frame_case cases[] = {
    {"unmasked text", R("\x81\x05" "Hello"), false, WS_NEED_MORE, "Hello|T "},
    {"masked text (RFC)", R("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"), true, WS_NEED_MORE,
     "Hello|T "},
    {"fragmented", R("\x01\x03" "Hel\x80\x02" "lo"), false, WS_NEED_MORE, "Hello|T "},
    {"ping between fragments", R("\x01\x03" "Hel\x89\x02" "hi\x80\x02" "lo"), false, WS_NEED_MORE,
     "Hel<9:0:hi> lo|T "},
    {"empty message", R("\x82\x00"), false, WS_NEED_MORE, "|B "},
    {"empty last fragment", R("\x01\x02" "ab\x80\x00"), false, WS_NEED_MORE, "ab|T "},
    {"close with code", R("\x88\x04\x03\xe8ok"), false, WS_NEED_MORE, "<8:1000:ok> "},
    {"close without code", R("\x88\x00"), false, WS_NEED_MORE, "<8:1005:> "},
    {"16-bit length", R("\x81\x7e\x00\x7e"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
     false, WS_NEED_MORE,
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa|T "},
    {"two messages", R("\x81\x01" "a\x82\x01" "b"), false, WS_NEED_MORE, "a|T b|B "},
    {"reserved bit", R("\xc1\x01" "x"), false, WS_EPROTO, ""},
    {"unknown opcode", R("\x83\x00"), false, WS_EPROTO, ""},
    {"server frame masked", R("\x81\x81\x00\x00\x00\x00" "x"), false, WS_EPROTO, ""},
    {"client frame unmasked", R("\x81\x01" "x"), true, WS_EPROTO, ""},
    {"fragmented control", R("\x09\x00"), false, WS_EPROTO, ""},
    {"control too long", R("\x89\x7e\x00\x80"), false, WS_EPROTO, ""},
    {"continuation first", R("\x80\x01" "x"), false, WS_EPROTO, ""},
    {"text inside fragments", R("\x01\x01" "a\x81\x01" "b"), false, WS_EPROTO, "a"},
    {"close code 1005 on wire", R("\x88\x02\x03\xed"), false, WS_EPROTO, ""},
    {"close 1-byte payload", R("\x88\x01\x03"), false, WS_EPROTO, ""},
    {"non-minimal length", R("\x81\x7e\x00\x05" "hello"), false, WS_EPROTO, ""},
};

static int run(const frame_case *c, const size_t *cuts, size_t ncuts, seen *s)
{
    ws_callbacks cb = {.on_data = on_data, .on_control = on_control, .ctx = s};
    ws_parser p;
    ws_parser_init(&p, &cb, c->server, 1 << 20, 1 << 20);
    memset(s, 0, sizeof *s);
    char *copy = malloc(c->len + 1);
    memcpy(copy, c->raw, c->len);
    size_t at = 0;
    int rc = WS_NEED_MORE;
    for (size_t i = 0; i <= ncuts && rc == WS_NEED_MORE; i++) {
        size_t end = i < ncuts ? cuts[i] : c->len;
        rc = ws_parse(&p, copy + at, end - at);
        at = end;
    }
    free(copy);
    return rc;
}

Test(ws, frame_table_whole_split_and_bytewise)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const frame_case *c = &cases[k];
        seen s;
        int rc = run(c, NULL, 0, &s);
        cr_assert_eq(rc, c->result, "%s: whole: %d", c->name, rc);
        if (rc == WS_NEED_MORE)
            cr_assert_str_eq(s.log, c->log, "%s: whole", c->name);
        for (size_t cut = 0; cut <= c->len; cut++) {
            size_t cuts[1] = {cut};
            int r2 = run(c, cuts, 1, &s);
            cr_assert_eq(r2, c->result, "%s: split at %zu", c->name, cut);
            if (r2 == WS_NEED_MORE)
                cr_assert_str_eq(s.log, c->log, "%s: split at %zu", c->name, cut);
        }
        size_t *bytes = malloc(c->len * sizeof *bytes + 1);
        for (size_t i = 0; i < c->len; i++)
            bytes[i] = i;
        int r3 = run(c, bytes, c->len, &s);
        free(bytes);
        cr_assert_eq(r3, c->result, "%s: bytewise", c->name);
    }
}

Test(ws, encoder_output_parses_back)
{
    buf b = {0};
    uint8_t m[4] = {9, 8, 7, 6};
    char big[70000];
    memset(big, 'z', sizeof big);
    cr_assert_eq(ws_frame_append(&b, true, WS_OP_TEXT, "hi", 2, m), 0);
    cr_assert_eq(ws_frame_append(&b, false, WS_OP_BINARY, big, sizeof big, m), 0);
    cr_assert_eq(ws_frame_append(&b, true, WS_OP_CONT, "!", 1, m), 0);
    cr_assert_eq(ws_close_append(&b, 1001, "bye", m), 0);
    seen s = {0};
    ws_callbacks cb = {.on_data = on_data, .on_control = on_control, .ctx = &s};
    ws_parser p;
    ws_parser_init(&p, &cb, true, 1 << 20, 1 << 20);
    cr_assert_eq(ws_parse(&p, b.data, b.len), WS_NEED_MORE);
    cr_assert_eq(p.messages, 2);
    cr_assert(strstr(s.log, "hi|T "));
    cr_assert(strstr(s.log, "<8:1001:bye>"));
    buf_free(&b);
}

Test(ws, limits)
{
    seen s = {0};
    ws_callbacks cb = {.on_data = on_data, .on_control = on_control, .ctx = &s};
    ws_parser p;
    ws_parser_init(&p, &cb, false, 4, 6);
    char f[] = "\x81\x05" "hello";
    cr_assert_eq(ws_parse(&p, f, sizeof f - 1), WS_ETOOBIG);
    ws_parser_init(&p, &cb, false, 4, 6);
    char g[] = "\x01\x04" "abcd" "\x80\x04" "efgh";
    cr_assert_eq(ws_parse(&p, g, sizeof g - 1), WS_ETOOBIG);
}
