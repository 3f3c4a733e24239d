/* lua_ws: WebSocket for scripts (ws.open / ws.connect in the prelude).
 * The handshake is a request through load/exchange (upgrade), so connect,
 * address fallback, TLS and its timings are the same as for http.*; on 101
 * the socket takes the connection over and speaks proto/ws on it, with
 * per-scenario counters in the script results. A call that waits (open,
 * recv, event, close) yields the VU. */
#include "script/lua_ws.h"

#include "core/clock.h"
#include "proto/ws.h"
#include "script/lua_args.h"
#include "script/lua_http.h"
#include "script/lua_worker.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_DEFAULT_TIMEOUT_NS (60 * NS_PER_S)
#define WS_MAX_QUEUE 65536
#define WS_CLOSE_WAIT_NS (2 * NS_PER_S)
#define WS_RTT_RING 256
#define MAX_HEADERS 64

#define need_vu lua_args_need_vu
#define duration_arg lua_args_duration


enum { WSS_CONNECTING, WSS_HANDSHAKE, WSS_OPEN, WSS_CLOSING, WSS_CLOSED };
enum { WSOP_OPEN = 1, WSOP_RECV, WSOP_EVENT, WSOP_CLOSE };

typedef struct ws_msg {
    struct ws_msg *next;
    size_t len;
    bool binary;
    char data[];
} ws_msg;

typedef struct ws_sock {
    lua_vu *vu;
    lua_worker *w;
    uint32_t scen;
    xch_conn xc;             /* the handshake through the exchange, then the socket */
    xch_req req;
    buf hs_req;              /* the handshake request's bytes */
    bool xc_ready;           /* xc was initialised */
    int state;
    url u;
    char key[WS_KEY_LEN + 1];
    http1_callbacks hcb;
    ws_handshake hs;
    char line[1024];
    ws_parser p;
    ws_callbacks wcb;
    buf sending, queued, msg;
    ws_msg *head, *tail;
    size_t nq;
    uint64_t open_ns;
    uint16_t close_code;
    bool close_sent, timed_out, counted_session, close_when_sent;
    char err[200];
    uint64_t rtt[WS_RTT_RING];
    uint32_t rtt_head, rtt_len;
    /* {rtt = "KEY"}: a reply is the first message that contains KEY. */
    struct {
        char key[64];
        uint64_t t0;
    } keyed[WS_RTT_RING];
    uint32_t nkeyed;
    int self_ref;            /* anchors the socket while ws.open waits */
    metrics_shard *shard;    /* the scenario's: per-second WebSocket counts */
} ws_sock;

static loop *vu_loop(const ws_sock *s) { return lua_worker_loop(s->w); }

static script_scenario *ws_stats(ws_sock *s)
{
    return &lua_worker_results(s->w)->sc[s->scen];
}

static bool ws_ready(ws_sock *s)
{
    lua_vu *vu = s->vu;
    switch (vu->ws_op) {
    case WSOP_OPEN:
        return s->state != WSS_CONNECTING && s->state != WSS_HANDSHAKE;
    case WSOP_RECV:
    case WSOP_EVENT:
        return s->head || s->state == WSS_CLOSED;
    case WSOP_CLOSE:
        return s->state == WSS_CLOSED;
    }
    return true;
}

static void ws_maybe_wake(ws_sock *s)
{
    lua_vu *vu = s->vu;
    if (vu && vu->wait == VW_WS && vu->ws == s && !loop_defer_active(&vu->wake) && ws_ready(s)) {
        loop_timer_stop(vu->lp, &vu->timer);
        lua_vu_wake(vu);
    }
}

static void ws_conn_close(ws_sock *s, bool reset)
{
    if (s->xc_ready)
        xch_close(&s->xc, reset); /* also the count of open connections */
}

static void ws_closed(ws_sock *s, uint16_t code, const char *why)
{
    if (s->state == WSS_CLOSED)
        return;
    bool was_open = s->state >= WSS_OPEN;
    s->state = WSS_CLOSED;
    if (!s->close_code)
        s->close_code = code;
    if (why && !s->err[0])
        snprintf(s->err, sizeof s->err, "%s", why);
    if (was_open && !s->counted_session) {
        s->counted_session = true;
        hist_record(ws_stats(s)->ws_session_ns, loop_update_now(vu_loop(s)) - s->open_ns);
        metrics_record_ws(s->shard, METRICS_WS_CLOSED);
    }
    if (!s->close_when_sent || !s->sending.len)
        ws_conn_close(s, why != NULL);
    ws_maybe_wake(s);
}

static void ws_fail(ws_sock *s, const char *why)
{
    if (s->state == WSS_CLOSED)
        return;
    ws_stats(s)->ws_errors++;
    s->close_when_sent = false;
    ws_closed(s, WS_CLOSE_ABNORMAL, why);
}

static void ws_flush(ws_sock *s)
{
    if (s->sending.len || !s->queued.len || s->xc.c.state != CONN_OPEN)
        return;
    buf t = s->sending;
    s->sending = s->queued;
    s->queued = t;
    buf_reset(&s->queued);
    if (conn_send(&s->xc.c, s->sending.data, s->sending.len) < 0)
        ws_fail(s, "write failed");
}

static void ws_on_sent(conn *c)
{
    ws_sock *s = c->owner;
    buf_reset(&s->sending);
    if (s->queued.len) {
        ws_flush(s);
        return;
    }
    if (s->state == WSS_CLOSED && s->close_when_sent)
        ws_conn_close(s, false);
}

static int ws_queue(ws_sock *s, uint8_t op, const char *p, size_t n)
{
    uint8_t mask[4];
    uint64_t *rng = lua_worker_rng(s->w);
    uint64_t r = *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    memcpy(mask, (const char *)&r + 4, 4);
    if (ws_frame_append(&s->queued, true, op, p, n, mask))
        return VOLLEY_ENOMEM;
    ws_flush(s);
    return 0;
}

/* A round trip: in the scenario's totals and in the current second. */
static void record_rtt(ws_sock *s, script_scenario *st, uint64_t ns)
{
    hist_record(st->ws_rtt_ns, ns);
    metrics_record_ws_rtt(s->shard, ns);
}

static void ws_on_data(void *ctx, uint8_t opcode, const char *data, size_t len, bool last)
{
    ws_sock *s = ctx;
    if (len && buf_append(&s->msg, data, len))
        return;
    if (!last)
        return;
    script_scenario *st = ws_stats(s);
    st->ws_msgs_received++;
    metrics_record_ws(s->shard, METRICS_WS_RECEIVED);
    bool paired = false;
    for (uint32_t i = 0; i < s->nkeyed && !paired; i++) {
        if (!memmem(s->msg.data, s->msg.len, s->keyed[i].key, strlen(s->keyed[i].key)))
            continue;
        record_rtt(s, st, loop_update_now(vu_loop(s)) - s->keyed[i].t0);
        s->keyed[i] = s->keyed[--s->nkeyed];
        paired = true;
    }
    if (!paired && s->rtt_len) {
        uint64_t t0 = s->rtt[s->rtt_head];
        s->rtt_head = (s->rtt_head + 1) % WS_RTT_RING;
        s->rtt_len--;
        record_rtt(s, st, loop_update_now(vu_loop(s)) - t0);
    }
    if (s->nq >= WS_MAX_QUEUE) { /* the script does not read: keep the newest */
        ws_msg *old = s->head;
        s->head = old->next;
        if (!s->head)
            s->tail = NULL;
        free(old);
        s->nq--;
    }
    ws_msg *m = malloc(sizeof *m + s->msg.len + 1);
    if (m) {
        m->next = NULL;
        m->len = s->msg.len;
        m->binary = opcode == WS_OP_BINARY;
        memcpy(m->data, s->msg.data ? s->msg.data : "", m->len);
        if (s->tail)
            s->tail->next = m;
        else
            s->head = m;
        s->tail = m;
        s->nq++;
    }
    buf_reset(&s->msg);
}

static void ws_on_control(void *ctx, uint8_t opcode, uint16_t code, const char *p, size_t n)
{
    ws_sock *s = ctx;
    if (opcode == WS_OP_PING) {
        ws_queue(s, WS_OP_PONG, p, n);
    } else if (opcode == WS_OP_CLOSE) {
        if (!s->close_sent) {
            uint8_t mask[4] = {1, 2, 3, 4};
            ws_close_append(&s->queued, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL, mask);
            s->close_sent = true;
            ws_flush(s);
        }
        s->close_when_sent = true;
        ws_closed(s, code, NULL);
    }
}

static void ws_feed(ws_sock *s, char *data, size_t n)
{
    if (s->state < WSS_OPEN || s->state == WSS_CLOSED || !n)
        return;
    int rc = ws_parse(&s->p, data, n);
    if (rc < 0) {
        char m[160];
        snprintf(m, sizeof m, "websocket protocol error: %s", s->p.error);
        uint8_t mask[4] = {1, 2, 3, 4};
        ws_close_append(&s->queued, rc == WS_ETOOBIG ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL,
                        NULL, mask);
        ws_flush(s);
        ws_fail(s, m);
    }
}

static void ws_on_hdr(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    ws_sock *s = ctx;
    ws_handshake_header(&s->hs, name, nlen, value, vlen);
}

/* The socket's connection, once taken over from the exchange. */
static void ws_on_readable(conn *c)
{
    ws_sock *s = c->owner;
    size_t cap;
    char *rbuf = lua_worker_rbuf(s->w, &cap);
    while (s->xc.c.fd >= 0) {
        ssize_t n = conn_read(c, rbuf, cap);
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            if (s->state == WSS_CLOSING)
                ws_closed(s, s->close_code ? s->close_code : WS_CLOSE_NORMAL, NULL);
            else
                ws_fail(s, n == 0 ? "connection closed" : "connection reset");
            break;
        }
        ws_feed(s, rbuf, (size_t)n);
    }
    ws_maybe_wake(s);
}

static const conn_handlers ws_handlers;

/* The handshake's outcome (load/exchange): a 101 with the right accept key
 * opens the socket on the connection, anything else is the open's error. */
static void ws_on_handshake(xch_req *r, const xch_outcome *o)
{
    ws_sock *s = r->owner;
    if (o->err >= 0) {
        s->timed_out = o->err == ERRK_TIMEOUT || o->err == ERRK_CONNECT_TIMEOUT;
        ws_fail(s, s->timed_out ? "handshake timeout" : o->msg);
        return;
    }
    err e;
    if (ws_handshake_verify(&s->hs, o->status, s->key, &e)) {
        ws_fail(s, e.msg);
        return;
    }
    xch_take_over(&s->xc, &ws_handlers, s);
    s->state = WSS_OPEN;
    s->open_ns = o->done_ns;
    ws_stats(s)->ws_sessions++;
    metrics_record_ws(s->shard, METRICS_WS_OPENED);
    hist_record(ws_stats(s)->ws_connect_ns, o->done_ns - r->intended_ns);
    ws_feed(s, o->rest, o->rest_len);
    ws_maybe_wake(s);
}

static void ws_on_write_error(conn *c, int status)
{
    (void)status;
    ws_fail(c->owner, "connection reset while writing");
}

static const conn_handlers ws_handlers = {
    .on_readable = ws_on_readable,
    .on_sent = ws_on_sent,
    .on_write_error = ws_on_write_error,
};

static void ws_free_queue(ws_sock *s)
{
    while (s->head) {
        ws_msg *m = s->head;
        s->head = m->next;
        free(m);
    }
    s->tail = NULL;
    s->nq = 0;
}

static int ws_gc(lua_State *L)
{
    ws_sock *s = luaL_checkudata(L, 1, "volley.ws");
    if (s->w) {
        if (s->state != WSS_CLOSED && s->state >= WSS_OPEN && !s->counted_session) {
            s->counted_session = true;
            hist_record(ws_stats(s)->ws_session_ns, clock_now_ns() - s->open_ns);
            metrics_record_ws(s->shard, METRICS_WS_CLOSED);
        }
        ws_conn_close(s, true);
        if (s->xc_ready)
            xch_conn_release(&s->xc); /* a kept TLS session */
        s->xc_ready = false;
        if (s->vu && s->vu->ws == s)
            s->vu->ws = NULL;
    }
    buf_free(&s->hs_req);
    ws_free_queue(s);
    buf_free(&s->sending);
    buf_free(&s->queued);
    buf_free(&s->msg);
    s->w = NULL;
    return 0;
}

static void ws_on_timeout(loop *l, void *data)
{
    (void)l;
    lua_vu *vu = data;
    if (vu->ws)
        vu->ws->timed_out = true;
    lua_vu_wake(vu);
}

/* Suspends the VU until s is ready for op (or timeout_ns, 0 = none). */
static int ws_wait(lua_State *L, lua_vu *vu, ws_sock *s, int op, uint64_t timeout_ns)
{
    vu->wait = VW_WS;
    vu->ws = s;
    vu->ws_op = op;
    s->timed_out = false;
    if (ws_ready(s)) {
        lua_vu_wake(vu);
    } else if (timeout_ns) {
        loop_timer_start(vu->lp, &vu->timer, loop_update_now(vu->lp) + timeout_ns,
                         ws_on_timeout, vu);
    }
    return lua_yield(L, 0);
}

/* C.ws_open(url, params) -> sock | nil, err */
int lua_ws_open(lua_State *L)
{
    lua_vu *vu = need_vu(L, "ws.open");
    lua_worker *w = vu->w;
    const char *urls = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    ws_sock *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->self_ref = LUA_NOREF;
    s->xc.c.fd = -1;
    s->state = WSS_CLOSED;
    luaL_setmetatable(L, "volley.ws");
    err e;
    if (addr_parse_url(urls, "url", &s->u, &e))
        return luaL_error(L, "ws: %s", e.msg);
    if (strcmp(s->u.scheme, "ws") && strcmp(s->u.scheme, "wss"))
        return luaL_error(L, "ws: '%s' is not a ws:// or wss:// URL", urls);
    if (s->u.tls && !lua_worker_context(w)->tls)
        return luaL_error(L, "ws: wss:// is not available in this build of volley");
    xch_target *t = lua_http_target(w, &s->u, &e);
    if (!t)
        return luaL_error(L, "ws: %s", e.msg);
    s->vu = vu;
    s->w = w;
    s->scen = vu->scen;
    s->shard = vu->shard;
    s->hcb = (http1_callbacks){.on_header = ws_on_hdr, .ctx = s, .line_buf = s->line,
                               .line_cap = sizeof s->line};
    s->wcb = (ws_callbacks){.on_data = ws_on_data, .on_control = ws_on_control, .ctx = s};
    ws_parser_init(&s->p, &s->wcb, false, 0, 0);
    ws_make_key(lua_worker_rng(w), s->key);
    http1_header hv[MAX_HEADERS];
    size_t nh = lua_http_headers(L, 2, hv, MAX_HEADERS);
    if (ws_handshake_request(&s->hs_req, s->u.hostport, s->u.path, s->key, hv, nh, &e))
        return luaL_error(L, "%s", e.msg);
    uint64_t timeout = HTTP_DEFAULT_TIMEOUT_NS;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "timeout");
        timeout = duration_arg(L, -1, "timeout", HTTP_DEFAULT_TIMEOUT_NS);
        lua_pop(L, 1);
    }
    lua_settop(L, 3);
    s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* returned by push_ws_result */
    /* Through the exchange: connect (every address in turn), TLS, the
     * request and its deadline; ws_on_handshake has the outcome. */
    xch_conn_init(&s->xc, lua_worker_xch(w), t);
    s->xc_ready = true;
    s->req = (xch_req){.data = s->hs_req.data, .len = s->hs_req.len, .upgrade = true,
                       .intended_ns = loop_update_now(vu->lp), .timeout_ns = timeout,
                       .cb = &s->hcb, .shard = vu->shard, .on_done = ws_on_handshake,
                       .owner = s};
    s->state = WSS_CONNECTING;
    xch_submit(&s->xc, &s->req);
    return ws_wait(L, vu, s, WSOP_OPEN, 0);
}

static ws_sock *check_sock(lua_State *L)
{
    ws_sock *s = luaL_checkudata(L, 1, "volley.ws");
    if (!s->w)
        luaL_error(L, "ws: socket already freed");
    return s;
}

/* s:send(msg, {binary=, rtt=}) -> true | nil, err */
static int l_ws_send(lua_State *L)
{
    ws_sock *s = check_sock(L);
    size_t n;
    const char *m = luaL_checklstring(L, 2, &n);
    bool binary = false, rtt = false;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "binary");
        binary = lua_toboolean(L, -1);
        lua_getfield(L, 3, "rtt");
        rtt = lua_toboolean(L, -1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            /* Keyed: the reply is the first message holding this key. */
            size_t kl;
            const char *k = lua_tolstring(L, -1, &kl);
            if (!kl || kl >= sizeof s->keyed[0].key)
                return luaL_error(L, "ws send: rtt key must be 1 to 63 bytes");
            if (s->nkeyed < WS_RTT_RING) {
                memcpy(s->keyed[s->nkeyed].key, k, kl + 1);
                s->keyed[s->nkeyed++].t0 = loop_update_now(vu_loop(s));
            }
            rtt = false;
        }
        lua_pop(L, 2);
    }
    if (s->state != WSS_OPEN) {
        lua_pushnil(L);
        lua_pushstring(L, "closed");
        return 2;
    }
    if (ws_queue(s, binary ? WS_OP_BINARY : WS_OP_TEXT, m, n)) {
        lua_pushnil(L);
        lua_pushstring(L, "out of memory");
        return 2;
    }
    ws_stats(s)->ws_msgs_sent++;
    metrics_record_ws(s->shard, METRICS_WS_SENT);
    if (rtt && s->rtt_len < WS_RTT_RING) {
        s->rtt[(s->rtt_head + s->rtt_len) % WS_RTT_RING] = loop_update_now(vu_loop(s));
        s->rtt_len++;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_ws_ping(lua_State *L)
{
    ws_sock *s = check_sock(L);
    if (s->state == WSS_OPEN)
        ws_queue(s, WS_OP_PING, "volley", 6);
    return 0;
}

/* s:recv(timeout_s) -> msg | nil, "timeout" | "closed" */
static int l_ws_recv(lua_State *L)
{
    ws_sock *s = check_sock(L);
    lua_vu *vu = need_vu(L, "socket:recv");
    uint64_t t = duration_arg(L, 2, "recv timeout", 0);
    lua_settop(L, 1);
    return ws_wait(L, vu, s, WSOP_RECV, t);
}

/* s:_event(timeout_s or -1) -> kind, data (the k6-style ws.connect loop) */
static int l_ws_event(lua_State *L)
{
    ws_sock *s = check_sock(L);
    lua_vu *vu = need_vu(L, "socket events");
    double secs = luaL_optnumber(L, 2, -1);
    uint64_t t = secs < 0 ? 0 : (uint64_t)llround(secs * 1e9);
    if (secs == 0) /* due now: a timeout without waiting */
        t = 1;
    lua_settop(L, 1);
    return ws_wait(L, vu, s, WSOP_EVENT, t);
}

/* s:close(code, reason): sends a close frame and waits for the answer. */
static int l_ws_close(lua_State *L)
{
    ws_sock *s = check_sock(L);
    lua_vu *vu = need_vu(L, "socket:close");
    uint16_t code = (uint16_t)luaL_optinteger(L, 2, WS_CLOSE_NORMAL);
    const char *reason = luaL_optstring(L, 3, "");
    if (s->state == WSS_CONNECTING || s->state == WSS_HANDSHAKE) {
        ws_closed(s, code, NULL);
        return 0;
    }
    if (s->state != WSS_OPEN)
        return 0;
    uint8_t mask[4];
    uint64_t *rng = lua_worker_rng(s->w);
    uint64_t r = *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    memcpy(mask, &r, 4);
    ws_close_append(&s->queued, code, reason, mask);
    s->close_sent = true;
    s->close_code = code;
    s->state = WSS_CLOSING;
    ws_flush(s);
    lua_settop(L, 1);
    return ws_wait(L, vu, s, WSOP_CLOSE, WS_CLOSE_WAIT_NS);
}

static int l_ws_state(lua_State *L)
{
    ws_sock *s = check_sock(L);
    static const char *const names[] = {"connecting", "connecting", "open", "closing", "closed"};
    lua_pushstring(L, names[s->state]);
    return 1;
}

static void push_msg(lua_State *co, ws_sock *s)
{
    ws_msg *m = s->head;
    s->head = m->next;
    if (!s->head)
        s->tail = NULL;
    s->nq--;
    lua_pushlstring(co, m->data, m->len);
    free(m);
}

int lua_ws_push_result(lua_State *co, lua_vu *vu)
{
    ws_sock *s = vu->ws;
    int op = vu->ws_op;
    vu->ws = NULL;
    if (!s) { /* freed meanwhile */
        lua_pushnil(co);
        lua_pushstring(co, "closed");
        return 2;
    }
    switch (op) {
    case WSOP_OPEN:
        if (s->state == WSS_OPEN) {
            lua_rawgeti(co, LUA_REGISTRYINDEX, s->self_ref);
            luaL_unref(co, LUA_REGISTRYINDEX, s->self_ref);
            s->self_ref = LUA_NOREF;
            return 1;
        }
        luaL_unref(co, LUA_REGISTRYINDEX, s->self_ref);
        s->self_ref = LUA_NOREF;
        lua_pushnil(co);
        lua_pushstring(co, s->timed_out ? "timeout" : s->err[0] ? s->err : "closed");
        return 2;
    case WSOP_RECV:
        if (s->head) {
            push_msg(co, s);
            return 1;
        }
        lua_pushnil(co);
        lua_pushstring(co, s->state == WSS_CLOSED ? "closed" : "timeout");
        return 2;
    case WSOP_EVENT:
        if (s->head) {
            lua_pushstring(co, "message");
            push_msg(co, s);
            return 2;
        }
        if (s->state == WSS_CLOSED) {
            bool error = s->close_code == WS_CLOSE_ABNORMAL && s->err[0];
            lua_pushstring(co, error ? "error" : "close");
            if (error)
                lua_pushstring(co, s->err);
            else
                lua_pushinteger(co, s->close_code ? s->close_code : WS_CLOSE_NO_STATUS);
            return 2;
        }
        lua_pushstring(co, "timeout");
        return 1;
    case WSOP_CLOSE:
        if (s->state != WSS_CLOSED)
            ws_closed(s, s->close_code, NULL); /* no answer in time: just close */
        return 0;
    }
    return 0;
}

void lua_ws_install(lua_State *L, lua_worker *w)
{
    /* WebSocket userdata. */
    static const luaL_Reg ws_methods[] = {
        {"send", l_ws_send}, {"recv", l_ws_recv}, {"close", l_ws_close},
        {"ping", l_ws_ping}, {"_event", l_ws_event}, {"state", l_ws_state}, {NULL, NULL},
    };
    luaL_newmetatable(L, "volley.ws");
    lua_newtable(L);
    lua_pushlightuserdata(L, w);
    luaL_setfuncs(L, ws_methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ws_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}
