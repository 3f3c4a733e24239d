/* bench/floor.c: the floor for one HTTP/1.1 request shape. N keep-alive
 * connections on one epoll loop each write a fixed GET and read until the
 * response ends (headers + Content-Length body), then write the next one.
 * No timing, no histograms, no parsing beyond the end of the response: its
 * requests per CPU-second bound what any client can do. Not part of volley.
 *
 * With FLOOR_URING=1 (built with -DHAVE_URING -luring) the same client
 * runs on io_uring instead: a recv and a send per request as SQEs, many
 * connections' completions reaped per io_uring_enter, to see whether
 * batching the syscalls lowers the floor (docs/performance.md). With
 * FLOOR_URING=2, receive is one multishot recv per connection drawing from
 * a ring of provided buffers (armed once, not once per response; the
 * kernel picks the buffer), sends as before.
 *
 * usage: floor HOST PORT CONNS SECONDS [PATH]  -> prints "responses seconds" */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#define BUF_CAP 16384

struct fconn {
    int fd;
    size_t len; /* bytes buffered of the current response */
    char buf[BUF_CAP];
};

static char req[512];
static size_t req_len;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* Length of the complete response at the start of b, or 0 if not yet. */
static size_t response_end(const char *b, size_t n)
{
    const char *h = memmem(b, n, "\r\n\r\n", 4);
    if (!h)
        return 0;
    size_t head = (size_t)(h - b) + 4;
    size_t body = 0;
    const char *cl = memmem(b, head, "\r\nContent-Length:", 17);
    if (!cl)
        cl = memmem(b, head, "\r\ncontent-length:", 17);
    if (cl)
        body = strtoul(cl + 17, NULL, 10);
    return head + body <= n ? head + body : 0;
}

static void send_req(struct fconn *c)
{
    ssize_t w = write(c->fd, req, req_len);
    if (w != (ssize_t)req_len)
        die("write (short or failed)");
}

/* Reads what is there; returns the responses completed. */
static long on_readable(struct fconn *c)
{
    long done = 0;
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, BUF_CAP - c->len);
        if (r < 0 && errno == EAGAIN)
            return done;
        if (r <= 0)
            die("read (server closed or failed)");
        size_t room = BUF_CAP - c->len;
        c->len += (size_t)r;
        size_t end;
        while ((end = response_end(c->buf, c->len)) > 0) {
            memmove(c->buf, c->buf + end, c->len - end);
            c->len -= end;
            done++;
            send_req(c);
        }
        if (c->len == BUF_CAP)
            die("response larger than the buffer");
        if ((size_t)r < room)
            return done; /* short read: the socket is drained */
    }
}

static int open_conn(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "floor: %s is not an IPv4 address\n", host);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect");
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        die("fcntl");
    return fd;
}

#ifdef HAVE_URING
#include <liburing.h>

/* user_data: connection index << 1 | 1 for a send, 0 for a recv. */
static void queue_recv(struct io_uring *r, struct fconn *cs, size_t i)
{
    struct io_uring_sqe *q = io_uring_get_sqe(r);
    io_uring_prep_recv(q, cs[i].fd, cs[i].buf + cs[i].len, BUF_CAP - cs[i].len, 0);
    io_uring_sqe_set_data64(q, i << 1);
}

static void queue_send(struct io_uring *r, struct fconn *cs, size_t i)
{
    struct io_uring_sqe *q = io_uring_get_sqe(r);
    io_uring_prep_send(q, cs[i].fd, req, req_len, 0);
    io_uring_sqe_set_data64(q, i << 1 | 1);
}

/* One recv in flight per connection; a complete response queues the next
 * request and the next recv; one io_uring_enter submits them all and
 * waits for at least one completion. */
static long run_uring(struct fconn *cs, int n, double end)
{
    struct io_uring r;
    if (io_uring_queue_init((unsigned)(2 * n + 16), &r, 0) != 0)
        die("io_uring_queue_init");
    for (int i = 0; i < n; i++) {
        queue_send(&r, cs, (size_t)i);
        queue_recv(&r, cs, (size_t)i);
    }
    long total = 0;
    while (now_s() < end) {
        io_uring_submit_and_wait(&r, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&r, head, cqe) {
            seen++;
            size_t i = (size_t)(cqe->user_data >> 1);
            if (cqe->user_data & 1) {
                if (cqe->res != (int)req_len)
                    die("send (short or failed)");
                continue;
            }
            if (cqe->res <= 0)
                die("recv (server closed or failed)");
            cs[i].len += (size_t)cqe->res;
            size_t e;
            while ((e = response_end(cs[i].buf, cs[i].len)) > 0) {
                memmove(cs[i].buf, cs[i].buf + e, cs[i].len - e);
                cs[i].len -= e;
                total++;
                queue_send(&r, cs, i);
            }
            queue_recv(&r, cs, i);
        }
        io_uring_cq_advance(&r, seen);
    }
    return total;
}

#define MS_BUFS 1024u   /* provided buffers (a power of two) */
#define MS_BUF_SZ 2048u

static void queue_recv_ms(struct io_uring *r, struct fconn *cs, size_t i)
{
    struct io_uring_sqe *q = io_uring_get_sqe(r);
    io_uring_prep_recv_multishot(q, cs[i].fd, NULL, 0, 0);
    q->flags |= IOSQE_BUFFER_SELECT;
    q->buf_group = 0;
    io_uring_sqe_set_data64(q, i << 1);
}

/* The ring of provided buffers (group 0), all of them given to the kernel. */
static struct io_uring_buf_ring *ms_buffers(struct io_uring *r, char **bufs)
{
    void *mem = mmap(NULL, MS_BUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    *bufs = malloc((size_t)MS_BUFS * MS_BUF_SZ);
    if (mem == MAP_FAILED || !*bufs)
        die("buffers");
    struct io_uring_buf_ring *br = mem;
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = MS_BUFS};
    int rc = io_uring_register_buf_ring(r, &reg, 0);
    if (rc) {
        errno = -rc;
        die("io_uring_register_buf_ring");
    }
    for (unsigned b = 0; b < MS_BUFS; b++)
        io_uring_buf_ring_add(br, *bufs + (size_t)b * MS_BUF_SZ, MS_BUF_SZ, (unsigned short)b,
                              io_uring_buf_ring_mask(MS_BUFS), (int)b);
    io_uring_buf_ring_advance(br, MS_BUFS);
    return br;
}

/* A multishot recv's completion: its bytes appended to the connection's
 * response, the buffer given back. Returns the responses completed. */
static long ms_received(struct io_uring *r, struct io_uring_buf_ring *br, char *bufs,
                        struct fconn *cs, size_t i, struct io_uring_cqe *cqe, int *returned)
{
    long done = 0;
    if (cqe->res == -ENOBUFS) {
        queue_recv_ms(r, cs, i); /* ran out of buffers: armed again */
        return 0;
    }
    if (cqe->res <= 0 || !(cqe->flags & IORING_CQE_F_BUFFER))
        die("recv multishot (server closed or failed)");
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    if (cs[i].len + (size_t)cqe->res > BUF_CAP)
        die("response larger than the buffer");
    memcpy(cs[i].buf + cs[i].len, bufs + (size_t)bid * MS_BUF_SZ, (size_t)cqe->res);
    cs[i].len += (size_t)cqe->res;
    io_uring_buf_ring_add(br, bufs + (size_t)bid * MS_BUF_SZ, MS_BUF_SZ, (unsigned short)bid,
                          io_uring_buf_ring_mask(MS_BUFS), (*returned)++);
    size_t e;
    while ((e = response_end(cs[i].buf, cs[i].len)) > 0) {
        memmove(cs[i].buf, cs[i].buf + e, cs[i].len - e);
        cs[i].len -= e;
        done++;
        queue_send(r, cs, i);
    }
    if (!(cqe->flags & IORING_CQE_F_MORE))
        queue_recv_ms(r, cs, i);
    return done;
}

static long run_uring_multishot(struct fconn *cs, int n, double end)
{
    struct io_uring r;
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    if (io_uring_queue_init_params((unsigned)(2 * n + 16), &r, &p) != 0) {
        memset(&p, 0, sizeof p); /* an older kernel: no task-run deferral */
        if (io_uring_queue_init_params((unsigned)(2 * n + 16), &r, &p) != 0)
            die("io_uring_queue_init");
    }
    char *bufs;
    struct io_uring_buf_ring *br = ms_buffers(&r, &bufs);
    for (int i = 0; i < n; i++) {
        queue_send(&r, cs, (size_t)i);
        queue_recv_ms(&r, cs, (size_t)i);
    }
    long total = 0;
    while (now_s() < end) {
        io_uring_submit_and_wait(&r, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        int returned = 0;
        io_uring_for_each_cqe(&r, head, cqe) {
            seen++;
            size_t i = (size_t)(cqe->user_data >> 1);
            if (cqe->user_data & 1) {
                if (cqe->res != (int)req_len)
                    die("send (short or failed)");
                continue;
            }
            total += ms_received(&r, br, bufs, cs, i, cqe, &returned);
        }
        io_uring_buf_ring_advance(br, returned);
        io_uring_cq_advance(&r, seen);
    }
    return total;
}
#endif

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: floor HOST PORT CONNS SECONDS [PATH]\n");
        return 2;
    }
    int port = atoi(argv[2]), n = atoi(argv[3]);
    double secs = atof(argv[4]);
    req_len = (size_t)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                               argc > 5 ? argv[5] : "/", argv[1], port);
    struct fconn *cs = calloc((size_t)n, sizeof *cs);
    int ep = epoll_create1(0);
    if (!cs || ep < 0)
        die("setup");
    for (int i = 0; i < n; i++) {
        cs[i].fd = open_conn(argv[1], port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0)
            die("epoll_ctl");
    }
    double t0 = now_s(), end = t0 + secs;
#ifdef HAVE_URING
    if (getenv("FLOOR_URING") && atoi(getenv("FLOOR_URING"))) {
        long got = atoi(getenv("FLOOR_URING")) == 2 ? run_uring_multishot(cs, n, end)
                                                    : run_uring(cs, n, end);
        printf("%ld %.3f\n", got, now_s() - t0);
        return 0;
    }
#endif
    for (int i = 0; i < n; i++)
        send_req(&cs[i]);
    long total = 0;
    struct epoll_event evs[256];
    /* The clock is read once per wakeup batch, as volley does. */
    while (now_s() < end) {
        int k = epoll_wait(ep, evs, 256, 100);
        if (k < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < k; i++)
            total += on_readable(evs[i].data.ptr);
    }
    printf("%ld %.3f\n", total, now_s() - t0);
    return 0;
}
