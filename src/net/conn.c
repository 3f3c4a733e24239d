/* conn: a client connection on a worker's loop (see conn.h). Two transports
 * as peers: plain TCP, and TLS over net/tls (as wrk's ssl.c). A TLS conn
 * stays CONN_CONNECTING through its handshake, which the loop drives as
 * OpenSSL asks (want read / want write), so the owner sees one on_connect.
 * TLS connections of a thread take turns through a handshake gate. */
#include "net/conn.h"

#include "core/clock.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t tcp_read(conn *c, void *p, size_t n)
{
    for (;;) {
        ssize_t r = read(c->fd, p, n);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return -errno;
    }
}

static ssize_t tcp_write(conn *c, const void *p, size_t n)
{
    for (;;) {
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return -errno;
    }
}

static const conn_transport tcp_transport = {tcp_read, tcp_write};

static void update_events(conn *c);

/* ---- the handshake gate: per thread (one loop each), so no lock ---- */

typedef struct hs_gate {
    unsigned cap, busy;
    conn *head, *tail; /* waiting for a slot, oldest first */
    bool pumping;
    unsigned since_trim;  /* slots given back since the last heap trim */
    unsigned trims;       /* heap trims done (conn_gate_trims) */
    uint64_t trim_ns;     /* when the last one was done (monotonic) */
} hs_gate;

static __thread hs_gate gate = {.cap = CONN_HANDSHAKES_MAX};

void conn_set_handshake_cap(unsigned cap)
{
    gate.cap = cap ? cap : CONN_HANDSHAKES_MAX;
}

unsigned conn_handshake_cap(void)
{
    return gate.cap;
}

unsigned conn_handshakes_in_flight(void)
{
    return gate.busy;
}

unsigned conn_gate_trims(void)
{
    return gate.trims;
}

/* Takes a slot for c, or queues it; true when it got one. */
/* The cap that applies to c: 1 while its shared session slot is empty (for
 * CONN_SHARE_ALONE handshakes at most, see conn_tls_share). */
static unsigned gate_cap_of(const conn *c)
{
    const conn_tls_share *s = c->share;
    return s && !s->session && s->ended < CONN_SHARE_ALONE ? 1 : gate.cap;
}

/* A handshake of c ended (either way): counts for its empty shared slot. */
static void share_ended(conn *c)
{
    if (c->share && !c->share->session)
        c->share->ended++;
}

static bool gate_enter(conn *c, const addr *a)
{
    if (gate.busy < gate_cap_of(c) && !gate.head) {
        gate.busy++;
        c->gate_slot = true;
        return true;
    }
    c->gate_addr = a;
    c->gate_waiting = true;
    c->gate_next = NULL;
    c->gate_prev = gate.tail;
    if (gate.tail)
        gate.tail->gate_next = c;
    else
        gate.head = c;
    gate.tail = c;
    return false;
}

/* Gives up c's slot or its place in the queue. */
static void gate_leave(conn *c)
{
    if (c->gate_slot) {
        c->gate_slot = false;
        gate.busy--;
        gate.since_trim++;
    }
    if (!c->gate_waiting)
        return;
    c->gate_waiting = false;
    if (c->gate_prev)
        c->gate_prev->gate_next = c->gate_next;
    else
        gate.head = c->gate_next;
    if (c->gate_next)
        c->gate_next->gate_prev = c->gate_prev;
    else
        gate.tail = c->gate_prev;
    c->gate_prev = c->gate_next = NULL;
}

static int open_socket(conn *c, const addr *a);

/* The gate is empty after a burst of handshakes (a cap's worth or more
 * since the last trim): their transient buffers (~50 KiB each: the
 * handshake message buffer, the record buffers) were freed in holes
 * between the long-lived objects of the connections made meanwhile, and
 * malloc_trim gives the whole free pages among them back to the system
 * (2.3 MB of 171 MB with 10,000 idle connections and
 * --share-tls-sessions; docs/performance.md). At most once a second: a
 * run that closes every connection (--no-keepalive) empties the gate
 * after each handshake. */
static void gate_trim(void)
{
    if (gate.busy || gate.head || gate.since_trim < gate.cap)
        return;
    uint64_t now = clock_now_ns();
    if (gate.trims && now - gate.trim_ns < NS_PER_S)
        return;
    gate.since_trim = 0;
    gate.trims++;
    gate.trim_ns = now;
    malloc_trim(0);
}

/* Starts the waiting connections that fit under the cap. Called once a
 * callback is done (never in the middle of one conn's own state change);
 * an immediate failure is that conn's on_connect. */
static void gate_pump(void)
{
    if (gate.pumping)
        return;
    gate.pumping = true;
    while (gate.head && gate.busy < gate_cap_of(gate.head)) {
        conn *c = gate.head;
        const addr *a = c->gate_addr;
        gate_leave(c);
        gate.busy++;
        c->gate_slot = true;
        int rc = open_socket(c, a);
        if (rc < 0) {
            gate_leave(c);
            c->h->on_connect(c, rc);
        }
    }
    gate.pumping = false;
    gate_trim();
}

/* SSL_read may need the socket writable (a key update to answer): then the
 * read waits for LOOP_WRITE instead of LOOP_READ, and the other way round
 * for SSL_write. */
static ssize_t tls_read(conn *c, void *p, size_t n)
{
    unsigned want = 0;
    ssize_t r = tls_io_read(c->ssl, p, n, &want, &c->tls_err);
    bool ww = r == -EAGAIN && want == LOOP_WRITE;
    if (ww != c->read_wants_write) {
        c->read_wants_write = ww;
        update_events(c);
    }
    return r;
}

static ssize_t tls_write(conn *c, const void *p, size_t n)
{
    unsigned want = 0;
    ssize_t r = tls_io_write(c->ssl, p, n, &want, &c->tls_err);
    bool wr = r == -EAGAIN && want == LOOP_READ;
    if (wr != c->write_wants_read) {
        c->write_wants_read = wr;
        update_events(c);
    }
    return r;
}

static const conn_transport tls_transport = {tls_read, tls_write};

void conn_init(conn *c, loop *lp, const conn_handlers *h, void *owner)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->state = CONN_CLOSED;
    c->lp = lp;
    c->h = h;
    c->owner = owner;
    c->tp = &tcp_transport;
}

static void update_events(conn *c)
{
    unsigned ev = 0;
    if (c->state == CONN_CONNECTING) {
        ev = c->ssl ? c->tls_want : c->tun_state ? LOOP_READ : LOOP_WRITE;
    } else if (c->state == CONN_OPEN) {
        if (c->out_off < c->out_len)
            ev |= c->write_wants_read ? LOOP_READ : LOOP_WRITE;
        if (c->want_read)
            ev |= c->read_wants_write ? LOOP_WRITE : LOOP_READ;
    }
    loop_set_events(c->lp, c->fd, ev);
}

/* Writes pending output; returns 0 when all written or would block, -errno. */
static int flush_out(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = c->tp->write(c, c->out + c->out_off, c->out_len - c->out_off);
        if (w == -EAGAIN)
            return 0;
        if (w < 0)
            return (int)w;
        c->out_off += (size_t)w;
    }
    return 0;
}

static void opened(conn *c)
{
    c->state = CONN_OPEN;
    c->want_read = true;
    update_events(c);
    c->h->on_connect(c, 0);
}

static void handshake_step(conn *c)
{
    unsigned want = 0;
    int rc = tls_io_handshake(c->ssl, &want, &c->tls_err);
    if (rc == -EAGAIN) {
        c->tls_want = want;
        update_events(c);
        return;
    }
    if (rc < 0) {
        share_ended(c);
        gate_leave(c);
        c->h->on_connect(c, CONN_ETLS);
        gate_pump();
        return;
    }
    c->handshake_ns = clock_now_ns() - c->handshake_ns;
    c->resumed = tls_io_resumed(c->ssl);
    share_ended(c);
    gate_leave(c);
    opened(c);
    gate_pump();
}

/* A connect that failed while it held (or waited for) a handshake slot:
 * the slot goes to the next connection once the owner was told. */
static void connect_failed(conn *c, int status)
{
    gate_leave(c);
    c->h->on_connect(c, status);
    gate_pump();
}

static void start_tls(conn *c)
{
    if (!c->tls_ctx) {
        opened(c);
        return;
    }
    c->ssl = tls_io_connect_new(c->tls_ctx, c->fd, c->sni,
                                c->share ? &c->share->session : &c->session, c->share != NULL);
    if (!c->ssl) {
        connect_failed(c, -ENOMEM);
        return;
    }
    c->handshake_ns = clock_now_ns(); /* the start, until it ends */
    handshake_step(c);
}

#define TUNNEL_HEAD_MAX (16 * 1024)

/* The TCP connection to the proxy is up: ask for the tunnel. */
static void tunnel_send(conn *c)
{
    char req[700];
    int n = snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: volley\r\n\r\n",
                     c->tunnel, c->tunnel);
    ssize_t w = tcp_write(c, req, (size_t)n);
    if (w != n) {
        connect_failed(c, w < 0 ? (int)w : -EIO);
        return;
    }
    c->tun_state = 1;
    c->tun_len = c->tun_last4 = 0;
    c->tun_status = 0;
    update_events(c);
}

/* The proxy's answer, read up to its blank line (nothing follows it until
 * we speak TLS): 2xx opens the tunnel. */
static void tunnel_read(conn *c)
{
    char b[512];
    for (;;) {
        ssize_t n = tcp_read(c, b, sizeof b);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            connect_failed(c, n < 0 ? (int)n : CONN_EPROXY);
            return;
        }
        for (ssize_t i = 0; i < n; i++, c->tun_len++) {
            if (c->tun_len < sizeof c->tun_head - 1)
                c->tun_head[c->tun_len] = b[i];
            c->tun_last4 = c->tun_last4 << 8 | (uint8_t)b[i];
            if (c->tun_last4 != 0x0d0a0d0a)
                continue;
            c->tun_head[c->tun_len < sizeof c->tun_head ? c->tun_len : sizeof c->tun_head - 1] = 0;
            int st = 0;
            if (!strncmp(c->tun_head, "HTTP/1.", 7) && sscanf(c->tun_head + 8, " %3d", &st) != 1)
                st = 0;
            c->tun_status = st;
            c->tun_state = 0;
            if (st < 200 || st > 299) {
                connect_failed(c, CONN_EPROXY);
                return;
            }
            start_tls(c);
            return;
        }
        if (c->tun_len > TUNNEL_HEAD_MAX) {
            connect_failed(c, CONN_EPROXY);
            return;
        }
    }
}

static void on_connecting(conn *c, unsigned events)
{
    if (c->ssl) {
        handshake_step(c);
        return;
    }
    if (c->tun_state) {
        tunnel_read(c);
        return;
    }
    if (!(events & (LOOP_WRITE | LOOP_ERROR)))
        return;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr) {
        gate_leave(c);
        c->h->on_connect(c, -soerr);
        gate_pump();
        return;
    }
    if (c->tunnel) {
        tunnel_send(c);
        return;
    }
    start_tls(c);
}

/* At most this many extra on_readable calls for bytes OpenSSL holds
 * decrypted (no socket event will announce them); a bound, not a loop
 * that an owner which stops reading could spin in. */
#define PENDING_ROUNDS 16

static void on_io(loop *l, int fd, void *data, unsigned events)
{
    (void)l;
    (void)fd;
    conn *c = data;
    if (c->state == CONN_CONNECTING) {
        on_connecting(c, events);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    unsigned wr_ready = c->write_wants_read ? LOOP_READ : LOOP_WRITE;
    if ((events & wr_ready) && c->out_off < c->out_len) {
        int rc = flush_out(c);
        if (rc < 0) {
            c->h->on_write_error(c, rc);
            return;
        }
        if (c->out_off == c->out_len) {
            update_events(c);
            if (c->h->on_sent) {
                c->h->on_sent(c);
                if (c->state != CONN_OPEN)
                    return;
            }
        }
    }
    unsigned rd_ready = c->read_wants_write ? LOOP_WRITE : LOOP_READ;
    if (events & (rd_ready | LOOP_ERROR))
        c->h->on_readable(c);
    for (int i = 0; i < PENDING_ROUNDS && c->ssl && c->state == CONN_OPEN && c->want_read &&
                    tls_io_pending(c->ssl);
         i++)
        c->h->on_readable(c);
}

int conn_open(conn *c, const addr *a)
{
    gate_leave(c); /* a conn opened again without a close keeps one place */
    c->out = NULL;
    c->out_len = c->out_off = 0;
    c->want_read = false;
    c->tp = c->tls_ctx ? &tls_transport : &tcp_transport;
    c->tls_err = (tls_fail){0};
    c->tls_want = 0;
    c->read_wants_write = c->write_wants_read = false;
    c->handshake_ns = 0;
    c->resumed = false;
    c->tun_state = 0;
    if (c->tls_ctx && !gate_enter(c, a)) {
        c->state = CONN_CONNECTING; /* waiting for a slot, no socket yet */
        return 0;
    }
    int rc = open_socket(c, a);
    if (rc < 0)
        gate_leave(c);
    return rc;
}

/* The socket and its non-blocking connect; 0 or a negative errno. */
static int open_socket(conn *c, const addr *a)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (a->sa.ss_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    if (loop_watch(c->lp, fd, LOOP_WRITE, on_io, c, NULL)) {
        close(fd);
        c->fd = -1;
        return -ENOMEM;
    }
    int rc;
    do
        rc = connect(fd, (const struct sockaddr *)&a->sa, a->len);
    while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        int e = errno;
        loop_unwatch(c->lp, fd);
        close(fd);
        c->fd = -1;
        return -e;
    }
    /* Even a loopback connect that completed at once reports through
     * on_connect from the loop, so the owner sees one code path. */
    c->state = CONN_CONNECTING;
    return 0;
}

int conn_send(conn *c, const char *data, size_t len)
{
    c->out = data;
    c->out_len = len;
    c->out_off = 0;
    int rc = flush_out(c);
    if (rc < 0)
        return rc;
    if (c->out_off < c->out_len) {
        update_events(c);
        return 0;
    }
    if (c->h->on_sent)
        c->h->on_sent(c);
    return 0;
}

ssize_t conn_read(conn *c, void *p, size_t n)
{
    return c->tp->read(c, p, n);
}

void conn_set_reading(conn *c, bool on)
{
    if (c->want_read == on || c->state != CONN_OPEN)
        return;
    c->want_read = on;
    update_events(c);
}

void conn_close(conn *c, bool reset)
{
    bool freed = c->gate_slot;
    gate_leave(c);
    if (c->fd < 0) {
        c->state = CONN_CLOSED;
        return;
    }
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (c->ssl) {
        /* An exchange that ended well keeps its session resumable. One whose
         * TLS failed (handshake, record error) gives it up: offering it
         * again could fail the same way. */
        bool tls_failed = c->state != CONN_OPEN || c->tls_err.code || c->tls_err.sys_errno;
        tls_io_free(c->ssl, !tls_failed, false);
        c->ssl = NULL;
        if (tls_failed) {
            void **slot = c->share ? &c->share->session : &c->session;
            tls_session_free(*slot);
            *slot = NULL;
        }
    }
    loop_unwatch(c->lp, c->fd);
    close(c->fd);
    c->fd = -1;
    c->state = CONN_CLOSED;
    c->out = NULL;
    c->out_len = c->out_off = 0;
    c->tun_state = 0;
    /* A freed slot goes to the next waiting connection (not while the
     * loop is being torn down: those would only be closed again). */
    if (freed && !loop_stopping(c->lp))
        gate_pump();
}

void conn_release(conn *c)
{
    conn_close(c, false);
    tls_session_free(c->session);
    c->session = NULL;
}

void conn_set_tls(conn *c, tls_client_ctx *ctx, const char *sni, conn_tls_share *share)
{
    if (ctx != c->tls_ctx) {
        /* A session belongs to the context (and server) it came from. */
        tls_session_free(c->session);
        c->session = NULL;
    }
    c->tls_ctx = ctx;
    c->sni = sni;
    c->share = share;
}

void conn_set_tunnel(conn *c, const char *authority) { c->tunnel = authority; }

const char *conn_tls_error(const conn *c)
{
    static __thread char msg[256];
    tls_fail_str(&c->tls_err, msg, sizeof msg);
    return msg;
}
