/* ws: RFC 6455 handshake, frame encoder and incremental frame parser (see
 * ws.h). SHA-1 and base64 are written here (a few dozen lines) so the
 * module, and its fuzz target, need nothing but libc. Used by the Lua VU
 * client (script/lua_api) and the server's echo/session routes. */
#include "proto/ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- SHA-1 (FIPS 180-4), only for the 60-byte accept input ---- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void ws_sha1(const void *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    const uint8_t *p = data;
    size_t n = len;
    while (n >= 64) {
        sha1_block(h, p);
        p += 64, n -= 64;
    }
    uint8_t tail[128] = {0};
    memcpy(tail, p, n);
    tail[n] = 0x80;
    size_t tl = n + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tl == 128)
        sha1_block(h, tail + 64);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

static void b64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- handshake ---- */

void ws_make_key(uint64_t *rng, char out[WS_KEY_LEN + 1])
{
    uint8_t raw[16];
    for (int i = 0; i < 16; i++) {
        uint64_t x = *rng;
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        *rng = x;
        raw[i] = (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
    }
    b64(raw, sizeof raw, out);
}

void ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
    char in[256];
    if (key_len > sizeof in - sizeof WS_GUID)
        key_len = sizeof in - sizeof WS_GUID;
    memcpy(in, key, key_len);
    memcpy(in + key_len, WS_GUID, sizeof WS_GUID - 1);
    uint8_t d[20];
    ws_sha1(in, key_len + sizeof WS_GUID - 1, d);
    b64(d, sizeof d, out);
}

static bool field_ok(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return false;
    return true;
}

static bool token_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s))
            return false;
    return true;
}

int ws_handshake_request(buf *out, const char *hostport, const char *path, const char *key,
                         const http1_header *headers, size_t nheaders, err *e)
{
    if (!field_ok(hostport) || !*hostport)
        return err_set(e, VOLLEY_EINVAL, "ws: bad host '%s'", hostport);
    for (const char *s = path; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return err_set(e, VOLLEY_EINVAL, "ws: bad path '%s'", path);
    for (size_t i = 0; i < nheaders; i++) {
        if (!token_ok(headers[i].name))
            return err_set(e, VOLLEY_EINVAL, "ws: bad header name '%s'", headers[i].name);
        if (!field_ok(headers[i].value))
            return err_set(e, VOLLEY_EINVAL, "ws: bad value for header '%s'", headers[i].name);
    }
    size_t mark = out->len;
    int rc = buf_printf(out,
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\nUser-Agent: volley/0.1\r\n",
                        *path ? path : "/", hostport, key);
    for (size_t i = 0; !rc && i < nheaders; i++)
        rc = buf_printf(out, "%s: %s\r\n", headers[i].name, headers[i].value);
    if (!rc)
        rc = buf_append(out, "\r\n", 2);
    if (rc) {
        out->len = mark;
        return err_set(e, VOLLEY_ENOMEM, "ws: out of memory");
    }
    return 0;
}

/* True if the comma-separated list v contains tok (any case). */
static bool list_has(const char *v, size_t vlen, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < vlen) {
        while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vlen && v[i] != ',')
            i++;
        size_t end = i;
        while (end > s && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - s == tl && !strncasecmp(v + s, tok, tl))
            return true;
    }
    return false;
}

static bool name_is(const char *n, size_t nl, const char *want)
{
    return nl == strlen(want) && !strncasecmp(n, want, nl);
}

void ws_handshake_header(ws_handshake *h, const char *name, size_t nlen, const char *value,
                         size_t vlen)
{
    if (name_is(name, nlen, "Upgrade"))
        h->upgrade_ws |= list_has(value, vlen, "websocket");
    else if (name_is(name, nlen, "Connection"))
        h->connection_up |= list_has(value, vlen, "upgrade");
    else if (name_is(name, nlen, "Sec-WebSocket-Accept") && vlen == WS_ACCEPT_LEN) {
        memcpy(h->accept, value, vlen);
        h->accept[vlen] = 0;
        h->have_accept = true;
    }
}

int ws_handshake_verify(const ws_handshake *h, int status, const char *key, err *e)
{
    if (status != 101)
        return err_set(e, VOLLEY_EPARSE, "ws: handshake answered %d, not 101", status);
    if (!h->upgrade_ws || !h->connection_up)
        return err_set(e, VOLLEY_EPARSE, "ws: handshake response lacks Upgrade: websocket / "
                                         "Connection: Upgrade");
    char want[WS_ACCEPT_LEN + 1];
    ws_accept_key(key, strlen(key), want);
    if (!h->have_accept || strcmp(want, h->accept))
        return err_set(e, VOLLEY_EPARSE, "ws: wrong Sec-WebSocket-Accept");
    return 0;
}

/* Finds header `name` in a raw head; returns its trimmed value or NULL. */
static const char *head_value(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', len), *end = head + len;
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            const char *v = line + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol < end ? eol : NULL;
    }
    return NULL;
}

int ws_server_check(const char *head, size_t head_len, char accept[WS_ACCEPT_LEN + 1], err *e)
{
    size_t n;
    const char *v;
    if (head_len < 4 || memcmp(head, "GET ", 4))
        return err_set(e, VOLLEY_EPARSE, "websocket upgrade must be a GET");
    if (!(v = head_value(head, head_len, "Upgrade", &n)) || !list_has(v, n, "websocket"))
        return err_set(e, VOLLEY_EPARSE, "missing Upgrade: websocket");
    if (!(v = head_value(head, head_len, "Connection", &n)) || !list_has(v, n, "upgrade"))
        return err_set(e, VOLLEY_EPARSE, "missing Connection: Upgrade");
    if (!(v = head_value(head, head_len, "Sec-WebSocket-Version", &n)) || n != 2 ||
        memcmp(v, "13", 2))
        return err_set(e, VOLLEY_EPARSE, "Sec-WebSocket-Version must be 13");
    if (!(v = head_value(head, head_len, "Sec-WebSocket-Key", &n)) || n != WS_KEY_LEN)
        return err_set(e, VOLLEY_EPARSE, "missing or bad Sec-WebSocket-Key");
    ws_accept_key(v, n, accept);
    return 0;
}

int ws_server_response(buf *out, const char *accept)
{
    return buf_printf(out,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      accept);
}

/* ---- frames ---- */

void ws_mask(char *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= (char)mask[(offset + i) & 3];
}

size_t ws_frame_header(uint8_t *out, bool fin, uint8_t opcode, uint64_t len,
                       const uint8_t *mask)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = m | (uint8_t)len;
    } else if (len <= 0xffff) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

int ws_frame_append(buf *out, bool fin, uint8_t opcode, const char *payload, size_t len,
                    const uint8_t *mask)
{
    uint8_t h[WS_MAX_HEADER];
    size_t hl = ws_frame_header(h, fin, opcode, len, mask);
    if (buf_reserve(out, hl + len))
        return VOLLEY_ENOMEM;
    memcpy(buf_wpos(out), h, hl);
    out->len += hl;
    if (len) {
        memcpy(buf_wpos(out), payload, len);
        if (mask)
            ws_mask(buf_wpos(out), len, mask, 0);
        out->len += len;
    }
    return 0;
}

int ws_close_append(buf *out, uint16_t code, const char *reason, const uint8_t *mask)
{
    char p[WS_MAX_CONTROL];
    size_t n = 0;
    if (code) {
        p[0] = (char)(code >> 8);
        p[1] = (char)code;
        n = 2;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof p - 2)
            rl = sizeof p - 2;
        if (rl)
            memcpy(p + 2, reason, rl);
        n += rl;
    }
    return ws_frame_append(out, true, WS_OP_CLOSE, p, n, mask);
}

bool ws_close_code_valid(uint16_t c)
{
    if (c >= 3000 && c <= 4999)
        return true;
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014);
}

/* ---- parser ---- */

enum { P_HEAD, P_PAYLOAD, P_ERROR };

void ws_parser_init(ws_parser *p, const ws_callbacks *cb, bool server, uint64_t max_frame,
                    uint64_t max_message)
{
    memset(p, 0, sizeof *p);
    p->cb = cb;
    p->server = server;
    p->max_frame = max_frame ? max_frame : (16u << 20);
    p->max_message = max_message ? max_message : (64u << 20);
    p->hdr_need = 2;
}

static int fail(ws_parser *p, int code, const char *why)
{
    p->state = P_ERROR;
    p->error = why;
    return code;
}

/* The header is complete in p->hdr: validate it and start the payload. */
static int frame_begin(ws_parser *p)
{
    const uint8_t *h = p->hdr;
    p->fin = h[0] & 0x80;
    p->opcode = h[0] & 0x0f;
    p->masked = h[1] & 0x80;
    uint8_t l7 = h[1] & 0x7f;
    size_t at = 2;
    uint64_t len = l7;
    if (l7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        at = 4;
        if (len < 126)
            return fail(p, WS_EPROTO, "non-minimal frame length");
    } else if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
        at = 10;
        if (len >> 63)
            return fail(p, WS_EPROTO, "frame length with the top bit set");
        if (len <= 0xffff)
            return fail(p, WS_EPROTO, "non-minimal frame length");
    }
    if (p->masked)
        memcpy(p->mask, h + at, 4);
    bool control = p->opcode & 0x8;
    if (control) {
        if (!p->fin)
            return fail(p, WS_EPROTO, "fragmented control frame");
        if (len > WS_MAX_CONTROL)
            return fail(p, WS_EPROTO, "control frame over 125 bytes");
        p->ctl_len = 0;
    } else if (p->opcode == WS_OP_CONT) {
        if (!p->in_message)
            return fail(p, WS_EPROTO, "continuation frame without a message");
    } else {
        if (p->in_message)
            return fail(p, WS_EPROTO, "new message inside a fragmented one");
        p->in_message = true;
        p->msg_opcode = p->opcode;
        p->msg_len = 0;
    }
    if (!control && len > p->max_frame)
        return fail(p, WS_ETOOBIG, "frame too big");
    if (!control && p->msg_len + len > p->max_message)
        return fail(p, WS_ETOOBIG, "message too big");
    p->remaining = len;
    p->payload_off = 0;
    p->frames++;
    p->state = P_PAYLOAD;
    return 0;
}

static int control_done(ws_parser *p)
{
    uint16_t code = 0;
    const char *pl = (const char *)p->ctl;
    size_t n = p->ctl_len;
    if (p->opcode == WS_OP_CLOSE) {
        if (n == 1)
            return fail(p, WS_EPROTO, "close frame with a 1-byte payload");
        code = WS_CLOSE_NO_STATUS;
        if (n >= 2) {
            code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
            if (!ws_close_code_valid(code))
                return fail(p, WS_EPROTO, "invalid close code");
            pl += 2, n -= 2;
        }
    }
    if (p->cb && p->cb->on_control)
        p->cb->on_control(p->cb->ctx, p->opcode, code, pl, n);
    return 0;
}

static int frame_end(ws_parser *p)
{
    p->state = P_HEAD;
    p->hdr_len = 0;
    p->hdr_need = 2;
    if (p->opcode & 0x8)
        return control_done(p);
    if (p->fin) {
        p->in_message = false;
        p->messages++;
        /* A message whose last frame is empty still has to be reported. */
        if (p->remaining == 0 && p->payload_off == 0 && p->cb && p->cb->on_data)
            p->cb->on_data(p->cb->ctx, p->msg_opcode, "", 0, true);
    }
    return 0;
}

static size_t need_of(const uint8_t *h)
{
    size_t n = 2;
    uint8_t l7 = h[1] & 0x7f;
    if (l7 == 126)
        n += 2;
    else if (l7 == 127)
        n += 8;
    if (h[1] & 0x80)
        n += 4;
    return n;
}

int ws_parse(ws_parser *p, char *data, size_t len)
{
    size_t i = 0;
    while (i < len || (p->state == P_PAYLOAD && p->remaining == 0)) {
        if (p->state == P_ERROR)
            return fail(p, WS_EPROTO, p->error);
        if (p->state == P_HEAD) {
            uint8_t b = (uint8_t)data[i];
            if (p->hdr_len == 0) {
                if (b & 0x70) {
                    p->err_offset = p->offset + i;
                    return fail(p, WS_EPROTO, "reserved bits set");
                }
                uint8_t op = b & 0x0f;
                if ((op > 2 && op < 8) || op > 10) {
                    p->err_offset = p->offset + i;
                    return fail(p, WS_EPROTO, "unknown opcode");
                }
            } else if (p->hdr_len == 1) {
                if (!!(b & 0x80) != p->server) {
                    p->err_offset = p->offset + i;
                    return fail(p, WS_EPROTO, p->server ? "client frame not masked"
                                                        : "server frame masked");
                }
            }
            p->hdr[p->hdr_len++] = b;
            i++;
            if (p->hdr_len == 2)
                p->hdr_need = (uint8_t)need_of(p->hdr);
            if (p->hdr_len == p->hdr_need) {
                int rc = frame_begin(p);
                if (rc) {
                    p->err_offset = p->offset + i - 1;
                    return rc;
                }
            }
            continue;
        }
        /* P_PAYLOAD */
        size_t take = len - i;
        if (take > p->remaining)
            take = (size_t)p->remaining;
        char *d = data + i;
        if (p->masked)
            ws_mask(d, take, p->mask, p->payload_off);
        bool last = take == p->remaining;
        if (p->opcode & 0x8) {
            memcpy(p->ctl + p->ctl_len, d, take);
            p->ctl_len = (uint8_t)(p->ctl_len + take);
        } else if (take) {
            p->msg_len += take;
            if (p->cb && p->cb->on_data)
                p->cb->on_data(p->cb->ctx, p->msg_opcode, d, take, last && p->fin);
        }
        p->payload_off += take;
        p->remaining -= take;
        i += take;
        if (p->remaining == 0) {
            int rc = frame_end(p);
            if (rc) {
                p->err_offset = p->offset + i;
                return rc;
            }
        }
    }
    p->offset += len;
    return p->state == P_ERROR ? WS_EPROTO : WS_NEED_MORE;
}
