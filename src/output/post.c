/* post: the outputs' HTTP client thread (see post.h). One connection per
 * body (Connection: close): bodies go once a second, so keeping one open
 * buys nothing and a database restart needs no reconnect logic. A 2xx
 * answer delivers a body, a 4xx gives it up (it would fail again), anything
 * else (refused, timeout, 5xx) leaves it queued for the next try. */
#include "output/post.h"

#include "core/buf.h"
#include "core/clock.h"
#include "net/addr.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define POST_IO_TIMEOUT_MS 2000
#define POST_RETRY_MS 250

typedef struct post_item {
    char *body;
    size_t len;
    uint64_t npoints;
    uint64_t id;             /* to tell whether it is still queued after a try */
} post_item;

struct poster {
    poster_config c;
    url u;
    addr a;
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    post_item *q;            /* ring of c.max_queued */
    size_t head, n;
    uint64_t next_id;
    bool stop;
    uint64_t deadline_ns;    /* with stop: give up after this */
    poster_stats st;
};

/* What a failed socket call says: a timeout (SO_SNDTIMEO/SO_RCVTIMEO
 * expired: EAGAIN, or EINPROGRESS from connect) in words, else errno's. */
static const char *io_error(int code, char *tmp, size_t cap, long timeout_ms)
{
    if (code == EAGAIN || code == EWOULDBLOCK || code == EINPROGRESS) {
        snprintf(tmp, cap, "timed out after %ld ms", timeout_ms);
        return tmp;
    }
    return strerror(code);
}

/* The answer's body as one line of the report: line breaks and other
 * control characters become spaces, trailing spaces go. */
static void one_line(char *s)
{
    size_t n = 0;
    for (char *c = s; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
        if (*c != ' ')
            n = (size_t)(c - s) + 1;
    }
    s[n] = 0;
}

/* One request, each socket call bounded by timeout_ms; returns the HTTP
 * status, or -1 when no answer came. */
static int exchange(poster *p, const post_item *it, long timeout_ms, char *why, size_t cap)
{
    char tmp[48];
    int fd = socket(p->a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, cap, "socket: %s", strerror(errno));
        return -1;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int status = -1;
    buf req = {0};
    buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nUser-Agent: volley\r\n\r\n",
               p->c.method, p->u.path, p->u.hostport, p->c.content_type, it->len);
    buf_append(&req, it->body, it->len);
    if (connect(fd, (const struct sockaddr *)&p->a.sa, p->a.len) != 0) {
        snprintf(why, cap, "connect: %s", io_error(errno, tmp, sizeof tmp, timeout_ms));
    } else if (send(fd, req.data, req.len, MSG_NOSIGNAL) != (ssize_t)req.len) {
        snprintf(why, cap, "send: %s", io_error(errno, tmp, sizeof tmp, timeout_ms));
    } else {
        char ans[512];
        ssize_t n = recv(fd, ans, sizeof ans - 1, 0);
        if (n > 0) {
            ans[n] = 0;
            if (sscanf(ans, "HTTP/1.%*d %d", &status) != 1)
                status = -1;
            char *body = strstr(ans, "\r\n\r\n");
            snprintf(why, cap, "HTTP %d%s%.120s", status, body ? ": " : "", body ? body + 4 : "");
            one_line(why);
        } else {
            snprintf(why, cap, "no answer: %s",
                     n ? io_error(errno, tmp, sizeof tmp, timeout_ms) : "closed");
        }
    }
    buf_free(&req);
    close(fd);
    return status;
}

static void drop_front(poster *p, bool delivered)
{
    post_item *it = &p->q[p->head];
    if (delivered) {
        p->st.delivered += it->npoints;
        p->st.bodies_ok++;
    } else {
        p->st.undelivered += it->npoints;
        p->st.bodies_failed++;
    }
    free(it->body);
    it->body = NULL;
    p->head = (p->head + 1) % p->c.max_queued;
    p->n--;
}

/* Waits for a body (or the stop); false when the thread should end. */
static bool wait_item(poster *p)
{
    while (!p->n && !p->stop)
        pthread_cond_wait(&p->cv, &p->mu);
    if (!p->n)
        return false;
    return !(p->stop && clock_now_ns() > p->deadline_ns);
}

static void *run(void *arg)
{
    poster *p = arg;
    pthread_mutex_lock(&p->mu);
    while (wait_item(p)) {
        post_item it = p->q[p->head]; /* the body stays owned by the queue */
        it.body = malloc(it.len ? it.len : 1);
        if (it.body)
            memcpy(it.body, p->q[p->head].body, it.len);
        /* Once stopping, a try ends by the deadline: a receiver that never
         * answers does not hold the end of the run longer than promised. */
        long timeout_ms = POST_IO_TIMEOUT_MS;
        if (p->stop) {
            uint64_t now = clock_now_ns();
            uint64_t left_ms = p->deadline_ns > now ? (p->deadline_ns - now) / 1000000 : 0;
            if (left_ms < (uint64_t)timeout_ms)
                timeout_ms = left_ms ? (long)left_ms : 1;
        }
        pthread_mutex_unlock(&p->mu);
        char why[200] = "out of memory";
        int status = it.body ? exchange(p, &it, timeout_ms, why, sizeof why) : -1;
        free(it.body);
        pthread_mutex_lock(&p->mu);
        if (status < 200 || status >= 300)
            snprintf(p->st.last_error, sizeof p->st.last_error, "%s", why);
        bool queued = p->n && p->q[p->head].id == it.id;
        if (!queued) { /* given up while being sent: count what really happened */
            if (status >= 200 && status < 300) {
                p->st.undelivered -= it.npoints;
                p->st.delivered += it.npoints;
                p->st.bodies_failed--;
                p->st.bodies_ok++;
            }
            continue;
        }
        if (status >= 200 && status < 500) {
            drop_front(p, status < 300);
            continue;
        }
        p->st.retries++;
        /* Wait a moment before the next try (a new body may wake it early). */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += POST_RETRY_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int resolve(poster *p, err *e)
{
    int rc = addr_parse_url(p->c.url, p->c.flag, &p->u, e);
    if (rc)
        return rc;
    if (p->u.tls || strcmp(p->u.scheme, "http"))
        return err_set(e, VOLLEY_EINVAL, "%s: only http:// URLs are supported", p->c.flag);
    return addr_resolve(&p->u, p->c.flag, &p->a, e);
}

poster *poster_new(const poster_config *c, err *e)
{
    poster *p = calloc(1, sizeof *p);
    if (!p || !(p->q = calloc(c->max_queued ? c->max_queued : 1, sizeof *p->q))) {
        free(p);
        err_set(e, VOLLEY_ENOMEM, "out of memory");
        return NULL;
    }
    p->c = *c;
    if (!p->c.max_queued)
        p->c.max_queued = 1;
    if (resolve(p, e)) {
        free(p->q);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if ((errno = pthread_create(&p->thr, NULL, run, p))) {
        err_sys(e, "%s: pthread_create", c->flag);
        free(p->q);
        free(p);
        return NULL;
    }
    return p;
}

void poster_send(poster *p, const char *body, size_t len, uint64_t npoints)
{
    char *copy = malloc(len ? len : 1);
    pthread_mutex_lock(&p->mu);
    if (!copy) {
        p->st.undelivered += npoints;
    } else {
        if (p->n == p->c.max_queued)
            drop_front(p, false); /* the oldest is given up: the buffer is bounded */
        memcpy(copy, body, len);
        p->q[(p->head + p->n) % p->c.max_queued] = (post_item){copy, len, npoints, ++p->next_id};
        p->n++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

void poster_stop(poster *p, uint64_t deadline_ns)
{
    pthread_mutex_lock(&p->mu);
    if (!p->stop) {
        p->stop = true;
        p->deadline_ns = deadline_ns;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void poster_finish(poster *p, uint64_t deadline_ns, poster_stats *out)
{
    poster_stop(p, deadline_ns);
    pthread_join(p->thr, NULL);
    while (p->n)
        drop_front(p, false);
    if (out)
        *out = p->st;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->q);
    free(p);
}
