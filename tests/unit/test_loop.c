/* Tests for net/loop: timer order and heap consistency under start/stop,
 * fairness between self-re-arming timers and fd events, fd events through
 * pipes and socketpairs, pausing, unwatching inside a batch, and stopping
 * a blocked loop from another thread. */
#include "net/loop.h"

#include "core/clock.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A hang becomes a crash report after s seconds. Not Criterion's .timeout:
 * with --jobs 2, Criterion 2.4.1's runner leaks 48 bytes per run with it,
 * which fails the LeakSanitizer build. */
static void hang_guard(unsigned s)
{
    alarm(s);
}

static loop *new_loop(void)
{
    err e = {0};
    loop *l = loop_new(&e);
    cr_assert_not_null(l, "%s", e.msg);
    return l;
}

static void make_pipe(int fds[2])
{
    cr_assert_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

static void stop_cb(loop *l, void *data)
{
    (void)data;
    loop_stop(l);
}

/* Stops l after ms milliseconds: the backstop for tests that wait. */
static void stop_after_ms(loop *l, loop_timer *t, uint64_t ms)
{
    loop_timer_init(t);
    loop_timer_start(l, t, loop_update_now(l) + ms * NS_PER_MS, stop_cb, NULL);
}

/* ---- timers ---- */

typedef struct order_log {
    uint64_t when[16384];
    size_t n;
    size_t bad;
} order_log;

typedef struct tick {
    loop_timer t;
    order_log *log;
    int id;
    bool fired;
} tick;

/* Records the firing; violations are counted and asserted once at the end
 * (ten thousand passing asserts would only flood the runner). */
static void log_cb(loop *l, void *data)
{
    tick *k = data;
    (void)l;
    k->log->bad += loop_timer_active(&k->t) || k->fired;
    k->fired = true;
    k->log->when[k->log->n++] = k->t.when_ns;
}

static void assert_sorted_once(const order_log *g)
{
    cr_assert_eq(g->bad, 0, "a timer fired twice or stayed scheduled while firing");
    size_t unsorted = 0;
    for (size_t i = 1; i < g->n; i++)
        unsorted += g->when[i - 1] > g->when[i];
    cr_assert_eq(unsorted, 0, "%zu timers fired out of order", unsorted);
}

Test(loop, timers_fire_in_order_of_when)
{
    loop *l = new_loop();
    static order_log olog;
    static const int ms[] = {30, 10, 20, 5, 40, 15, 1, 25};
    enum { N = sizeof ms / sizeof ms[0] };
    tick k[N];
    uint64_t now = loop_update_now(l);
    for (int i = 0; i < N; i++) {
        k[i] = (tick){.log = &olog, .id = i};
        loop_timer_init(&k[i].t);
        loop_timer_start(l, &k[i].t, now + (uint64_t)ms[i] * NS_PER_MS, log_cb, &k[i]);
    }
    cr_assert_eq(loop_timer_count(l), N);
    loop_timer stop;
    stop_after_ms(l, &stop, 60);
    loop_run(l);
    cr_assert_eq(olog.n, N);
    assert_sorted_once(&olog);
    cr_assert_geq(loop_now(l), now + 40 * NS_PER_MS, "did not fire early");
    cr_assert_eq(loop_timer_count(l), 0);
    loop_free(l);
}

static void count_cb(loop *l, void *data)
{
    (void)l;
    (*(int *)data)++;
}

Test(loop, timer_in_the_past_fires_on_the_next_turn)
{
    hang_guard(5);
    loop *l = new_loop();
    loop_timer t, stop;
    int fired = 0;
    loop_timer_init(&t);
    loop_timer_start(l, &t, 1, count_cb, &fired);
    /* Due at the same time, started later: the stop timer still runs in the
     * same pass, so the count proves the past timer did not wait. */
    loop_timer_init(&stop);
    loop_timer_start(l, &stop, 2, stop_cb, NULL);
    loop_run(l);
    cr_assert_eq(fired, 1);
    loop_free(l);
}

Test(loop, stopped_timer_does_not_fire_and_can_be_restarted)
{
    loop *l = new_loop();
    loop_timer t, stop;
    int fired = 0;
    loop_timer_init(&t);
    cr_assert(!loop_timer_active(&t));
    loop_timer_stop(l, &t); /* stopping an idle timer is a no-op */
    uint64_t now = loop_update_now(l);
    loop_timer_start(l, &t, now + NS_PER_MS, count_cb, &fired);
    cr_assert(loop_timer_active(&t));
    loop_timer_stop(l, &t);
    cr_assert(!loop_timer_active(&t));
    cr_assert_eq(loop_timer_count(l), 0);
    stop_after_ms(l, &stop, 20);
    loop_run(l);
    cr_assert_eq(fired, 0);
    loop_free(l);

    /* A fresh loop: restart, and re-scheduling an active timer moves it. */
    l = new_loop();
    now = loop_update_now(l);
    loop_timer_start(l, &t, now + 500 * NS_PER_MS, count_cb, &fired);
    loop_timer_start(l, &t, now + 2 * NS_PER_MS, count_cb, &fired); /* earlier */
    cr_assert_eq(loop_timer_count(l), 1, "re-start does not add a second entry");
    stop_after_ms(l, &stop, 30);
    loop_run(l);
    cr_assert_eq(fired, 1);
    cr_assert(!loop_timer_active(&t));
    loop_free(l);
}

Test(loop, rescheduling_later_delays_the_timer)
{
    loop *l = new_loop();
    loop_timer t, stop;
    int fired = 0;
    loop_timer_init(&t);
    uint64_t now = loop_update_now(l);
    loop_timer_start(l, &t, now + NS_PER_MS, count_cb, &fired);
    loop_timer_start(l, &t, now + 10 * NS_PER_S, count_cb, &fired); /* later */
    stop_after_ms(l, &stop, 30);
    loop_run(l);
    cr_assert_eq(fired, 0);
    cr_assert(loop_timer_active(&t));
    loop_timer_stop(l, &t);
    loop_free(l);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

enum { MANY = 10000 };

typedef struct many_ctx {
    tick k[MANY];
    order_log log;
    uint64_t seed;
} many_ctx;

/* Fires, and stops two random other timers: the heap changes under the
 * pass that is running timers. */
static many_ctx *many; /* one test process at a time uses it */

static void many_cb(loop *l, void *data)
{
    many_ctx *m = many;
    log_cb(l, data);
    for (int j = 0; j < 2; j++)
        loop_timer_stop(l, &m->k[rng_next(&m->seed) % MANY].t);
}

Test(loop, ten_thousand_random_timers_fire_sorted_while_others_are_stopped)
{
    hang_guard(20);
    loop *l = new_loop();
    many_ctx *m = many = calloc(1, sizeof *m);
    m->seed = 42;
    uint64_t now = loop_update_now(l);
    for (int i = 0; i < MANY; i++) {
        m->k[i] = (tick){.log = &m->log, .id = i};
        loop_timer_init(&m->k[i].t);
        /* Spread over 60 ms, many equal times, plus some in the past. */
        uint64_t when = now + (rng_next(&m->seed) % 600) * 100 * NS_PER_US;
        if (i % 10 == 0)
            when = now - (rng_next(&m->seed) % 1000);
        loop_timer_start(l, &m->k[i].t, when, many_cb, &m->k[i]);
    }
    /* Stop a random third before running, and re-schedule some. */
    size_t stopped = 0;
    for (int i = 0; i < MANY / 3; i++) {
        tick *k = &m->k[rng_next(&m->seed) % MANY];
        stopped += loop_timer_active(&k->t);
        loop_timer_stop(l, &k->t);
    }
    for (int i = 0; i < 500; i++) {
        tick *k = &m->k[rng_next(&m->seed) % MANY];
        if (loop_timer_active(&k->t))
            loop_timer_start(l, &k->t, now + (rng_next(&m->seed) % 600) * 100 * NS_PER_US,
                             many_cb, k);
    }
    cr_assert_eq(loop_timer_count(l), MANY - stopped);
    loop_timer stop;
    loop_timer_init(&stop);
    loop_timer_start(l, &stop, now + 200 * NS_PER_MS, stop_cb, NULL);
    loop_run(l);
    cr_assert_eq(loop_timer_count(l), 0, "every timer fired or was stopped");
    cr_assert_gt(m->log.n, MANY / 10);
    assert_sorted_once(&m->log);
    size_t active = 0;
    for (int i = 0; i < MANY; i++)
        active += loop_timer_active(&m->k[i].t);
    cr_assert_eq(active, 0);
    free(m);
    loop_free(l);
}

/* ---- fairness ---- */

typedef struct rearm {
    loop_timer t;
    long runs;
    bool update_clock;
} rearm;

static void rearm_cb(loop *l, void *data)
{
    rearm *r = data;
    r->runs++;
    uint64_t now = r->update_clock ? loop_update_now(l) : loop_now(l);
    loop_timer_start(l, &r->t, now, rearm_cb, r);
}

static void read_and_stop(loop *l, int fd, void *data, unsigned events)
{
    char c;
    cr_assert(events & LOOP_READ);
    cr_assert_eq(read(fd, &c, 1), 1);
    *(bool *)data = true;
    loop_stop(l);
}

static void check_rearm_does_not_starve(bool update_clock)
{
    loop *l = new_loop();
    int p[2];
    make_pipe(p);
    bool got = false;
    err e = {0};
    cr_assert_eq(loop_watch(l, p[0], LOOP_READ, read_and_stop, &got, &e), 0, "%s", e.msg);
    rearm r = {.update_clock = update_clock};
    loop_timer_init(&r.t);
    loop_timer_start(l, &r.t, loop_now(l), rearm_cb, &r);
    cr_assert_eq(write(p[1], "x", 1), 1);
    loop_run(l); /* hang_guard turns starvation into a failure */
    cr_assert(got);
    cr_assert_lt(r.runs, 1000, "timer ran %ld times before the fd was served", r.runs);
    loop_timer_stop(l, &r.t);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

Test(loop, timer_rearming_for_now_does_not_starve_fd_events)
{
    hang_guard(5);
    check_rearm_does_not_starve(false);
}

Test(loop, timer_rearming_for_fresh_now_does_not_starve_fd_events)
{
    hang_guard(5);
    check_rearm_does_not_starve(true);
}

/* ---- fd events ---- */

typedef struct io_log {
    int calls;
    unsigned events;
    int fd;
    char data[64];
    size_t n;
} io_log;

static void io_cb(loop *l, int fd, void *data, unsigned events)
{
    io_log *g = data;
    (void)l;
    g->calls++;
    g->events |= events;
    g->fd = fd;
    if (events & LOOP_READ) {
        ssize_t r = read(fd, g->data + g->n, sizeof g->data - g->n);
        if (r > 0)
            g->n += (size_t)r;
    }
}

Test(loop, pipe_data_raises_a_read_event)
{
    hang_guard(5);
    loop *l = new_loop();
    int p[2];
    make_pipe(p);
    io_log g = {0};
    cr_assert_eq(loop_watch(l, p[0], LOOP_READ, io_cb, &g, NULL), 0);
    cr_assert_eq(write(p[1], "ping", 4), 4);
    loop_timer stop;
    stop_after_ms(l, &stop, 30);
    loop_run(l);
    cr_assert_eq(g.fd, p[0]);
    cr_assert_eq(g.events & LOOP_READ, LOOP_READ);
    cr_assert_eq(g.n, 4);
    cr_assert_eq(memcmp(g.data, "ping", 4), 0);
    loop_unwatch(l, p[0]);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

static void write_once(loop *l, int fd, void *data, unsigned events)
{
    io_log *g = data;
    g->calls++;
    g->events |= events;
    cr_assert_eq(write(fd, "w", 1), 1);
    loop_set_events(l, fd, LOOP_READ); /* done writing */
}

Test(loop, socketpair_reports_write_then_peer_close)
{
    hang_guard(5);
    loop *l = new_loop();
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    io_log g = {0};
    cr_assert_eq(loop_watch(l, sv[0], LOOP_WRITE, write_once, &g, NULL), 0);
    loop_timer stop;
    stop_after_ms(l, &stop, 20);
    loop_run(l);
    cr_assert_eq(g.calls, 1, "write interest was dropped after one write");
    cr_assert_eq(g.events, LOOP_WRITE);
    char c;
    cr_assert_eq(read(sv[1], &c, 1), 1);

    /* Peer closes: the reader hears it as readable (EOF) or error. */
    loop_free(l);
    l = new_loop();
    io_log h = {0};
    cr_assert_eq(loop_watch(l, sv[0], LOOP_READ, io_cb, &h, NULL), 0);
    close(sv[1]);
    stop_after_ms(l, &stop, 20);
    loop_run(l);
    cr_assert_geq(h.calls, 1);
    cr_assert(h.events & (LOOP_READ | LOOP_ERROR));
    close(sv[0]);
    loop_free(l);
}

Test(loop, paused_fd_gets_no_events_until_resumed)
{
    hang_guard(5);
    loop *l = new_loop();
    int p[2];
    make_pipe(p);
    io_log g = {0};
    cr_assert_eq(loop_watch(l, p[0], LOOP_READ, io_cb, &g, NULL), 0);
    cr_assert_eq(loop_set_events(l, p[0], 0), 0);
    cr_assert_eq(write(p[1], "z", 1), 1);
    loop_timer stop;
    stop_after_ms(l, &stop, 20);
    loop_run(l);
    cr_assert_eq(g.calls, 0);
    loop_free(l);

    l = new_loop(); /* the stop flag stays set, so run a fresh loop */
    cr_assert_eq(loop_watch(l, p[0], LOOP_READ, io_cb, &g, NULL), 0);
    cr_assert_eq(loop_set_events(l, p[0], 0), 0);
    cr_assert_eq(loop_set_events(l, p[0], LOOP_READ), 0);
    stop_after_ms(l, &stop, 20);
    loop_run(l);
    cr_assert_eq(g.calls, 1);
    cr_assert_eq(g.n, 1);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* epoll reports hang-up and error even for an fd registered with no
 * events; if the loop keeps such an fd registered while paused, every
 * epoll_wait returns at once and the worker burns a core. A connection
 * paused (conn.c asks for 0 events between requests) while the server
 * closes it is the everyday case. */
Test(loop, paused_fd_whose_peer_hung_up_does_not_spin)
{
    hang_guard(5);
    loop *l = new_loop();
    int p[2];
    make_pipe(p);
    io_log g = {0};
    cr_assert_eq(loop_watch(l, p[0], LOOP_READ, io_cb, &g, NULL), 0);
    cr_assert_eq(loop_set_events(l, p[0], 0), 0);
    close(p[1]); /* EPOLLHUP on p[0] from now on */
    loop_timer stop;
    stop_after_ms(l, &stop, 100);
    uint64_t cpu0 = thread_cpu_ns();
    loop_run(l);
    uint64_t cpu = thread_cpu_ns() - cpu0;
    cr_assert_lt(cpu, 40 * NS_PER_MS, "loop used %llu ms of CPU in 100 ms while idle",
                 (unsigned long long)(cpu / NS_PER_MS));
    cr_assert_eq(g.calls, 0, "a paused fd is not called");
    loop_unwatch(l, p[0]);
    close(p[0]);
    loop_free(l);
}

Test(loop, watch_replaces_the_handler_and_bad_fds_are_refused)
{
    loop *l = new_loop();
    int p[2];
    make_pipe(p);
    io_log a = {0}, b = {0};
    err e = {0};
    cr_assert_eq(loop_watch(l, p[0], LOOP_READ, io_cb, &a, &e), 0);
    cr_assert_eq(loop_watch(l, p[0], LOOP_READ, io_cb, &b, &e), 0);
    cr_assert_eq(write(p[1], "r", 1), 1);
    loop_timer stop;
    stop_after_ms(l, &stop, 20);
    loop_run(l);
    cr_assert_eq(a.calls, 0);
    cr_assert_eq(b.calls, 1);
    cr_assert_lt(loop_watch(l, -1, LOOP_READ, io_cb, &a, &e), 0);
    cr_assert_neq(strstr(e.msg, "-1"), NULL, "%s", e.msg);
    cr_assert_eq(loop_set_events(l, 100000, LOOP_READ), VOLLEY_EINVAL, "never watched");
    loop_unwatch(l, p[0]);
    cr_assert_eq(loop_set_events(l, p[0], LOOP_READ), VOLLEY_EINVAL, "unwatched");
    loop_unwatch(l, p[0]); /* twice is harmless */
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* ---- unwatch inside a batch ---- */

typedef struct pair_ctx {
    int fd[2];
    int calls[2];
} pair_ctx;

static void unwatch_other(loop *l, int fd, void *data, unsigned events)
{
    pair_ctx *c = data;
    (void)events;
    int me = fd == c->fd[0] ? 0 : 1;
    c->calls[me]++;
    loop_unwatch(l, c->fd[0]);
    loop_unwatch(l, c->fd[1]);
}

Test(loop, unwatch_in_a_callback_drops_a_later_event_of_the_same_batch)
{
    hang_guard(5);
    loop *l = new_loop();
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    pair_ctx c = {.fd = {a[0], b[0]}};
    cr_assert_eq(loop_watch(l, a[0], LOOP_READ, unwatch_other, &c, NULL), 0);
    cr_assert_eq(loop_watch(l, b[0], LOOP_READ, unwatch_other, &c, NULL), 0);
    /* Both readable before the loop waits: one epoll batch holds both. */
    cr_assert_eq(write(a[1], "a", 1), 1);
    cr_assert_eq(write(b[1], "b", 1), 1);
    loop_timer stop;
    stop_after_ms(l, &stop, 30);
    loop_run(l);
    cr_assert_eq(c.calls[0] + c.calls[1], 1, "calls: %d + %d", c.calls[0], c.calls[1]);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
    loop_free(l);
}

/* Reconnect-on-close: a callback closes another watched fd and opens a new
 * one, which gets the same number. The closed fd's event, still in this
 * batch, must not reach the new owner (it would see a spurious read, or a
 * connecting socket a spurious "writable"). */
typedef struct reuse_ctx {
    int a[2], b[2], fresh[2];
    int first_calls, fresh_calls;
} reuse_ctx;

static void on_fresh(loop *l, int fd, void *data, unsigned events)
{
    (void)l;
    (void)fd;
    (void)events;
    ((reuse_ctx *)data)->fresh_calls++;
}

static void close_other_and_reopen(loop *l, int fd, void *data, unsigned events)
{
    reuse_ctx *c = data;
    (void)events;
    c->first_calls++;
    int other = fd == c->a[0] ? c->b[0] : c->a[0];
    loop_unwatch(l, fd);
    loop_unwatch(l, other);
    close(other);
    make_pipe(c->fresh);
    cr_assert_eq(c->fresh[0], other, "the test relies on fd reuse");
    cr_assert_eq(loop_watch(l, c->fresh[0], LOOP_READ, on_fresh, c, NULL), 0);
}

Test(loop, fd_number_reused_in_a_callback_does_not_get_the_old_event)
{
    hang_guard(5);
    loop *l = new_loop();
    reuse_ctx c = {0};
    make_pipe(c.a);
    make_pipe(c.b);
    cr_assert_eq(loop_watch(l, c.a[0], LOOP_READ, close_other_and_reopen, &c, NULL), 0);
    cr_assert_eq(loop_watch(l, c.b[0], LOOP_READ, close_other_and_reopen, &c, NULL), 0);
    cr_assert_eq(write(c.a[1], "a", 1), 1);
    cr_assert_eq(write(c.b[1], "b", 1), 1);
    loop_timer stop;
    stop_after_ms(l, &stop, 30);
    loop_run(l);
    cr_assert_eq(c.first_calls, 1);
    cr_assert_eq(c.fresh_calls, 0, "the new pipe is empty: its handler must not run");
    loop_free(l);
}

/* ---- stopping ---- */

static void *stop_later(void *arg)
{
    clock_sleep_ns(50 * NS_PER_MS);
    loop_stop_async(arg);
    return NULL;
}

Test(loop, stop_async_from_another_thread_wakes_a_blocked_loop)
{
    hang_guard(5);
    loop *l = new_loop();
    pthread_t th;
    uint64_t t0 = clock_now_ns();
    cr_assert_eq(pthread_create(&th, NULL, stop_later, l), 0);
    loop_run(l); /* nothing scheduled: blocks in epoll until woken */
    uint64_t took = clock_now_ns() - t0;
    pthread_join(th, NULL);
    cr_assert(loop_stopping(l));
    cr_assert_geq(took, 40 * NS_PER_MS, "returned before the stop");
    loop_free(l);
}

Test(loop, stop_async_before_run_is_not_lost)
{
    hang_guard(5);
    loop *l = new_loop();
    loop_stop_async(l);
    loop_run(l);
    cr_assert(loop_stopping(l));
    loop_free(l);
}

static void stop_first(loop *l, void *data)
{
    (*(int *)data)++;
    loop_stop(l);
}

Test(loop, stop_inside_a_timer_skips_the_remaining_due_timers)
{
    hang_guard(5);
    loop *l = new_loop();
    loop_timer t1, t2;
    int n1 = 0, n2 = 0;
    loop_timer_init(&t1);
    loop_timer_init(&t2);
    loop_timer_start(l, &t1, 1, stop_first, &n1);
    loop_timer_start(l, &t2, 2, count_cb, &n2);
    loop_run(l);
    cr_assert_eq(n1, 1);
    cr_assert_eq(n2, 0);
    cr_assert(loop_timer_active(&t2), "still scheduled");
    loop_free(l);
}

Test(loop, now_is_cached_until_updated)
{
    loop *l = new_loop();
    uint64_t a = loop_now(l);
    clock_sleep_ns(2 * NS_PER_MS);
    cr_assert_eq(loop_now(l), a);
    uint64_t b = loop_update_now(l);
    cr_assert_geq(b, a + 2 * NS_PER_MS);
    cr_assert_eq(loop_now(l), b);
    loop_free(l);
    loop_free(NULL);
}

/* ---- deferred calls ---- */

typedef struct dlog {
    loop_defer d[4];
    int order[16];
    int n;
    int cancel;       /* index to cancel from call 0, or -1 */
    int redefer;      /* times call 0 defers itself again */
    uint64_t pass[16];
    loop_timer guard;
} dlog;

typedef struct dcall {
    dlog *g;
    int i;
} dcall;

static dcall dc[4];

static void deferred_cb(loop *l, void *data)
{
    dcall *c = data;
    dlog *g = c->g;
    g->pass[g->n] = loop_update_now(l);
    g->order[g->n++] = c->i;
    if (c->i == 0 && g->cancel >= 0)
        loop_defer_cancel(l, &g->d[g->cancel]);
    if (c->i == 0 && g->redefer > 0) {
        g->redefer--;
        loop_defer_start(l, &g->d[0], deferred_cb, c);
    }
    if (g->n >= 4 || (c->i == 3))
        loop_stop(l);
}

static void dlog_init(dlog *g, loop *l)
{
    memset(g, 0, sizeof *g);
    g->cancel = -1;
    for (int i = 0; i < 4; i++)
        dc[i] = (dcall){g, i};
    stop_after_ms(l, &g->guard, 5000);
}

Test(loop, deferred_calls_run_in_order_once_and_can_be_cancelled)
{
    hang_guard(20);
    loop *l = new_loop();
    static dlog g;
    dlog_init(&g, l);
    g.cancel = 2; /* call 0 cancels call 2, queued after it */
    for (int i = 0; i < 4; i++)
        loop_defer_start(l, &g.d[i], deferred_cb, &dc[i]);
    loop_defer_start(l, &g.d[1], deferred_cb, &dc[1]); /* queued already: keeps its place */
    cr_assert(loop_defer_active(&g.d[1]));
    loop_defer_cancel(l, &g.d[1]);
    cr_assert(!loop_defer_active(&g.d[1]));
    loop_defer_cancel(l, &g.d[1]); /* twice: nothing */
    loop_run(l);
    cr_assert_eq(g.n, 2, "%d calls", g.n);
    cr_assert_eq(g.order[0], 0);
    cr_assert_eq(g.order[1], 3);
    for (int i = 0; i < 4; i++)
        cr_assert(!loop_defer_active(&g.d[i]));
    loop_free(l);
}

/* A call deferred while the deferred calls run waits for the next pass,
 * which does not block: a self-deferring call cannot starve fd events and
 * never waits for the next timer. */
Test(loop, a_call_deferred_during_the_pass_runs_next_pass_without_waiting)
{
    hang_guard(20);
    loop *l = new_loop();
    static dlog g;
    dlog_init(&g, l);
    g.redefer = 3;
    loop_timer far;
    loop_timer_init(&far);
    loop_timer_start(l, &far, loop_update_now(l) + 3 * NS_PER_S, stop_cb, NULL);
    uint64_t t0 = loop_update_now(l);
    loop_defer_start(l, &g.d[0], deferred_cb, &dc[0]);
    loop_run(l);
    cr_assert_eq(g.n, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(g.order[i], 0);
    /* four passes well before the 3 s timer: none blocked in epoll */
    cr_assert_lt(g.pass[3] - t0, 2 * NS_PER_S, "%llu ns", (unsigned long long)(g.pass[3] - t0));
    loop_free(l);
}

/* ---- the armed deadline follows the earliest timer ---- */

typedef struct moved {
    loop_timer t;
    uint64_t fired_ns;
} moved;

static void moved_cb(loop *l, void *data)
{
    ((moved *)data)->fired_ns = loop_update_now(l);
}

/* On the first bytes (an I/O wake, while the loop is armed for 250 ms):
 * moves one timer from 400 ms to 20 ms and the other from 250 ms to 350. */
typedef struct mover {
    moved *earlier, *later;
    uint64_t t0;
    bool done;
} mover;

static void move_on_read(loop *l, int fd, void *data, unsigned events)
{
    mover *m = data;
    char b[64];
    (void)events;
    while (read(fd, b, sizeof b) > 0)
        ;
    if (m->done)
        return;
    m->done = true;
    loop_timer_start(l, &m->earlier->t, m->t0 + 20 * NS_PER_MS, moved_cb, m->earlier);
    loop_timer_start(l, &m->later->t, m->t0 + 350 * NS_PER_MS, moved_cb, m->later);
}

/* One write after 2 ms: later ones would wake the loop often enough to
 * hide a deadline that was not moved. */
static void *write_once_after_2ms(void *arg)
{
    clock_sleep_ns(2 * NS_PER_MS);
    cr_assert_eq(write(*(int *)arg, "x", 1), 1);
    return NULL;
}

Test(loop, a_timer_moved_earlier_or_later_by_io_fires_at_its_new_time)
{
    hang_guard(5);
    loop *l = new_loop();
    int fds[2];
    make_pipe(fds);
    moved a = {0}, b = {0};
    mover m = {.earlier = &a, .later = &b, .t0 = loop_update_now(l)};
    cr_assert_eq(loop_watch(l, fds[0], LOOP_READ, move_on_read, &m, NULL), 0);
    loop_timer_init(&a.t);
    loop_timer_init(&b.t);
    loop_timer_start(l, &a.t, m.t0 + 400 * NS_PER_MS, moved_cb, &a);
    loop_timer_start(l, &b.t, m.t0 + 250 * NS_PER_MS, moved_cb, &b);
    loop_timer stop;
    stop_after_ms(l, &stop, 500);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, write_once_after_2ms, &fds[1]), 0);
    loop_run(l);
    pthread_join(th, NULL);
    cr_assert(m.done);
    cr_assert_geq(a.fired_ns, m.t0 + 20 * NS_PER_MS, "moved earlier: fired before its time");
    cr_assert_lt(a.fired_ns, m.t0 + 200 * NS_PER_MS, "moved earlier: waited for the old deadline");
    cr_assert_geq(b.fired_ns, m.t0 + 350 * NS_PER_MS, "moved later: fired at its old time");
    loop_unwatch(l, fds[0]);
    close(fds[0]);
    close(fds[1]);
    loop_free(l);
}
