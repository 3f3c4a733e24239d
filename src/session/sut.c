/* sut: see sut.h. Readiness by default is a TCP connect to the load's
 * address; --ready URL is a plain GET without body (any HTTP response is
 * an answer). --cold sends the load's own request on a fresh connection
 * until one succeeds (status below 400) and times it from the exec. */
#include "session/sut.h"

#include "core/clock.h"
#include "load/plan.h"
#include "net/tls.h"
#include "proto/http1.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A blocking connection whose reads and writes give up at deadline_ns (at
 * least 100 ms from now): a slow cold first response is waited for, not cut
 * short and sent again. */
static int connect_to(const addr *a, uint64_t deadline_ns)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    uint64_t now = clock_now_ns();
    uint64_t left = deadline_ns > now + 100 * NS_PER_MS ? deadline_ns - now : 100 * NS_PER_MS;
    struct timeval tv = {.tv_sec = (time_t)(left / NS_PER_S),
                         .tv_usec = (suseconds_t)(left % NS_PER_S / 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The probe's connection: a blocking socket, with TLS over it for an https
 * target (--cold), checked as the load checks it. */
typedef struct probe_io {
    int fd;
    struct ssl_st *ssl;
    void *session;
    tls_fail f;
} probe_io;

static bool io_start(probe_io *io, tls_client_ctx *tls, const char *sni)
{
    if (!tls)
        return true;
    if (!(io->ssl = tls_io_connect_new(tls, io->fd, sni, &io->session, false)))
        return false;
    unsigned want = 0;
    /* Blocking: done or failed (-EAGAIN only when SO_RCVTIMEO ran out). */
    return tls_io_handshake(io->ssl, &want, &io->f) == 0;
}

static ssize_t io_send(probe_io *io, const char *p, size_t n)
{
    unsigned want = 0;
    return io->ssl ? tls_io_write(io->ssl, p, n, &want, &io->f) : send(io->fd, p, n, MSG_NOSIGNAL);
}

static ssize_t io_read(probe_io *io, char *p, size_t n)
{
    unsigned want = 0;
    return io->ssl ? tls_io_read(io->ssl, p, n, &want, &io->f) : read(io->fd, p, n);
}

static void io_end(probe_io *io)
{
    if (io->ssl)
        tls_io_free(io->ssl, false, false);
    tls_session_free(io->session);
    close(io->fd);
}

/* Sends req and reads one whole response; its status, or -1. */
static int exchange(const addr *a, const buf *req, bool head, uint64_t deadline_ns,
                    tls_client_ctx *tls, const char *sni)
{
    probe_io io = {.fd = connect_to(a, deadline_ns)};
    if (io.fd < 0)
        return -1;
    int status = -1;
    if (io_start(&io, tls, sni) && io_send(&io, req->data, req->len) == (ssize_t)req->len) {
        http1_resp r;
        http1_resp_begin(&r, head, NULL);
        char tmp[16384];
        for (;;) {
            ssize_t n = io_read(&io, tmp, sizeof tmp);
            size_t used;
            int rc = n > 0 ? http1_resp_parse(&r, tmp, (size_t)n, &used)
                     : n == 0 ? http1_resp_eof(&r) : HTTP1_ECLOSED;
            if (rc == HTTP1_DONE)
                status = r.status;
            if (rc != HTTP1_NEED_MORE || n == 0)
                break;
        }
    }
    io_end(&io);
    return status;
}

static bool connects(const addr *a, uint64_t deadline_ns)
{
    int fd = connect_to(a, deadline_ns);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

/* Calls probe until it is true, the child exits or the deadline passes. */
static int wait_until(bool (*probe)(void *), void *ctx, pid_t pid, uint64_t deadline_ns,
                      const char *what, const char *timeout_text, err *e)
{
    for (;;) {
        if (!proc_alive(pid))
            return err_set(e, VOLLEY_EINVAL, "--exec: the command exited before %s", what);
        if (probe(ctx))
            return 0;
        if (clock_now_ns() >= deadline_ns)
            return err_set(e, VOLLEY_EINVAL, "--exec: %s not within %s (--exec-timeout)", what,
                           timeout_text);
        clock_sleep_ns(10 * NS_PER_MS);
    }
}

typedef struct probe_ctx {
    const addr *a;
    const buf *req;
    bool head;
    tls_client_ctx *tls;
    const char *sni;
    uint64_t deadline_ns;
    int status;
    uint32_t attempts;
    uint64_t sent_ns, done_ns;
} probe_ctx;

static bool probe_connect(void *ctx)
{
    probe_ctx *c = ctx;
    return connects(c->a, c->deadline_ns);
}

static bool probe_answer(void *ctx)
{
    probe_ctx *c = ctx;
    return exchange(c->a, c->req, c->head, c->deadline_ns, NULL, NULL) > 0;
}

static bool probe_success(void *ctx)
{
    probe_ctx *c = ctx;
    c->attempts++;
    c->sent_ns = clock_now_ns();
    c->status = exchange(c->a, c->req, c->head, c->deadline_ns, c->tls, c->sni);
    c->done_ns = clock_now_ns();
    return c->status >= 100 && c->status < 400;
}

/* A GET of the --ready URL, compiled on its own: no method, header or body
 * of the load. */
static int wait_ready_url(const char *ready_url, bool connect_only, pid_t pid,
                          uint64_t deadline_ns, const char *tt, err *e)
{
    static plan p; /* large; compiled only for its address and request */
    plan_init(&p);
    int rc = plan_add_endpoint_parts(&p, "ready", "GET", ready_url, "--ready", e) ? 0 : VOLLEY_EINVAL;
    if (!rc)
        rc = plan_compile(&p, e);
    if (!rc && p.target_tls[p.eps[0].target_idx])
        rc = err_set(e, VOLLEY_EINVAL, "--ready: https is not supported; give an http URL");
    if (!rc) {
        probe_ctx c = {.a = &p.targets[p.eps[0].target_idx], .req = &p.eps[0].request,
                       .deadline_ns = deadline_ns};
        char what[300];
        snprintf(what, sizeof what, connect_only ? "%.250s accepted a connection"
                                                 : "%.250s answered", ready_url);
        rc = wait_until(connect_only ? probe_connect : probe_answer, &c, pid, deadline_ns, what,
                        tt, e);
    }
    plan_free(&p);
    return rc;
}

static int wait_ready(sut *s, const sut_options *o, uint64_t t0, err *e)
{
    uint64_t timeout = o->exec_timeout_ns ? o->exec_timeout_ns : SUT_EXEC_TIMEOUT_NS;
    char tt[32];
    snprintf(tt, sizeof tt, "%.3gs", (double)timeout / NS_PER_S);
    int rc;
    if (o->ready_url) {
        rc = wait_ready_url(o->ready_url, o->ready_connect_only, s->exec_pid, t0 + timeout, tt, e);
    } else {
        probe_ctx c = {.a = o->connect_addr, .deadline_ns = t0 + timeout};
        rc = wait_until(probe_connect, &c, s->exec_pid, t0 + timeout,
                        "it accepted a connection", tt, e);
    }
    s->ready_ms = (double)(clock_now_ns() - t0) / NS_PER_MS;
    if (rc || !o->cold_request)
        return rc;
    s->cold.ready_ms = s->ready_ms;
    probe_ctx c = {.a = o->connect_addr, .req = o->cold_request, .head = o->cold_head,
                   .tls = o->cold_tls, .sni = o->cold_sni, .deadline_ns = t0 + timeout};
    if ((rc = wait_until(probe_success, &c, s->exec_pid, t0 + timeout,
                         "a first successful response (--cold)", tt, e)))
        return rc;
    s->cold = (results_cold){.measured = true, .ready_ms = s->cold.ready_ms,
                             .start_ms = (double)(c.done_ns - t0) / NS_PER_MS,
                             .first_ms = (double)(c.done_ns - c.sent_ns) / NS_PER_MS,
                             .status = c.status, .attempts = c.attempts};
    return 0;
}

int sut_start(sut *s, const sut_options *o, err *e)
{
    memset(s, 0, sizeof *s);
    s->exec_cmd = o->exec_cmd;
    if (o->exec_cmd) {
        if (!o->ready_url && !o->connect_addr)
            return err_set(e, VOLLEY_EINVAL,
                           "--exec: with a script, give --ready URL (what to wait for)");
        uint64_t t0 = s->exec_ns = clock_now_ns();
        s->exec_pid = proc_spawn(o->exec_cmd, o->log_path, o->quiet, e);
        if (s->exec_pid < 0) {
            s->exec_pid = 0;
            return e->code ? e->code : VOLLEY_ESYS;
        }
        int rc = wait_ready(s, o, t0, e);
        if (rc)
            return rc;
    }
    int pid = o->monitor_pid ? o->monitor_pid : s->exec_pid;
    if (pid && !(s->mon = monitor_start(pid, 0.5, e)))
        return VOLLEY_EINVAL;
    return 0;
}

void sut_mark(sut *s)
{
    if (s->mon)
        monitor_mark(s->mon);
}

void sut_stop(sut *s, results *r)
{
    if (r)
        r->cold = s->cold;
    if (s->mon) {
        if (r)
            snprintf(r->monitor.command, sizeof r->monitor.command, "%s",
                     s->exec_cmd ? s->exec_cmd : "");
        results_monitor tmp = {0};
        monitor_stop(s->mon, r ? &r->monitor : &tmp);
        free(tmp.samples);
        s->mon = NULL;
    }
    if (s->exec_pid > 0) {
        proc_stop(s->exec_pid, 5000);
        s->exec_pid = 0;
    }
}
