/* loop: epoll + binary-heap timers (see loop.h). The earliest timer is
 * armed on one timerfd in the epoll set (nanoseconds, absolute), re-armed
 * only when the earliest deadline changes: a wait woken by I/O leaves it
 * armed. Waiting with epoll_pwait2's timeout instead armed a kernel timer
 * on every wait and cancelled it on every wake by I/O, which cost a third
 * of an open-model run's CPU on a virtual machine. */
#include "net/loop.h"

#include "core/clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 512
/* epoll data of the wake eventfd; fds are tagged (gen << 32 | fd). */
#define WAKE_TAG UINT64_MAX
#define TIMER_TAG (UINT64_MAX - 1)

/* One per fd number up to the highest watched: 24 bytes, no padding (a
 * run with 10,000 connections holds 10,000). */
typedef struct io_slot {
    loop_io_fn fn;
    void *data;
    uint32_t gen;    /* bumped by unwatch; travels in epoll data with the fd */
    uint16_t events; /* 0 = paused or not watched; in epoll iff non-zero */
    bool added;      /* watched (slot in use) */
} io_slot;

struct loop {
    int epfd;
    int wakefd;
    int tfd;           /* the timerfd the earliest timer is armed on */
    uint64_t armed_ns; /* its deadline as armed; 0: disarmed */
    io_slot *slots;
    size_t nslots;
    loop_timer **heap;
    size_t nheap, capheap;
    uint64_t now_ns;
    atomic_bool stop;
    atomic_int posted;     /* highest level posted by loop_post */
    int handled;           /* highest level given to post_fn */
    loop_post_fn post_fn;
    void *post_data;
    loop_defer deferred;   /* sentinel of the deferred calls' ring */
    struct epoll_event evs[LOOP_BATCH];
};

loop *loop_new(err *e)
{
    loop *l = calloc(1, sizeof *l);
    if (!l) {
        err_set(e, VOLLEY_ENOMEM, "event loop: out of memory");
        return NULL;
    }
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0 || l->tfd < 0) {
        err_sys(e, "event loop: epoll/eventfd/timerfd");
        loop_free(l);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    /* Edge-triggered: an expiry is reported once and never read; arming
     * again clears it. */
    struct epoll_event tev = {.events = EPOLLIN | EPOLLET, .data.u64 = TIMER_TAG};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &tev) < 0) {
        err_sys(e, "event loop: epoll_ctl");
        loop_free(l);
        return NULL;
    }
    l->now_ns = clock_now_ns();
    l->deferred.next = l->deferred.prev = &l->deferred;
    atomic_init(&l->stop, false);
    atomic_init(&l->posted, 0);
    return l;
}

void loop_free(loop *l)
{
    if (!l)
        return;
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wakefd >= 0)
        close(l->wakefd);
    if (l->tfd >= 0)
        close(l->tfd);
    free(l->slots);
    free(l->heap);
    free(l);
}

static int grow_slots(loop *l, int fd)
{
    if ((size_t)fd < l->nslots)
        return 0;
    /* By 1/8 and whole 1,024s rather than doubling: the new slots are
     * zeroed, so all of them are resident (doubling to 16,384 for 10,100
     * fds kept 6,000 slots resident for nothing). */
    size_t n = l->nslots + l->nslots / 8;
    if (n <= (size_t)fd)
        n = (size_t)fd + 1;
    n = (n + 1023) / 1024 * 1024;
    io_slot *s = realloc(l->slots, n * sizeof *s);
    if (!s)
        return VOLLEY_ENOMEM;
    memset(s + l->nslots, 0, (n - l->nslots) * sizeof *s);
    l->slots = s;
    l->nslots = n;
    return 0;
}

static uint32_t to_epoll(unsigned events)
{
    uint32_t ev = 0;
    if (events & LOOP_READ)
        ev |= EPOLLIN | EPOLLRDHUP;
    if (events & LOOP_WRITE)
        ev |= EPOLLOUT;
    return ev;
}

/* Brings epoll in line with a slot going from `old` to `events`. A paused
 * fd (events 0) is taken out of epoll rather than modified to 0: epoll
 * reports EPOLLHUP/EPOLLERR whatever the mask, so a paused fd whose peer
 * hung up would wake every epoll_wait and spin the loop. */
static int sync_epoll(loop *l, int fd, unsigned old, unsigned events)
{
    if (!old && !events)
        return 0;
    uint64_t tag = (uint64_t)l->slots[fd].gen << 32 | (uint32_t)fd;
    struct epoll_event ev = {.events = to_epoll(events), .data.u64 = tag};
    int op = !events ? EPOLL_CTL_DEL : old ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    return epoll_ctl(l->epfd, op, fd, &ev);
}

int loop_watch(loop *l, int fd, unsigned events, loop_io_fn fn, void *data, err *e)
{
    if (fd < 0)
        return err_set(e, VOLLEY_EINVAL, "event loop: bad fd %d", fd);
    if (grow_slots(l, fd))
        return err_set(e, VOLLEY_ENOMEM, "event loop: out of memory");
    io_slot *s = &l->slots[fd];
    if (sync_epoll(l, fd, s->added ? s->events : 0, events) < 0)
        return err_sys(e, "event loop: watch fd %d", fd);
    s->fn = fn;
    s->data = data;
    s->events = events;
    s->added = true;
    return 0;
}

int loop_set_events(loop *l, int fd, unsigned events)
{
    if (fd < 0 || (size_t)fd >= l->nslots || !l->slots[fd].added)
        return VOLLEY_EINVAL;
    io_slot *s = &l->slots[fd];
    if (s->events == events)
        return 0;
    if (sync_epoll(l, fd, s->events, events) < 0)
        return VOLLEY_ESYS;
    s->events = events;
    return 0;
}

void loop_unwatch(loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nslots || !l->slots[fd].added)
        return;
    /* close() would drop the registration too, but a dup'd fd would not. */
    if (l->slots[fd].events)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    /* A new generation: events of this batch still carrying the old one
     * are dropped even if the fd number is reused (close + reconnect in a
     * callback) before the batch reaches them. */
    uint32_t gen = l->slots[fd].gen + 1;
    memset(&l->slots[fd], 0, sizeof l->slots[fd]);
    l->slots[fd].gen = gen;
}

/* ---- timers: a binary min-heap of pointers, each knowing its index ---- */

void loop_timer_init(loop_timer *t)
{
    memset(t, 0, sizeof *t);
    t->heap_idx = SIZE_MAX;
}

static void heap_swap(loop *l, size_t a, size_t b)
{
    loop_timer *ta = l->heap[a], *tb = l->heap[b];
    l->heap[a] = tb;
    l->heap[b] = ta;
    tb->heap_idx = a;
    ta->heap_idx = b;
}

static void heap_up(loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->when_ns <= l->heap[i]->when_ns)
            break;
        heap_swap(l, p, i);
        i = p;
    }
}

static void heap_down(loop *l, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->nheap && l->heap[c]->when_ns < l->heap[m]->when_ns)
            m = c;
        if (c + 1 < l->nheap && l->heap[c + 1]->when_ns < l->heap[m]->when_ns)
            m = c + 1;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

void loop_timer_stop(loop *l, loop_timer *t)
{
    size_t i = t->heap_idx;
    if (i == SIZE_MAX)
        return;
    size_t last = --l->nheap;
    if (i != last) {
        l->heap[i] = l->heap[last];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_idx = SIZE_MAX;
}

void loop_timer_start(loop *l, loop_timer *t, uint64_t when_ns, loop_timer_fn fn, void *data)
{
    t->fn = fn;
    t->data = data;
    if (t->heap_idx != SIZE_MAX) {
        uint64_t old = t->when_ns;
        t->when_ns = when_ns;
        if (when_ns < old)
            heap_up(l, t->heap_idx);
        else
            heap_down(l, t->heap_idx);
        return;
    }
    if (l->nheap == l->capheap) {
        size_t n = l->capheap ? l->capheap * 2 : 256;
        loop_timer **h = realloc(l->heap, n * sizeof *h);
        if (!h)
            abort(); /* a timer that silently never fires would corrupt the run */
        l->heap = h;
        l->capheap = n;
    }
    t->when_ns = when_ns;
    t->heap_idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_idx);
}

size_t loop_timer_count(const loop *l) { return l->nheap; }

uint64_t loop_now(const loop *l) { return l->now_ns; }

uint64_t loop_update_now(loop *l)
{
    l->now_ns = clock_now_ns();
    return l->now_ns;
}

void loop_stop(loop *l) { atomic_store(&l->stop, true); }

bool loop_stopping(const loop *l) { return atomic_load(&l->stop); }

void loop_set_post_handler(loop *l, loop_post_fn fn, void *data)
{
    l->post_fn = fn;
    l->post_data = data;
}

void loop_post(loop *l, int level)
{
    int cur = atomic_load(&l->posted);
    while (level > cur && !atomic_compare_exchange_weak(&l->posted, &cur, level))
        ;
    uint64_t one = 1;
    ssize_t w = write(l->wakefd, &one, sizeof one);
    (void)w;
}

int loop_posted(const loop *l)
{
    return atomic_load(&((loop *)l)->posted);
}

static void deliver_posts(loop *l)
{
    int level = atomic_load(&l->posted);
    if (level > l->handled && l->post_fn) {
        l->handled = level;
        l->post_fn(l, level, l->post_data);
    }
}

void loop_stop_async(loop *l)
{
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    ssize_t w = write(l->wakefd, &one, sizeof one);
    (void)w;
}

static void run_timers(loop *l)
{
    /* Only timers due at the start of this pass run, so a timer that re-arms
     * itself for "now" cannot starve I/O. */
    uint64_t now = l->now_ns;
    size_t budget = l->nheap;
    while (l->nheap && budget--) {
        loop_timer *t = l->heap[0];
        if (t->when_ns > now)
            break;
        loop_timer_stop(l, t);
        t->fn(l, t->data);
        if (atomic_load(&l->stop))
            return;
    }
}

/* ---- deferred calls: a ring with a sentinel, in the order deferred ---- */

void loop_defer_start(loop *l, loop_defer *d, loop_timer_fn fn, void *data)
{
    d->fn = fn;
    d->data = data;
    if (d->next)
        return;
    d->prev = l->deferred.prev;
    d->next = &l->deferred;
    l->deferred.prev->next = d;
    l->deferred.prev = d;
}

void loop_defer_cancel(loop *l, loop_defer *d)
{
    (void)l;
    if (!d->next)
        return;
    d->prev->next = d->next;
    d->next->prev = d->prev;
    d->next = d->prev = NULL;
}

/* Runs the calls deferred before this pass (ones deferred while it runs
 * wait for the next pass, which does not block: see wait_events). */
static void run_deferred(loop *l)
{
    loop_defer *end = l->deferred.prev; /* the last one queued before the pass */
    if (end == &l->deferred)
        return;
    for (;;) {
        loop_defer *d = l->deferred.next;
        bool last = d == end;
        loop_defer_cancel(l, d);
        d->fn(l, d->data);
        /* end may have been cancelled by the call: stop at the first one
         * deferred during the pass, or when the ring is empty */
        if (last || atomic_load(&l->stop) || l->deferred.next == &l->deferred || !end->next)
            return;
    }
}

/* Arms the timerfd for `when` (absolute, CLOCK_MONOTONIC as clock_now_ns)
 * unless it is armed for it already. */
static void arm(loop *l, uint64_t when)
{
    if (l->armed_ns == when)
        return;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(when / NS_PER_S),
                                          .tv_nsec = (long)(when % NS_PER_S)}};
    if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        abort(); /* EINVAL on our own timerfd is a bug */
    l->armed_ns = when;
}

static int wait_events(loop *l)
{
    int timeout = -1;
    if (l->deferred.next != &l->deferred) {
        timeout = 0;
    } else if (l->nheap) {
        uint64_t when = l->heap[0]->when_ns;
        if (when <= clock_now_ns())
            timeout = 0;
        else
            arm(l, when);
    }
    return epoll_wait(l->epfd, l->evs, LOOP_BATCH, timeout);
}

void loop_run(loop *l)
{
    while (!atomic_load(&l->stop)) {
        int n = wait_events(l);
        l->now_ns = clock_now_ns();
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* EBADF/EINVAL on our own epoll fd is a bug */
        }
        for (int i = 0; i < n && !atomic_load(&l->stop); i++) {
            uint64_t tag = l->evs[i].data.u64;
            if (tag == TIMER_TAG) {
                l->armed_ns = 0; /* expired: the next wait arms it again */
                continue;
            }
            if (tag == WAKE_TAG) {
                uint64_t v;
                ssize_t r = read(l->wakefd, &v, sizeof v);
                (void)r;
                deliver_posts(l);
                continue;
            }
            int fd = (int)(uint32_t)tag;
            if ((size_t)fd >= l->nslots)
                continue;
            io_slot *s = &l->slots[fd];
            if (!s->events || !s->fn || s->gen != (uint32_t)(tag >> 32))
                continue; /* unwatched, paused or re-used earlier in this batch */
            uint32_t ev = l->evs[i].events;
            unsigned got = 0;
            if (ev & (EPOLLIN | EPOLLRDHUP))
                got |= LOOP_READ;
            if (ev & EPOLLOUT)
                got |= LOOP_WRITE;
            if (ev & (EPOLLERR | EPOLLHUP))
                got |= LOOP_ERROR | (s->events & LOOP_READ);
            got &= s->events | LOOP_ERROR;
            if (got)
                s->fn(l, fd, s->data, got);
        }
        if (!atomic_load(&l->stop))
            run_deferred(l);
        run_timers(l);
    }
}
