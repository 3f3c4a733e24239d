/* httpd: the outputs' HTTP server (see httpd.h). One thread, one epoll
 * set: the listener, an eventfd the main thread rings after a publish, and
 * up to HTTPD_MAX_CLIENTS connections, each with a small request buffer and
 * an output buffer. Requests are GET only; every answer but /events closes
 * the connection after it is sent. */
#include "output/httpd.h"

#include "core/buf.h"
#include "core/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTPD_MAX_CLIENTS 64
#define HTTPD_REQ_CAP 4096
#define HTTPD_OUT_MAX (4u << 20) /* a client this far behind is dropped */
#define HTTPD_HISTORY 900        /* events a new /events client is sent first */

typedef struct httpd_client {
    int fd;                  /* -1: free slot */
    char req[HTTPD_REQ_CAP];
    size_t reqlen;
    buf out;
    bool sse, closing;
} httpd_client;

struct httpd {
    int lfd, efd, ep;
    uint16_t port;
    const char *page;
    pthread_t thr;
    pthread_mutex_t mu;
    buf metrics, event;      /* guarded by mu */
    buf report;              /* guarded by mu: /report, once the run is over */
    buf past[HTTPD_HISTORY]; /* guarded by mu: the last events, oldest at past_head */
    size_t past_head, npast;
    uint64_t seq;            /* guarded by mu: bumped by each event */
    uint64_t sent_seq;       /* server thread */
    atomic_bool stop;
    _Atomic uint64_t dropped;
    httpd_client c[HTTPD_MAX_CLIENTS];
};

static void client_close(httpd *h, httpd_client *c)
{
    epoll_ctl(h->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    buf_free(&c->out);
    c->sse = c->closing = false;
    c->reqlen = 0;
}

/* Writes what it can; closes a finished non-SSE answer. */
static void client_flush(httpd *h, httpd_client *c)
{
    while (buf_unread(&c->out)) {
        ssize_t n = send(c->fd, buf_rpos(&c->out), buf_unread(&c->out), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(h->ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        if (n <= 0) {
            client_close(h, c);
            return;
        }
        buf_consume(&c->out, (size_t)n);
    }
    if (c->closing) {
        client_close(h, c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(h->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void answer(httpd_client *c, const char *status, const char *type, const char *body,
                   size_t len)
{
    buf_printf(&c->out,
               "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
               status, type, len);
    buf_append(&c->out, body, len);
    c->closing = true;
}

static void sse_event(httpd_client *c, const buf *event)
{
    if (!event->len)
        return;
    buf_printf(&c->out, "event: snap\ndata: %.*s\n\n", (int)event->len, event->data);
}

static void route(httpd *h, httpd_client *c)
{
    char method[8] = "", path[256] = "";
    if (sscanf(c->req, "%7s %255s", method, path) != 2 || strcmp(method, "GET")) {
        answer(c, "405 Method Not Allowed", "text/plain", "GET only\n", 9);
        return;
    }
    char *q = strchr(path, '?');
    if (q)
        *q = 0;
    pthread_mutex_lock(&h->mu);
    if (!strcmp(path, "/metrics")) {
        answer(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", h->metrics.data ? h->metrics.data : "",
               h->metrics.len);
    } else if (!strcmp(path, "/events")) {
        buf_printf(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                            "Cache-Control: no-store\r\nConnection: keep-alive\r\n\r\n"
                            "retry: 1000\n\n");
        /* The run so far, so a page opened late draws the whole chart. */
        for (size_t i = 0; i < h->npast; i++)
            sse_event(c, &h->past[(h->past_head + i) % HTTPD_HISTORY]);
        c->sse = true;
    } else if (!strcmp(path, "/report") && h->report.len) {
        answer(c, "200 OK", "text/html; charset=utf-8", h->report.data, h->report.len);
    } else if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
        answer(c, "200 OK", "text/html; charset=utf-8", h->page, strlen(h->page));
    } else {
        answer(c, "404 Not Found", "text/plain", "not found\n", 10);
    }
    pthread_mutex_unlock(&h->mu);
}

static void client_read(httpd *h, httpd_client *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->req + c->reqlen, HTTPD_REQ_CAP - 1 - c->reqlen, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0 || c->sse) { /* closed, or an SSE client sending more: done */
            if (n <= 0) {
                client_close(h, c);
                return;
            }
            continue;
        }
        c->reqlen += (size_t)n;
        c->req[c->reqlen] = 0;
        if (strstr(c->req, "\r\n\r\n")) {
            route(h, c);
            client_flush(h, c);
            return;
        }
        if (c->reqlen == HTTPD_REQ_CAP - 1) {
            answer(c, "431 Request Header Fields Too Large", "text/plain", "too large\n", 10);
            client_flush(h, c);
            return;
        }
    }
}

static void accept_all(httpd *h)
{
    for (;;) {
        int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        httpd_client *c = NULL;
        for (int i = 0; i < HTTPD_MAX_CLIENTS && !c; i++)
            if (h->c[i].fd < 0)
                c = &h->c[i];
        if (!c) {
            close(fd);
            atomic_fetch_add(&h->dropped, 1);
            continue;
        }
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(h->ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* Sends the newest event to every SSE client (older ones are skipped). */
static void broadcast(httpd *h)
{
    uint64_t v;
    if (read(h->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&h->mu);
    bool fresh = h->seq != h->sent_seq;
    h->sent_seq = h->seq;
    for (int i = 0; fresh && i < HTTPD_MAX_CLIENTS; i++) {
        httpd_client *c = &h->c[i];
        if (c->fd < 0 || !c->sse)
            continue;
        if (buf_unread(&c->out) > HTTPD_OUT_MAX) {
            atomic_fetch_add(&h->dropped, 1);
            client_close(h, c);
            continue;
        }
        sse_event(c, &h->event);
    }
    pthread_mutex_unlock(&h->mu);
    for (int i = 0; i < HTTPD_MAX_CLIENTS; i++)
        if (h->c[i].fd >= 0 && h->c[i].sse)
            client_flush(h, &h->c[i]);
}

static bool pending(const httpd *h)
{
    for (int i = 0; i < HTTPD_MAX_CLIENTS; i++)
        if (h->c[i].fd >= 0 && buf_unread(&h->c[i].out))
            return true;
    return false;
}

static void *serve(void *arg)
{
    httpd *h = arg;
    uint64_t deadline = 0;
    for (;;) {
        struct epoll_event evs[32];
        int n = epoll_wait(h->ep, evs, 32, 50);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &h->lfd)
                accept_all(h);
            else if (p == &h->efd)
                broadcast(h);
            else if (((httpd_client *)p)->fd >= 0 && (evs[i].events & EPOLLOUT))
                client_flush(h, p);
            else if (((httpd_client *)p)->fd >= 0)
                client_read(h, p);
        }
        if (atomic_load(&h->stop)) {
            /* Let the last event and answers go out, for a moment at most. */
            if (!deadline) {
                deadline = clock_now_ns() + 500 * NS_PER_MS;
                broadcast(h); /* an event published just before the stop */
            }
            if (!pending(h) || clock_now_ns() > deadline)
                break;
        }
    }
    return NULL;
}

static int listen_on(httpd *h, const addr *a, err *e)
{
    h->lfd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->lfd < 0)
        return err_sys(e, "socket");
    int one = 1;
    setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    char name[80];
    addr_format(a, name, sizeof name);
    if (bind(h->lfd, (const struct sockaddr *)&a->sa, a->len) || listen(h->lfd, 64))
        return err_sys(e, "cannot listen on %s", name);
    addr bound = {.len = sizeof bound.sa};
    getsockname(h->lfd, (struct sockaddr *)&bound.sa, &bound.len);
    h->port = addr_port(&bound);
    return 0;
}

static int loop_init(httpd *h, err *e)
{
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    if (h->efd < 0 || h->ep < 0)
        return err_sys(e, "epoll");
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = &h->lfd};
    struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &h->efd};
    if (epoll_ctl(h->ep, EPOLL_CTL_ADD, h->lfd, &le) || epoll_ctl(h->ep, EPOLL_CTL_ADD, h->efd, &ee))
        return err_sys(e, "epoll_ctl");
    return 0;
}

static void close_fds(httpd *h)
{
    for (int i = 0; i < HTTPD_MAX_CLIENTS; i++)
        if (h->c[i].fd >= 0)
            client_close(h, &h->c[i]);
    if (h->lfd >= 0)
        close(h->lfd);
    if (h->efd >= 0)
        close(h->efd);
    if (h->ep >= 0)
        close(h->ep);
}

httpd *httpd_start(const addr *a, const char *page, err *e)
{
    httpd *h = calloc(1, sizeof *h);
    if (!h) {
        err_set(e, VOLLEY_ENOMEM, "out of memory");
        return NULL;
    }
    h->lfd = h->efd = h->ep = -1;
    h->page = page;
    for (int i = 0; i < HTTPD_MAX_CLIENTS; i++)
        h->c[i].fd = -1;
    pthread_mutex_init(&h->mu, NULL);
    int rc = listen_on(h, a, e);
    if (!rc)
        rc = loop_init(h, e);
    if (!rc && (errno = pthread_create(&h->thr, NULL, serve, h)))
        rc = err_sys(e, "pthread_create");
    if (rc) {
        close_fds(h);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return NULL;
    }
    return h;
}

uint16_t httpd_port(const httpd *h) { return h->port; }

uint64_t httpd_dropped_clients(const httpd *h) { return atomic_load(&((httpd *)h)->dropped); }

static void set_text(buf *b, const char *s, size_t n)
{
    buf_reset(b);
    buf_append(b, s, n);
    buf_append(b, "", 1); /* NUL-terminated for the page answer */
    b->len--;
}

void httpd_publish(httpd *h, const char *metrics, size_t mlen, const char *event, size_t elen)
{
    pthread_mutex_lock(&h->mu);
    if (metrics)
        set_text(&h->metrics, metrics, mlen);
    if (event) {
        set_text(&h->event, event, elen);
        h->seq++;
        size_t slot = (h->past_head + h->npast) % HTTPD_HISTORY;
        if (h->npast == HTTPD_HISTORY)
            h->past_head = (h->past_head + 1) % HTTPD_HISTORY;
        else
            h->npast++;
        set_text(&h->past[slot], event, elen);
    }
    pthread_mutex_unlock(&h->mu);
    uint64_t one = 1;
    if (event && write(h->efd, &one, sizeof one) < 0) {
        /* eventfd full cannot happen with a counter; nothing to do */
    }
}

void httpd_set_report(httpd *h, const char *html, size_t len)
{
    pthread_mutex_lock(&h->mu);
    set_text(&h->report, html, len);
    pthread_mutex_unlock(&h->mu);
}

void httpd_stop(httpd *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, true);
    pthread_join(h->thr, NULL);
    close_fds(h);
    buf_free(&h->metrics);
    buf_free(&h->event);
    buf_free(&h->report);
    for (size_t i = 0; i < HTTPD_HISTORY; i++)
        buf_free(&h->past[i]);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
