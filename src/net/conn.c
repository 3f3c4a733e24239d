/* conn: a client connection on a worker's loop (see conn.h). The plain TCP
 * transport lives here; a TLS transport will be a second conn_transport. */
#include "net/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
    if (c->state == CONN_CONNECTING || c->out_off < c->out_len)
        ev |= LOOP_WRITE;
    if (c->state == CONN_OPEN && c->want_read)
        ev |= LOOP_READ;
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

static void on_io(loop *l, int fd, void *data, unsigned events)
{
    (void)l;
    (void)fd;
    conn *c = data;
    if (c->state == CONN_CONNECTING) {
        if (!(events & (LOOP_WRITE | LOOP_ERROR)))
            return;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr) {
            c->h->on_connect(c, -soerr);
            return;
        }
        c->state = CONN_OPEN;
        c->want_read = true;
        update_events(c);
        c->h->on_connect(c, 0);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    if ((events & LOOP_WRITE) && c->out_off < c->out_len) {
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
    if (events & (LOOP_READ | LOOP_ERROR))
        c->h->on_readable(c);
}

int conn_open(conn *c, const addr *a)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->out = NULL;
    c->out_len = c->out_off = 0;
    c->want_read = false;
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
    if (c->fd < 0)
        return;
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    loop_unwatch(c->lp, c->fd);
    close(c->fd);
    c->fd = -1;
    c->state = CONN_CLOSED;
    c->out = NULL;
    c->out_len = c->out_off = 0;
}
