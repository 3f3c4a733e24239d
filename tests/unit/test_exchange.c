/* Tests for load/exchange on a real loop over loopback: a target whose
 * first address refuses falls back to the next one and remembers it; a
 * target where every address refuses is connect_refused; a response is
 * recorded in the request's shard; pipelined requests (the FIFO) get their
 * own responses in order, and a close mid-pipeline counts each once; an
 * upgrade answered 101 hands its connection over with the bytes after the
 * head, and is not an HTTP request in the shard; with --compressed, bodies
 * are decoded and a corrupt one is decode_error. */
#include "load/exchange.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fixture {
    loop *l;
    int lfd;
    uint16_t port;
    int accepted;
    xch_outcome got;
    int outcomes;
    const char *reply;      /* written at accept (default RESPONSE) */
    size_t reply_len;       /* its length when it holds NUL bytes (0: strlen) */
    bool fin;               /* then shutdown(SHUT_WR) */
    int want;               /* outcomes before the loop stops (default 1) */
    int errs[8], statuses[8];
} fixture;

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* The server: accepts and answers at once (the request is not read). */
static void on_accept(loop *l, int fd, void *data, unsigned events)
{
    (void)l;
    (void)events;
    fixture *f = data;
    int c = accept(fd, NULL, NULL);
    if (c < 0)
        return;
    f->accepted++;
    const char *rep = f->reply ? f->reply : RESPONSE;
    size_t n = f->reply_len ? f->reply_len : strlen(rep);
    cr_assert_eq(write(c, rep, n), (ssize_t)n);
    if (f->fin)
        shutdown(c, SHUT_WR);
    /* Kept open until the end of the test (a keep-alive server). */
}

static void on_done(xch_req *r, const xch_outcome *o)
{
    fixture *f = r->owner;
    f->got = *o;
    if (f->outcomes < 8) {
        f->errs[f->outcomes] = o->err;
        f->statuses[f->outcomes] = o->status;
    }
    if (++f->outcomes >= (f->want ? f->want : 1))
        loop_stop(f->l);
}

static void listen_v4(fixture *f, bool serve)
{
    err e;
    f->l = loop_new(&e);
    cr_assert_not_null(f->l);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname(f->lfd, (struct sockaddr *)&sa, &len);
    f->port = ntohs(sa.sin_port);
    if (serve) {
        cr_assert_eq(listen(f->lfd, 16), 0);
        cr_assert_eq(loop_watch(f->l, f->lfd, LOOP_READ, on_accept, f, &e), 0);
    }
}

static addr mk(int family, uint16_t port)
{
    addr a = {0};
    if (family == AF_INET6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a.sa;
        s->sin6_family = AF_INET6;
        s->sin6_addr = in6addr_loopback;
        s->sin6_port = htons(port);
        a.len = sizeof *s;
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&a.sa;
        s->sin_family = AF_INET;
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->sin_port = htons(port);
        a.len = sizeof *s;
    }
    return a;
}

static void run_one(fixture *f, xch_target *t, metrics_shard *sh)
{
    static char rbuf[4096];
    _Atomic uint32_t active = 0;
    xch_ctx ctx = {.lp = f->l, .rbuf = rbuf, .rbuf_len = sizeof rbuf, .active = &active,
                   .retry = true};
    xch_conn xc;
    xch_conn_init(&xc, &ctx, t);
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    xch_req r = {.data = req, .len = sizeof req - 1, .idempotent = true,
                 .intended_ns = loop_update_now(f->l), .timeout_ns = 5000000000ULL,
                 .shard = sh, .on_done = on_done, .owner = f};
    xch_submit(&xc, &r);
    if (!f->outcomes)
        loop_run(f->l);
    xch_conn_release(&xc);
}

Test(exchange, falls_back_to_the_next_address_and_remembers_it)
{
    fixture f = {0};
    listen_v4(&f, true);
    /* ::1 first (nothing listens there on this port), then 127.0.0.1. */
    xch_target t = {.naddrs = 2};
    t.addrs[0] = mk(AF_INET6, f.port);
    t.addrs[1] = mk(AF_INET, f.port);
    snprintf(t.name, sizeof t.name, "test:%u", f.port);
    metrics_shard *sh = metrics_shard_new();
    run_one(&f, &t, sh);
    cr_assert_eq(f.outcomes, 1);
    cr_assert_eq(f.got.err, -1, "a response, not error kind %d", f.got.err);
    cr_assert_eq(f.got.status, 200);
    cr_assert_eq(t.good, 1, "the address that connected is remembered");
    cr_assert_eq(sh->tot.responses, 1);
    cr_assert_eq(sh->tot.connects, 1, "one connection established (the refusal is not one)");
    cr_assert_eq(hist_count(sh->connect), 1);
    metrics_shard_free(sh);
    close(f.lfd);
    loop_free(f.l);
}

Test(exchange, every_address_refusing_is_connect_refused)
{
    fixture f = {0};
    listen_v4(&f, false); /* bound, not listening: refuses */
    xch_target t = {.naddrs = 2};
    t.addrs[0] = mk(AF_INET6, f.port);
    t.addrs[1] = mk(AF_INET, f.port);
    metrics_shard *sh = metrics_shard_new();
    run_one(&f, &t, sh);
    cr_assert_eq(f.outcomes, 1);
    cr_assert_eq(f.got.err, ERRK_CONNECT_REFUSED);
    cr_assert_eq(sh->tot.err_kind[ERRK_CONNECT_REFUSED], 1, "one request, one error");
    cr_assert_eq(sh->tot.requests, 1);
    metrics_shard_free(sh);
    close(f.lfd);
    loop_free(f.l);
}

Test(exchange, idempotent_methods)
{
    cr_assert(xch_method_idempotent("GET"));
    cr_assert(xch_method_idempotent("PUT"));
    cr_assert(xch_method_idempotent("DELETE"));
    cr_assert(!xch_method_idempotent("POST"));
    cr_assert(!xch_method_idempotent("PATCH"));
}

/* Three requests in flight on one connection (submitted while it
 * connects); the server's bytes are cut into the responses in order. */
static void run_pipelined_ctx(fixture *f, metrics_shard *sh, bool retry, bool decode)
{
    static char rbuf[4096];
    _Atomic uint32_t active = 0;
    xch_ctx ctx = {.lp = f->l, .rbuf = rbuf, .rbuf_len = sizeof rbuf, .active = &active,
                   .retry = retry, .decode = decode};
    xch_target t = {.naddrs = 1};
    t.addrs[0] = mk(AF_INET, f->port);
    xch_conn xc;
    xch_conn_init(&xc, &ctx, &t);
    xc.depth = 3;
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    xch_req r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (xch_req){.data = req, .len = sizeof req - 1, .idempotent = true,
                         .intended_ns = loop_update_now(f->l), .timeout_ns = 5000000000ULL,
                         .shard = sh, .on_done = on_done, .owner = f};
        xch_submit(&xc, &r[i]);
    }
    cr_assert_eq(xch_in_flight(&xc), 3);
    f->want = 3;
    loop_run(f->l);
    cr_assert_eq(xch_in_flight(&xc), 0);
    xch_conn_release(&xc);
}

static void run_pipelined(fixture *f, metrics_shard *sh, bool retry)
{
    run_pipelined_ctx(f, sh, retry, false);
}

Test(exchange, pipelined_responses_are_given_in_order)
{
    fixture f = {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
                          "HTTP/1.1 201 OK\r\nContent-Length: 3\r\n\r\nbbb"
                          "HTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n"};
    listen_v4(&f, true);
    metrics_shard *sh = metrics_shard_new();
    run_pipelined(&f, sh, true);
    cr_assert_eq(f.outcomes, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(f.errs[i], -1, "request %d: error kind %d", i, f.errs[i]);
        cr_assert_eq(f.statuses[i], 200 + i, "request %d got status %d", i, f.statuses[i]);
    }
    cr_assert_eq(f.accepted, 1, "one connection");
    cr_assert_eq(sh->tot.responses, 3);
    metrics_shard_free(sh);
    close(f.lfd);
    loop_free(f.l);
}

Test(exchange, close_mid_pipeline_counts_each_request_once)
{
    fixture f = {.reply = RESPONSE, .fin = true};
    listen_v4(&f, true);
    metrics_shard *sh = metrics_shard_new();
    run_pipelined(&f, sh, false);
    cr_assert_eq(f.outcomes, 3);
    cr_assert_eq(f.errs[0], -1);
    cr_assert_eq(f.errs[1], ERRK_STALE, "the head after the close: %d", f.errs[1]);
    cr_assert_eq(f.errs[2], ERRK_CLOSED, "behind it: closed_early, got %d", f.errs[2]);
    cr_assert_eq(sh->tot.responses, 1);
    cr_assert_eq(sh->tot.err_kind[ERRK_STALE] + sh->tot.err_kind[ERRK_CLOSED], 2);
    metrics_shard_free(sh);
    close(f.lfd);
    loop_free(f.l);
}

/* ---- upgrade (the WebSocket handshake, script/lua_ws) ---- */

typedef struct upgrade_seen {
    fixture *f;
    char rest[64];
    size_t rest_len;
} upgrade_seen;

static void on_upgrade_done(xch_req *r, const xch_outcome *o)
{
    upgrade_seen *u = r->owner;
    u->rest_len = o->rest_len < sizeof u->rest ? o->rest_len : sizeof u->rest;
    if (o->rest_len)
        memcpy(u->rest, o->rest, u->rest_len);
    u->f->got = *o;
    u->f->outcomes++;
    loop_stop(u->f->l);
}

/* One upgrade request to f's port; returns whether the connection was
 * still open after the outcome (then it is closed here). */
static bool run_upgrade(fixture *f, upgrade_seen *u, metrics_shard *sh)
{
    static char rbuf[4096];
    _Atomic uint32_t active = 0;
    xch_ctx ctx = {.lp = f->l, .rbuf = rbuf, .rbuf_len = sizeof rbuf, .active = &active,
                   .retry = true};
    xch_target t = {.naddrs = 1};
    t.addrs[0] = mk(AF_INET, f->port);
    xch_conn xc;
    xch_conn_init(&xc, &ctx, &t);
    static const char req[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
    xch_req r = {.data = req, .len = sizeof req - 1, .upgrade = true,
                 .intended_ns = loop_update_now(f->l), .timeout_ns = 5000000000ULL,
                 .shard = sh, .on_done = on_upgrade_done, .owner = u};
    xch_submit(&xc, &r);
    if (!f->outcomes)
        loop_run(f->l);
    bool open = xch_is_open(&xc);
    uint32_t act = atomic_load(&active);
    xch_close(&xc, true);
    cr_assert_eq(atomic_load(&active), 0, "closing the upgraded connection counts it out");
    cr_assert_eq(act, open ? 1 : 0);
    xch_conn_release(&xc);
    return open;
}

Test(exchange, upgrade_101_hands_over_the_connection_and_the_bytes_after_it)
{
    fixture f = {.reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\n\r\n\x81\x02hi"};
    listen_v4(&f, true);
    upgrade_seen u = {.f = &f};
    metrics_shard *sh = metrics_shard_new();
    cr_assert(run_upgrade(&f, &u, sh), "a 101 leaves the connection open");
    cr_assert_eq(f.got.err, -1);
    cr_assert_eq(f.got.status, 101);
    cr_assert_eq(u.rest_len, 4);
    cr_assert_eq(memcmp(u.rest, "\x81\x02hi", 4), 0, "the first frame comes with the outcome");
    /* connect recorded as for any request; the 101 is not an HTTP request */
    cr_assert_eq(sh->tot.connects, 1);
    cr_assert_eq(hist_count(sh->connect), 1);
    cr_assert_eq(sh->tot.requests, 0);
    cr_assert_eq(sh->tot.responses, 0);
    metrics_shard_free(sh);
    close(f.lfd);
    loop_free(f.l);
}

Test(exchange, upgrade_refused_closes_and_counts_no_request)
{
    fixture f = {.reply = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    listen_v4(&f, true);
    upgrade_seen u = {.f = &f};
    metrics_shard *sh = metrics_shard_new();
    cr_assert(!run_upgrade(&f, &u, sh), "any other status closes the connection");
    cr_assert_eq(f.got.err, -1);
    cr_assert_eq(f.got.status, 404);
    cr_assert_eq(u.rest_len, 0);
    cr_assert_eq(sh->tot.requests, 0);
    metrics_shard_free(sh);
    close(f.lfd);
    /* A refused connect is the outcome's error, not an HTTP request either. */
    fixture g = {0};
    listen_v4(&g, false);
    upgrade_seen v = {.f = &g};
    sh = metrics_shard_new();
    cr_assert(!run_upgrade(&g, &v, sh));
    cr_assert_eq(g.got.err, ERRK_CONNECT_REFUSED);
    cr_assert_eq(sh->tot.requests, 0);
    cr_assert_eq(sh->tot.err_kind[ERRK_CONNECT_REFUSED], 0);
    metrics_shard_free(sh);
    close(g.lfd);
    loop_free(g.l);
    loop_free(f.l);
}

/* --compressed: a gzip body is decoded (its decoded size counted, its
 * decoding timed apart), an identity body passes, and a body that claims
 * gzip but is not is decode_error; pipelined on one connection. */
Test(exchange, compressed_bodies_decoded_counted_and_corrupt_is_decode_error)
{
    static const char gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57"
                             "\xc8\x40\x27\x01\xe3\x51\x3d\x8d\x17\x00\x00\x00";
    char reply[512];
    int n = snprintf(reply, sizeof reply, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                                          "Content-Length: 28\r\n\r\n");
    memcpy(reply + n, gz, 28);
    n += 28;
    n += snprintf(reply + n, sizeof reply - (size_t)n,
                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                  "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope");
    fixture f = {.reply = reply, .reply_len = (size_t)n};
    listen_v4(&f, true);
    metrics_shard *sh = metrics_shard_new();
    run_pipelined_ctx(&f, sh, true, true);
    cr_assert_eq(f.outcomes, 3);
    cr_assert_eq(f.errs[0], -1);
    cr_assert_eq(f.errs[1], -1);
    cr_assert_eq(f.errs[2], ERRK_DECODE, "error kind %d", f.errs[2]);
    cr_assert_eq(sh->tot.bytes_decoded, 23 + 2, "hello x4 (23 bytes) and ok");
    cr_assert_eq(hist_count(sh->dist[METRICS_DIST_DECODE]), 1, "one encoded body timed");
    cr_assert_eq(sh->tot.err_kind[ERRK_DECODE], 1);
    metrics_shard_free(sh);
    close(f.lfd);
    loop_free(f.l);
}
