/* ws_routes: WebSocket echo and sessions for `volley serve` (see
 * ws_routes.h). Each server loop gets a hub: its WebSocket connections and
 * an eventfd. Only a connection's own thread writes to its socket; another
 * thread that broadcasts to it appends a frame to its output under the
 * connection's mutex and pokes the owner's hub, which flushes. Lock order:
 * sessions_mu, then a connection's mu. */
#include "server/ws_routes.h"

#include "core/err.h"
#include "proto/ws.h"
#include "server/routes.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HUBS 1024
#define OUT_MAX (8u << 20)       /* a client this far behind is dropped */
#define MAX_MESSAGE (16u << 20)

typedef struct session session;
typedef struct hub hub;

typedef struct wsc {
    hub *h;
    int fd;
    pthread_mutex_t mu;          /* out, dead (other threads append) */
    buf out;
    bool dead;                   /* closed by its owner: append nothing */
    bool closing;                /* close frame sent: close once flushed */
    bool writing;                /* LOOP_WRITE requested */
    _Atomic bool poked;
    ws_parser p;
    ws_callbacks cb;
    buf msg;
    uint8_t msg_op;
    session *s;                  /* joined session or NULL */
    bool broadcast;
    struct wsc *prev, *next;     /* hub list (owner thread) */
    struct wsc *snext;           /* session members (sessions_mu) */
} wsc;

struct hub {
    loop *l;
    int efd;
    wsc *conns;
};

struct session {
    char id[24];
    wsc *members;
    bool deleted;
    session *next;
};

static pthread_mutex_t hubs_mu = PTHREAD_MUTEX_INITIALIZER;
static hub *hubs[MAX_HUBS];
static size_t nhubs;

static pthread_mutex_t sessions_mu = PTHREAD_MUTEX_INITIALIZER;
static session *sessions;
static uint64_t session_seq;

static void wsc_free(wsc *c);
static void wsc_flush(wsc *c);

/* ---- hubs ---- */

static void on_poke(loop *l, int fd, void *data, unsigned events)
{
    (void)l;
    (void)events;
    hub *h = data;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    for (wsc *c = h->conns, *next; c; c = next) {
        next = c->next;
        if (atomic_exchange(&c->poked, false))
            wsc_flush(c);
    }
}

static hub *hub_for(loop *l)
{
    pthread_mutex_lock(&hubs_mu);
    hub *h = NULL;
    for (size_t i = 0; i < nhubs && !h; i++)
        if (hubs[i]->l == l)
            h = hubs[i];
    if (!h && nhubs < MAX_HUBS && (h = calloc(1, sizeof *h))) {
        h->l = l;
        h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (h->efd < 0 || loop_watch(l, h->efd, LOOP_READ, on_poke, h, NULL)) {
            if (h->efd >= 0)
                close(h->efd);
            free(h);
            h = NULL;
        } else {
            hubs[nhubs++] = h;
        }
    }
    pthread_mutex_unlock(&hubs_mu);
    return h;
}

void ws_routes_loop_free(loop *l)
{
    pthread_mutex_lock(&hubs_mu);
    hub *h = NULL;
    for (size_t i = 0; i < nhubs; i++)
        if (hubs[i]->l == l) {
            h = hubs[i];
            hubs[i] = hubs[--nhubs];
            break;
        }
    pthread_mutex_unlock(&hubs_mu);
    if (!h)
        return;
    while (h->conns)
        wsc_free(h->conns);
    loop_unwatch(l, h->efd);
    close(h->efd);
    free(h);
}

/* ---- sessions ---- */

static session *session_find(const char *id, size_t n)
{
    for (session *s = sessions; s; s = s->next)
        if (strlen(s->id) == n && !memcmp(s->id, id, n))
            return s;
    return NULL;
}

/* Under sessions_mu. */
static void session_leave(wsc *c)
{
    session *s = c->s;
    if (!s)
        return;
    for (wsc **pp = &s->members; *pp; pp = &(*pp)->snext)
        if (*pp == c) {
            *pp = c->snext;
            break;
        }
    c->s = NULL;
    if (s->deleted && !s->members)
        free(s); /* already unlinked by DELETE */
}

/* ---- connections ---- */

static void wsc_free(wsc *c)
{
    pthread_mutex_lock(&sessions_mu);
    session_leave(c);
    pthread_mutex_unlock(&sessions_mu);
    pthread_mutex_lock(&c->mu);
    c->dead = true;
    pthread_mutex_unlock(&c->mu);
    hub *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    loop_unwatch(h->l, c->fd);
    close(c->fd);
    buf_free(&c->out);
    buf_free(&c->msg);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Appends a server frame to c's output (any thread). Returns false if c
 * is gone or too far behind. */
static bool wsc_append(wsc *c, uint8_t op, const char *p, size_t n)
{
    pthread_mutex_lock(&c->mu);
    bool ok = !c->dead && !c->closing && buf_unread(&c->out) + n < OUT_MAX &&
              ws_frame_append(&c->out, true, op, p, n, NULL) == 0;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Owner thread: writes what is queued; closes c when done closing. */
static void wsc_flush(wsc *c)
{
    pthread_mutex_lock(&c->mu);
    int werr = 0;
    while (buf_unread(&c->out)) {
        ssize_t k = send(c->fd, buf_rpos(&c->out), buf_unread(&c->out), MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                werr = errno;
            break;
        }
        buf_consume(&c->out, (size_t)k);
    }
    bool pending = buf_unread(&c->out) > 0, closing = c->closing;
    pthread_mutex_unlock(&c->mu);
    if (werr || (closing && !pending)) {
        wsc_free(c);
        return;
    }
    if (pending != c->writing) {
        c->writing = pending;
        loop_set_events(c->h->l, c->fd, LOOP_READ | (pending ? LOOP_WRITE : 0));
    }
}

static void poke(wsc *c)
{
    atomic_store(&c->poked, true);
    uint64_t one = 1;
    ssize_t r = write(c->h->efd, &one, sizeof one);
    (void)r;
}

static void deliver(wsc *c, uint8_t op, const char *p, size_t n)
{
    wsc_append(c, op, p, n);
    if (c->s && c->broadcast) {
        pthread_mutex_lock(&sessions_mu);
        for (wsc *m = c->s ? c->s->members : NULL; m; m = m->snext)
            if (m != c && wsc_append(m, op, p, n))
                poke(m); /* its owner flushes (maybe this very thread, later) */
        pthread_mutex_unlock(&sessions_mu);
    }
}

static void on_data(void *ctx, uint8_t op, const char *data, size_t len, bool last)
{
    wsc *c = ctx;
    if (len && buf_append(&c->msg, data, len))
        return;
    if (!last)
        return;
    deliver(c, op, c->msg.data ? c->msg.data : "", c->msg.len);
    buf_reset(&c->msg);
}

static void start_close(wsc *c, uint16_t code)
{
    pthread_mutex_lock(&c->mu);
    if (!c->closing && !c->dead) {
        if (code == WS_CLOSE_NO_STATUS)
            code = 0;
        ws_close_append(&c->out, code, NULL, NULL);
        c->closing = true;
    }
    pthread_mutex_unlock(&c->mu);
}

static void on_control(void *ctx, uint8_t op, uint16_t code, const char *p, size_t n)
{
    wsc *c = ctx;
    if (op == WS_OP_PING)
        wsc_append(c, WS_OP_PONG, p, n);
    else if (op == WS_OP_CLOSE)
        start_close(c, code);
}

static void feed(wsc *c, char *data, size_t n)
{
    int rc = ws_parse(&c->p, data, n);
    if (rc < 0)
        start_close(c, rc == WS_ETOOBIG ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL);
}

static void on_io(loop *l, int fd, void *data, unsigned events)
{
    (void)l;
    (void)fd;
    wsc *c = data;
    if (events & (LOOP_READ | LOOP_ERROR)) {
        char rb[16384];
        for (int i = 0; i < 8; i++) {
            ssize_t n = read(c->fd, rb, sizeof rb);
            if (n > 0) {
                feed(c, rb, (size_t)n);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            wsc_free(c); /* EOF or error */
            return;
        }
    }
    wsc_flush(c);
}

/* A new connection on a dup of fd, with the 101 queued; not yet flushed
 * (the caller may hold sessions_mu). */
static wsc *take(loop *l, int fd, const char *accept, session *s, bool broadcast)
{
    hub *h = hub_for(l);
    if (!h)
        return NULL;
    int nfd = dup(fd);
    if (nfd < 0)
        return NULL;
    wsc *c = calloc(1, sizeof *c);
    if (!c) {
        close(nfd);
        return NULL;
    }
    c->h = h;
    c->fd = nfd;
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->poked, false);
    c->cb = (ws_callbacks){.on_data = on_data, .on_control = on_control, .ctx = c};
    ws_parser_init(&c->p, &c->cb, true, MAX_MESSAGE, MAX_MESSAGE);
    if (ws_server_response(&c->out, accept) || loop_watch(l, nfd, LOOP_READ, on_io, c, NULL)) {
        buf_free(&c->out);
        pthread_mutex_destroy(&c->mu);
        close(nfd);
        free(c);
        return NULL;
    }
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    if (s) {
        c->s = s;
        c->broadcast = broadcast;
        c->snext = s->members;
        s->members = c;
    }
    return c;
}

/* ---- HTTP side ---- */

static int answer(buf *out, int status, const char *ctype, const char *body, bool close)
{
    size_t n = body ? strlen(body) : 0;
    if (routes_write_head(out, status, body ? ctype : NULL, body ? (int64_t)n : (int64_t)0, NULL,
                          close, false))
        return WS_ROUTES_ANSWERED_CLOSE;
    if (n)
        buf_append(out, body, n);
    return close ? WS_ROUTES_ANSWERED_CLOSE : WS_ROUTES_ANSWERED;
}

static bool is(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && !memcmp(p, s, n);
}

static bool query_flag(const char *q, size_t qn, const char *key)
{
    size_t kl = strlen(key), i = 0;
    while (i < qn) {
        size_t s = i;
        while (i < qn && q[i] != '&')
            i++;
        if (i - s == kl + 2 && !memcmp(q + s, key, kl) && q[s + kl] == '=' && q[s + kl + 1] == '1')
            return true;
        i++;
    }
    return false;
}

int ws_routes_handle(loop *l, int fd, const char *head, size_t head_len, const reqparse_req *r,
                     const char *rest, size_t rest_len, buf *out)
{
    const char *t = r->target;
    size_t pn = r->path_len;
    const char *q = pn < r->target_len ? t + pn + 1 : "";
    size_t qn = pn < r->target_len ? r->target_len - pn - 1 : 0;
    bool is_ws = is(t, pn, "/ws"), is_join = pn > 13 && !memcmp(t, "/ws/sessions/", 13);
    bool is_api = is(t, pn, "/api/sessions"), is_one = pn > 14 && !memcmp(t, "/api/sessions/", 14);
    if (!is_ws && !is_join && !is_api && !is_one)
        return WS_ROUTES_NONE;
    /* A body on these routes is never needed; not reading it would desync
     * the connection, so answer and close instead. */
    bool body = r->chunked || (r->has_length && r->content_length > 0);
    bool close = !r->keepalive || body;
    bool get = is(r->method, r->method_len, "GET");
    if (is_api) {
        if (!is(r->method, r->method_len, "POST"))
            return answer(out, 405, "text/plain", "405 Method Not Allowed: POST /api/sessions\n", close);
        pthread_mutex_lock(&sessions_mu);
        session *s = calloc(1, sizeof *s);
        if (s) {
            snprintf(s->id, sizeof s->id, "s%llx", (unsigned long long)++session_seq);
            s->next = sessions;
            sessions = s;
        }
        char json[64];
        snprintf(json, sizeof json, "{\"id\":\"%s\"}", s ? s->id : "");
        pthread_mutex_unlock(&sessions_mu);
        if (!s)
            return answer(out, 500, "text/plain", "500 out of memory\n", true);
        return answer(out, 201, "application/json", json, close);
    }
    if (is_one) {
        if (!is(r->method, r->method_len, "DELETE"))
            return answer(out, 405, "text/plain", "405 Method Not Allowed: DELETE /api/sessions/{id}\n", close);
        pthread_mutex_lock(&sessions_mu);
        session *s = session_find(t + 14, pn - 14);
        if (s) {
            /* Members keep talking until they leave; nobody new can join. */
            for (session **pp = &sessions; *pp; pp = &(*pp)->next)
                if (*pp == s) {
                    *pp = s->next;
                    break;
                }
            s->deleted = true;
            if (!s->members)
                free(s);
        }
        pthread_mutex_unlock(&sessions_mu);
        if (!s)
            return answer(out, 404, "text/plain", "404 Not Found: no such session\n", close);
        return answer(out, 204, NULL, NULL, close);
    }
    if (!get)
        return answer(out, 405, "text/plain", "405 Method Not Allowed: GET with a WebSocket upgrade\n", close);
    char accept[WS_ACCEPT_LEN + 1];
    err e;
    /* The head may start with blank lines (skipped by reqparse). */
    const char *h0 = r->method;
    size_t hl = head_len - (size_t)(h0 - head);
    if (ws_server_check(h0, hl, accept, &e)) {
        char msg[sizeof e.msg + 32];
        snprintf(msg, sizeof msg, "400 Bad Request: %s\n", e.msg);
        return answer(out, 400, "text/plain", msg, close);
    }
    session *s = NULL;
    if (is_join) {
        pthread_mutex_lock(&sessions_mu);
        s = session_find(t + 13, pn - 13);
        if (!s) {
            pthread_mutex_unlock(&sessions_mu);
            return answer(out, 404, "text/plain", "404 Not Found: no such session\n", close);
        }
    }
    wsc *c = take(l, fd, accept, s, is_join && query_flag(q, qn, "broadcast"));
    if (is_join)
        pthread_mutex_unlock(&sessions_mu);
    if (!c)
        return answer(out, 500, "text/plain", "500 cannot upgrade\n", true);
    if (rest_len) { /* frames sent right behind the request */
        char *copy = malloc(rest_len);
        if (copy) {
            memcpy(copy, rest, rest_len);
            feed(c, copy, rest_len);
            free(copy);
        }
    }
    wsc_flush(c);
    return WS_ROUTES_TAKEN;
}
