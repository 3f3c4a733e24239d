/* Tests for net/conn over loopback, plain and TLS, with a tiny server on the
 * same loop (net/tls on its side): the on_connect contract, round trips,
 * session resumption across conn_open, what a failed TLS connection gives
 * up, verification failures through conn_tls_error, the handshake gate (TLS
 * connections take turns), and decrypted bytes that OpenSSL holds after the owner stopped reading (the pending loop). */
#include "net/conn.h"

#include "net/addr.h"
#include "net/loop.h"
#include "net/tls.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testcerts.h"

TestSuite(conn, .init = make_certs, .fini = remove_certs);

/* ---- the server: accepts, handshakes, answers each request head with
 * `reply` (all of it in one write), closes when the client does ---- */

typedef struct peer {
    int fd;
    struct ssl_st *ssl;
    bool hs;
} peer;

#define PEERS_MAX 32

typedef struct srv {
    loop *l;
    int lfd;
    addr a;
    tls_server_ctx *tls;
    const char *reply;
    peer peers[PEERS_MAX];
    int accepted, resumed;
} srv;

static void peer_close(srv *s, peer *p)
{
    loop_unwatch(s->l, p->fd);
    tls_io_free(p->ssl, true, true);
    close(p->fd);
    p->fd = -1;
    p->ssl = NULL;
}

static void on_peer(loop *l, int fd, void *data, unsigned events)
{
    (void)fd;
    (void)events;
    srv *s = data;
    peer *p = NULL;
    for (int i = 0; i < PEERS_MAX; i++)
        if (s->peers[i].fd == fd)
            p = &s->peers[i];
    cr_assert_not_null(p);
    unsigned want = LOOP_READ;
    if (p->hs) {
        tls_fail f = {0};
        int rc = tls_io_handshake(p->ssl, &want, &f);
        if (rc == -EAGAIN) {
            loop_set_events(l, fd, want);
            return;
        }
        if (rc < 0) {
            peer_close(s, p);
            return;
        }
        p->hs = false;
        s->resumed += tls_io_resumed(p->ssl);
        loop_set_events(l, fd, LOOP_READ);
        return;
    }
    char buf[4096];
    ssize_t n = p->ssl ? tls_io_read(p->ssl, buf, sizeof buf, &want, NULL)
                       : read(fd, buf, sizeof buf);
    if (n == -EAGAIN || (n < 0 && errno == EAGAIN))
        return;
    if (n <= 0) {
        peer_close(s, p);
        return;
    }
    size_t len = strlen(s->reply);
    ssize_t w = p->ssl ? tls_io_write(p->ssl, s->reply, len, &want, NULL)
                       : write(fd, s->reply, len);
    cr_assert_eq(w, (ssize_t)len);
}

static void on_accept(loop *l, int fd, void *data, unsigned events)
{
    (void)events;
    srv *s = data;
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return;
    peer *p = NULL;
    for (int i = 0; i < PEERS_MAX && !p; i++)
        if (s->peers[i].fd < 0)
            p = &s->peers[i];
    cr_assert_not_null(p, "too many peers");
    p->fd = c;
    p->hs = s->tls != NULL;
    p->ssl = s->tls ? tls_io_accept_new(s->tls, c) : NULL;
    s->accepted++;
    loop_watch(l, c, LOOP_READ, on_peer, s, NULL);
}

static void srv_start(srv *s, loop *l, bool tls, const char *reply)
{
    memset(s, 0, sizeof *s);
    signal(SIGPIPE, SIG_IGN);
    s->l = l;
    s->reply = reply;
    for (int i = 0; i < PEERS_MAX; i++)
        s->peers[i].fd = -1;
    err e = {0};
    if (tls) {
        s->tls = tls_server_ctx_new(srv_pem, srv_key, &e);
        cr_assert_not_null(s->tls, "%s", e.msg);
    }
    cr_assert_eq(addr_parse_hostport("127.0.0.1:0", "test", &s->a, &e), 0);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&s->a.sa, s->a.len), 0);
    cr_assert_eq(listen(s->lfd, 16), 0);
    s->a.len = sizeof s->a.sa;
    getsockname(s->lfd, (struct sockaddr *)&s->a.sa, &s->a.len);
    loop_watch(l, s->lfd, LOOP_READ, on_accept, s, NULL);
}

static void srv_stop(srv *s)
{
    for (int i = 0; i < PEERS_MAX; i++)
        if (s->peers[i].fd >= 0)
            peer_close(s, &s->peers[i]);
    loop_unwatch(s->l, s->lfd);
    close(s->lfd);
    tls_server_ctx_free(s->tls);
}

/* ---- the client: one request per connection; reads until `expect`
 * responses (of resp_len bytes each) arrived, reading at most one
 * response per on_readable call when `lazy` (as load/worker does when a
 * response completes) ---- */

#define ROUNDS_MAX 8

typedef struct cli {
    conn c;
    loop *l;
    srv *s;
    int status;       /* on_connect status of the current round */
    bool connected;
    size_t got, resp_len;
    int responses, expect;
    bool lazy, eof;
    /* several connections in one loop_run (a stopped loop cannot run
     * again): round i closes with reset when reset_mask has bit i */
    int round, rounds;
    unsigned reset_mask;
    int r_status[ROUNDS_MAX], r_responses[ROUNDS_MAX];
    bool r_resumed[ROUNDS_MAX];
    uint64_t r_handshake_ns[ROUNDS_MAX];
    char buf[65536];
} cli;

static void round_start(cli *k);

/* The current round is over: record it, close, start the next or stop. */
static void round_end(cli *k)
{
    int i = k->round;
    k->r_status[i] = k->status;
    k->r_responses[i] = k->responses;
    k->r_resumed[i] = k->c.resumed;
    k->r_handshake_ns[i] = k->c.handshake_ns;
    if (++k->round < k->rounds) {
        conn_close(&k->c, (k->reset_mask >> i) & 1);
        round_start(k);
        return;
    }
    loop_stop(k->l);
}

static const char REQ[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

static void cl_on_connect(conn *c, int status)
{
    cli *k = c->owner;
    k->status = status;
    k->connected = true;
    if (status < 0) {
        round_end(k);
        return;
    }
    cr_assert_eq(conn_send(c, REQ, sizeof REQ - 1), 0);
}

static void cl_on_readable(conn *c)
{
    cli *k = c->owner;
    for (;;) {
        size_t room = k->lazy ? k->resp_len - k->got % k->resp_len : sizeof k->buf;
        ssize_t n = conn_read(c, k->buf, room);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            k->eof = true;
            round_end(k);
            return;
        }
        k->got += (size_t)n;
        k->responses = (int)(k->got / k->resp_len);
        if (k->responses >= k->expect) {
            round_end(k);
            return;
        }
        if (k->lazy && k->got % k->resp_len == 0)
            return; /* a response is complete: stop reading, as the worker does */
    }
}

static void cl_on_write_error(conn *c, int status)
{
    cli *k = c->owner;
    k->status = status;
    round_end(k);
}

static const conn_handlers HANDLERS = {cl_on_connect, cl_on_readable, NULL, cl_on_write_error};

static void on_deadline(loop *l, void *data)
{
    (void)data;
    loop_stop(l);
}

static void round_start(cli *k)
{
    k->status = 0;
    k->connected = false;
    k->got = 0;
    k->responses = 0;
    k->eof = false;
    cr_assert_eq(conn_open(&k->c, &k->s->a), 0);
}

/* `rounds` connections one after the other, each sending one request and
 * waiting for `expect` responses (or a failure); all within 5 s. Results
 * in k->r_*; the last round's also in k->status / k->responses. */
static void exchange_rounds(cli *k, srv *s, int expect, int rounds, unsigned reset_mask)
{
    k->s = s;
    k->expect = expect;
    k->resp_len = strlen(s->reply) / (size_t)expect;
    k->round = 0;
    k->rounds = rounds;
    k->reset_mask = reset_mask;
    memset(k->r_status, 0x7f, sizeof k->r_status);
    round_start(k);
    loop_timer t;
    loop_timer_init(&t);
    loop_timer_start(k->l, &t, loop_update_now(k->l) + 5000000000ull, on_deadline, NULL);
    loop_run(k->l);
    loop_timer_stop(k->l, &t);
    cr_assert_eq(k->round, rounds, "only %d of %d rounds within 5 s", k->round, rounds);
}

static void exchange(cli *k, srv *s, int expect)
{
    exchange_rounds(k, s, expect, 1, 0);
}

static tls_client_ctx *client_ctx(const char *cafile)
{
    tls_client_opts o = {.cafile = cafile};
    err e = {0};
    tls_client_ctx *c = tls_client_ctx_new(&o, &e);
    cr_assert_not_null(c, "%s", e.msg);
    return c;
}

static const char OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

Test(conn, plain_tcp_round_trip)
{
    loop *l = loop_new(NULL);
    srv s;
    srv_start(&s, l, false, OK);
    cli *k = calloc(1, sizeof *k);
    k->l = l;
    conn_init(&k->c, l, &HANDLERS, k);
    exchange(k, &s, 1);
    cr_assert_eq(k->status, 0);
    cr_assert_eq(k->responses, 1);
    cr_assert_null(k->c.ssl);
    cr_assert_str_eq(conn_tls_error(&k->c), "");
    conn_release(&k->c);
    srv_stop(&s);
    loop_free(l);
    free(k);
}

Test(conn, tls_round_trips_resume_the_session)
{
    loop *l = loop_new(NULL);
    srv s;
    srv_start(&s, l, true, OK);
    tls_client_ctx *ctx = client_ctx(ca_pem);
    cli *k = calloc(1, sizeof *k);
    k->l = l;
    conn_init(&k->c, l, &HANDLERS, k);
    conn_set_tls(&k->c, ctx, "127.0.0.1", NULL);
    /* Round 2 ends with a reset (an HTTP-level failure): that keeps the
     * session too. */
    exchange_rounds(k, &s, 1, 5, 1u << 2);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(k->r_status[i], 0, "round %d", i);
        cr_assert_eq(k->r_responses[i], 1, "round %d", i);
        cr_assert_gt(k->r_handshake_ns[i], 0);
        cr_assert_eq(k->r_resumed[i], i > 0, "round %d", i);
    }
    cr_assert_eq(s.resumed, 4);
    conn_release(&k->c);
    cr_assert_null(k->c.session);
    srv_stop(&s);
    tls_client_ctx_free(ctx);
    loop_free(l);
    free(k);
}

/* A fresh loop and server for the next phase of a test; the client conn
 * (closed) moves to the new loop, keeping its session. */
static loop *next_phase(cli *k, srv *s, loop *old)
{
    srv_stop(s);
    loop_free(old);
    loop *l = loop_new(NULL);
    srv_start(s, l, true, OK);
    k->l = l;
    k->c.lp = l;
    return l;
}

/* --share-tls-sessions: the session lives in the slot given (the worker's,
 * per target), never in the conn; each handshake after the first resumes
 * from it, and a failed one empties it. */
Test(conn, tls_shared_session_slot_is_resumed_from_and_emptied_by_a_failure)
{
    loop *l = loop_new(NULL);
    srv s;
    srv_start(&s, l, true, OK);
    tls_client_ctx *ctx = client_ctx(ca_pem);
    cli *k = calloc(1, sizeof *k);
    k->l = l;
    conn_init(&k->c, l, &HANDLERS, k);
    conn_tls_share shared = {0};
    conn_set_tls(&k->c, ctx, "127.0.0.1", &shared);
    exchange_rounds(k, &s, 1, 3, 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(k->r_status[i], 0, "round %d", i);
        cr_assert_eq(k->r_resumed[i], i > 0, "round %d", i);
    }
    cr_assert_eq(s.resumed, 2);
    conn_close(&k->c, false);
    cr_assert_not_null(shared.session);
    cr_assert_null(k->c.session);
    /* The same slot under a name the certificate does not hold. */
    conn_set_tls(&k->c, ctx, "example.com", &shared);
    l = next_phase(k, &s, l);
    exchange(k, &s, 1);
    cr_assert_eq(k->status, CONN_ETLS, "%d", k->status);
    conn_close(&k->c, true);
    cr_assert_null(shared.session);
    conn_release(&k->c);
    srv_stop(&s);
    tls_client_ctx_free(ctx);
    loop_free(l);
    free(k);
}

Test(conn, tls_verify_failure_is_conn_etls_with_the_reason)
{
    loop *l = loop_new(NULL);
    srv s;
    srv_start(&s, l, true, OK);
    tls_client_ctx *good = client_ctx(ca_pem);
    tls_client_ctx *bad = client_ctx(srv_pem); /* a leaf, not the CA */
    cli *k = calloc(1, sizeof *k);
    k->l = l;
    conn_init(&k->c, l, &HANDLERS, k);
    conn_set_tls(&k->c, good, "localhost", NULL);
    exchange(k, &s, 1);
    cr_assert_eq(k->status, 0, "%s", conn_tls_error(&k->c));
    conn_close(&k->c, false);
    cr_assert_not_null(k->c.session);
    /* Another context drops the session of the first. */
    conn_set_tls(&k->c, bad, "localhost", NULL);
    cr_assert_null(k->c.session);
    l = next_phase(k, &s, l);
    exchange(k, &s, 1);
    cr_assert_eq(k->status, CONN_ETLS, "%d", k->status);
    cr_assert(strstr(conn_tls_error(&k->c), "certificate verify failed: ") ==
                  conn_tls_error(&k->c),
              "%s", conn_tls_error(&k->c));
    conn_close(&k->c, true);
    /* A wrong name with the right CA; a failed handshake keeps no session. */
    conn_set_tls(&k->c, good, "example.com", NULL);
    l = next_phase(k, &s, l);
    exchange(k, &s, 1);
    cr_assert_eq(k->status, CONN_ETLS);
    cr_assert_str_eq(conn_tls_error(&k->c), "certificate verify failed: hostname mismatch");
    conn_close(&k->c, true);
    cr_assert_null(k->c.session);
    conn_release(&k->c);
    srv_stop(&s);
    tls_client_ctx_free(good);
    tls_client_ctx_free(bad);
    loop_free(l);
    free(k);
}

Test(conn, tls_to_a_plain_server_is_conn_etls)
{
    loop *l = loop_new(NULL);
    srv s;
    srv_start(&s, l, false, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    tls_client_ctx *ctx = client_ctx(ca_pem);
    cli *k = calloc(1, sizeof *k);
    k->l = l;
    conn_init(&k->c, l, &HANDLERS, k);
    conn_set_tls(&k->c, ctx, "127.0.0.1", NULL);
    /* This server answers any bytes at once: the ClientHello gets HTTP. */
    exchange(k, &s, 1);
    cr_assert_eq(k->status, CONN_ETLS, "%d", k->status);
    cr_assert_neq(conn_tls_error(&k->c)[0], 0);
    conn_release(&k->c);
    srv_stop(&s);
    tls_client_ctx_free(ctx);
    loop_free(l);
    free(k);
}

Test(conn, bytes_held_by_openssl_reach_an_owner_that_stopped_reading)
{
    /* Three responses in one TLS record; the owner reads one and stops, as
     * the worker does when a response completes. No socket event will
     * come for the other two: conn must hand them over by itself. */
    char three[3 * (sizeof OK - 1) + 1];
    snprintf(three, sizeof three, "%s%s%s", OK, OK, OK);
    loop *l = loop_new(NULL);
    srv s;
    srv_start(&s, l, true, three);
    tls_client_ctx *ctx = client_ctx(ca_pem);
    cli *k = calloc(1, sizeof *k);
    k->l = l;
    k->lazy = true;
    conn_init(&k->c, l, &HANDLERS, k);
    conn_set_tls(&k->c, ctx, "127.0.0.1", NULL);
    exchange(k, &s, 3);
    cr_assert_eq(k->status, 0, "%s", conn_tls_error(&k->c));
    cr_assert_eq(k->responses, 3);
    conn_release(&k->c);
    srv_stop(&s);
    tls_client_ctx_free(ctx);
    loop_free(l);
    free(k);
}

/* ---- the handshake gate: many TLS connections opened at once ---- */

#define GATE_CONNS 16

typedef struct gate_run {
    loop *l;
    conn c[GATE_CONNS];
    int status[GATE_CONNS];
    bool connected[GATE_CONNS], answered[GATE_CONNS];
    unsigned max_in_flight;
    int done, expect;
    conn_tls_share *share;       /* NULL: each conn keeps its own session */
    unsigned max_in_flight_empty; /* ... while share held no session */
} gate_run;

/* Connections with a socket that are still connecting or handshaking. */
static void gate_track(gate_run *g)
{
    unsigned n = 0;
    for (int i = 0; i < GATE_CONNS; i++)
        n += g->c[i].fd >= 0 && g->c[i].state == CONN_CONNECTING;
    if (n > g->max_in_flight)
        g->max_in_flight = n;
    if (g->share && !g->share->session && n > g->max_in_flight_empty)
        g->max_in_flight_empty = n;
}

static void gate_on_connect(conn *c, int status)
{
    gate_run *g = c->owner;
    int i = (int)(c - g->c);
    gate_track(g);
    g->status[i] = status;
    g->connected[i] = true;
    if (status < 0) {
        conn_close(c, true);
        if (++g->done == g->expect)
            loop_stop(g->l);
        return;
    }
    cr_assert_eq(conn_send(c, REQ, sizeof REQ - 1), 0);
}

static void gate_on_readable(conn *c)
{
    gate_run *g = c->owner;
    int i = (int)(c - g->c);
    char buf[4096];
    ssize_t n;
    while ((n = conn_read(c, buf, sizeof buf)) > 0)
        g->answered[i] = true;
    if (g->answered[i] || n != -EAGAIN) {
        conn_close(c, false);
        if (++g->done == g->expect)
            loop_stop(g->l);
    }
}


static const conn_handlers GATE_HANDLERS = {gate_on_connect, gate_on_readable, NULL,
                                            cl_on_write_error};

/* Opens GATE_CONNS TLS connections at once with a cap of `cap`, closing
 * connection `drop` (-1: none) while it waits; runs until all are done. */
static void gate_open_all(gate_run *g, srv *s, tls_client_ctx *ctx, unsigned cap, int drop)
{
    conn_set_handshake_cap(cap);
    g->expect = GATE_CONNS - (drop >= 0);
    for (int i = 0; i < GATE_CONNS; i++) {
        conn_init(&g->c[i], g->l, &GATE_HANDLERS, g);
        conn_set_tls(&g->c[i], ctx, "127.0.0.1", g->share);
        cr_assert_eq(conn_open(&g->c[i], &s->a), 0);
        gate_track(g);
    }
    if (drop >= 0)
        conn_close(&g->c[drop], true);
    loop_timer t;
    loop_timer_init(&t);
    loop_timer_start(g->l, &t, loop_update_now(g->l) + 5000000000ull, on_deadline, NULL);
    loop_run(g->l);
    loop_timer_stop(g->l, &t);
    conn_set_handshake_cap(0);
}

/* A gate test's loop, TLS server (answering OK) and client context. */
typedef struct gate_env {
    loop *l;
    srv s;
    tls_client_ctx *ctx;
    gate_run *g;
} gate_env;

static gate_run *gate_setup(gate_env *e)
{
    e->l = loop_new(NULL);
    srv_start(&e->s, e->l, true, OK);
    e->ctx = client_ctx(ca_pem);
    e->g = calloc(1, sizeof *e->g);
    e->g->l = e->l;
    return e->g;
}

static void gate_teardown(gate_env *e)
{
    for (int i = 0; i < GATE_CONNS; i++)
        conn_release(&e->g->c[i]);
    srv_stop(&e->s);
    tls_client_ctx_free(e->ctx);
    loop_free(e->l);
    free(e->g);
}

Test(conn, tls_handshakes_take_turns_under_the_gate_cap)
{
    gate_env e;
    gate_run *g = gate_setup(&e);
    gate_open_all(g, &e.s, e.ctx, 2, 5);
    cr_assert_eq(g->done, GATE_CONNS - 1, "only %d connections finished in 5 s", g->done);
    for (int i = 0; i < GATE_CONNS; i++) {
        if (i == 5) {
            cr_assert_not(g->connected[i], "a connection closed while waiting connected");
            continue;
        }
        cr_assert_eq(g->status[i], 0, "conn %d: %s", i, conn_tls_error(&g->c[i]));
        cr_assert(g->answered[i], "conn %d got no response", i);
    }
    /* Never more than the cap with a socket in connect or handshake; the
     * others waited without one. */
    cr_assert_leq(g->max_in_flight, 2, "%u in flight", g->max_in_flight);
    cr_assert_eq(conn_handshake_cap(), CONN_HANDSHAKES_MAX);
    cr_assert_eq(e.s.accepted, GATE_CONNS - 1);
    cr_assert_eq(conn_handshakes_in_flight(), 0);
    gate_teardown(&e);
}

/* A burst of GATE_CONNS TLS connections under cap (one connection closed
 * while it waits when drop >= 0); their number done. */
static int gate_burst(unsigned cap, int drop)
{
    gate_env e;
    gate_run *g = gate_setup(&e);
    gate_open_all(g, &e.s, e.ctx, cap, drop);
    int done = g->done;
    gate_teardown(&e);
    return done;
}

Test(conn, an_emptied_gate_trims_the_heap_after_a_burst_only)
{
    /* The gate empties after 15 handshakes, a burst over its cap of 2:
     * one heap trim. 16 more under a cap of 100 are no such burst. */
    cr_assert_eq(conn_gate_trims(), 0);
    int done = gate_burst(2, 5);
    cr_assert_eq(done, GATE_CONNS - 1, "only %d connections finished in 5 s", done);
    cr_assert_eq(conn_gate_trims(), 1);
    done = gate_burst(100, -1);
    cr_assert_eq(done, GATE_CONNS, "only %d connections finished in 5 s", done);
    cr_assert_eq(conn_gate_trims(), 1);
}

Test(conn, tls_shared_slot_empty_means_one_handshake_at_a_time)
{
    /* --share-tls-sessions: the burst waits for the first session instead
     * of making 16 full handshakes; then the others resume it together. */
    gate_env e;
    gate_run *g = gate_setup(&e);
    conn_tls_share share = {0};
    g->share = &share;
    gate_open_all(g, &e.s, e.ctx, 0, -1);
    cr_assert_eq(g->done, GATE_CONNS, "only %d connections finished in 5 s", g->done);
    for (int i = 0; i < GATE_CONNS; i++)
        cr_assert_eq(g->status[i], 0, "conn %d: %s", i, conn_tls_error(&g->c[i]));
    cr_assert_eq(g->max_in_flight_empty, 1, "%u in flight with no session",
                 g->max_in_flight_empty);
    cr_assert_gt(g->max_in_flight, 1, "the others never ran together");
    cr_assert_leq(share.ended, CONN_SHARE_ALONE);
    cr_assert_geq(e.s.resumed, GATE_CONNS - (int)CONN_SHARE_ALONE, "%d resumed", e.s.resumed);
    cr_assert_not_null(share.session);
    cr_assert_eq(conn_handshakes_in_flight(), 0);
    gate_teardown(&e);
    tls_session_free(share.session);
}

Test(conn, without_a_tight_cap_handshakes_run_together)
{
    /* The same burst with the default cap: all at once (what the test
     * above would see without the gate). */
    gate_env e;
    gate_run *g = gate_setup(&e);
    gate_open_all(g, &e.s, e.ctx, 0, -1);
    cr_assert_eq(g->done, GATE_CONNS);
    cr_assert_eq(g->max_in_flight, GATE_CONNS);
    gate_teardown(&e);
}
