/* ws: WebSocket (RFC 6455) for the scripted client (script/lua_api) and the
 * built-in server (server/ws_routes). No I/O here: handshake bytes and key
 * checks, a frame encoder (client frames masked), and an incremental,
 * allocation-free frame parser fed with any split of the input; payloads are
 * unmasked in place and handed out without copying. Fragmented messages are
 * reported piece by piece; control frames (<= 125 bytes) are kept whole. */
#ifndef VOLLEY_WS_H
#define VOLLEY_WS_H

#include "core/buf.h"
#include "core/err.h"
#include "proto/http1.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close codes used by volley (RFC 6455 7.4.1). */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,   /* never on the wire: a close without a code */
    WS_CLOSE_ABNORMAL = 1006,    /* never on the wire: the TCP connection dropped */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_KEY_LEN 24      /* base64 of 16 random bytes */
#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 */
#define WS_MAX_HEADER 14   /* 2 + 8 (length) + 4 (mask) */
#define WS_MAX_CONTROL 125

/* ---- handshake ---- */

/* A fresh Sec-WebSocket-Key from *rng (xorshift state, never 0). */
void ws_make_key(uint64_t *rng, char out[WS_KEY_LEN + 1]);
/* Sec-WebSocket-Accept for key: base64(SHA-1(key + GUID)). */
void ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);
/* SHA-1 of data (exposed for the unit tests). */
void ws_sha1(const void *data, size_t len, uint8_t out[20]);

/* Appends the client's upgrade request: GET path, Host, Upgrade, Connection,
 * Sec-WebSocket-Key/Version and the user's headers (validated like HTTP
 * requests: no CR/LF or control bytes). On error out is unchanged. */
int ws_handshake_request(buf *out, const char *hostport, const char *path, const char *key,
                         const http1_header *headers, size_t nheaders, err *e);

/* What the client saw of the server's answer, filled from http1's
 * on_header callback through ws_handshake_header. */
typedef struct ws_handshake {
    bool upgrade_ws;       /* Upgrade: websocket */
    bool connection_up;    /* Connection: ... upgrade ... */
    bool have_accept;
    char accept[WS_ACCEPT_LEN + 1];
} ws_handshake;

void ws_handshake_header(ws_handshake *h, const char *name, size_t nlen, const char *value,
                         size_t vlen);
/* 0 if status is 101 with the right Upgrade, Connection and accept key for
 * key; VOLLEY_EPARSE with a message saying what was wrong otherwise. */
int ws_handshake_verify(const ws_handshake *h, int status, const char *key, err *e);

/* Server side: checks an upgrade request head (request line + headers, as
 * received) and computes its accept key. VOLLEY_EPARSE with a short reason
 * (for a 400) when it is not a version-13 WebSocket upgrade. */
int ws_server_check(const char *head, size_t head_len, char accept[WS_ACCEPT_LEN + 1], err *e);
/* Appends "HTTP/1.1 101 Switching Protocols" with the accept key. */
int ws_server_response(buf *out, const char *accept);

/* ---- frames ---- */

/* XORs data with mask, starting at byte `offset` of the masked payload. */
void ws_mask(char *data, size_t len, const uint8_t mask[4], uint64_t offset);

/* Writes a frame header into out (WS_MAX_HEADER bytes); mask NULL: unmasked
 * (server frames). Returns its length. */
size_t ws_frame_header(uint8_t *out, bool fin, uint8_t opcode, uint64_t len,
                       const uint8_t *mask);
/* Appends a whole frame, masking the payload when mask is given. Returns 0
 * or VOLLEY_ENOMEM. */
int ws_frame_append(buf *out, bool fin, uint8_t opcode, const char *payload, size_t len,
                    const uint8_t *mask);
/* Appends a close frame with code (0: none) and a reason (truncated to fit). */
int ws_close_append(buf *out, uint16_t code, const char *reason, const uint8_t *mask);

/* ---- parser ---- */

enum {
    WS_NEED_MORE = 0,   /* all input consumed */
    WS_EPROTO = -1,     /* protocol violation (close with 1002) */
    WS_ETOOBIG = -2,    /* frame or message over the limits (close with 1009) */
};

typedef struct ws_callbacks {
    /* A piece of a data message (opcode TEXT or BINARY of the message),
     * unmasked, pointing into the input. last: the message is complete. */
    void (*on_data)(void *ctx, uint8_t opcode, const char *data, size_t len, bool last);
    /* A whole control frame (CLOSE, PING, PONG); for CLOSE, code is the
     * status (WS_CLOSE_NO_STATUS when the frame had none) and the payload is
     * the reason. For PING/PONG code is 0. */
    void (*on_control)(void *ctx, uint8_t opcode, uint16_t code, const char *payload, size_t len);
    void *ctx;
} ws_callbacks;

typedef struct ws_parser {
    /* settings (ws_parser_init) */
    const ws_callbacks *cb;
    bool server;           /* frames must be masked (client frames must not) */
    uint64_t max_frame;    /* payload bytes of one frame */
    uint64_t max_message;  /* bytes of a reassembled message */
    /* progress */
    uint64_t frames, messages;
    uint64_t err_offset;   /* input offset of the bad byte (for messages) */
    const char *error;     /* short reason on an error */
    /* private */
    int state;
    uint8_t hdr[WS_MAX_HEADER];
    uint8_t hdr_len, hdr_need;
    uint8_t opcode, msg_opcode;
    bool fin, masked, in_message;
    uint8_t mask[4];
    uint64_t remaining, payload_off, msg_len, offset;
    uint8_t ctl[WS_MAX_CONTROL];
    uint8_t ctl_len;
} ws_parser;

void ws_parser_init(ws_parser *p, const ws_callbacks *cb, bool server, uint64_t max_frame,
                    uint64_t max_message);
/* Parses len bytes (unmasking them in place). Returns WS_NEED_MORE once all
 * are consumed, or an error (sticky; p->error says why). */
int ws_parse(ws_parser *p, char *data, size_t len);

/* True for codes a peer may send in a close frame. */
bool ws_close_code_valid(uint16_t code);

#endif
