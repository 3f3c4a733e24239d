/* shell: thread, loop, start, tick, stop mailbox and the schedule walker
 * shared by every kind of worker (see shell.h). The drivers (load/worker,
 * script/lua_worker) keep only what differs: what an iteration is. */
#include "load/shell.h"

#include "core/clock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

/* ---- run control ---- */

static void on_tick(loop *l, void *data)
{
    shell *sh = data;
    for (uint32_t i = 0; i < sh->nshards; i++)
        metrics_close_interval(sh->shards[i]);
    loop_timer_start(l, &sh->tick_timer, sh->start_ns + (sh->shards[0]->cur + 1) * NS_PER_S,
                     on_tick, sh);
}

static void on_start(loop *l, void *data)
{
    shell *sh = data;
    loop_timer_start(l, &sh->tick_timer, sh->start_ns + NS_PER_S, on_tick, sh);
    sh->drv->start(sh->d);
}

/* Posted by the engine: 1 = stop gracefully, 2 = stop now. */
static void on_post(loop *l, int level, void *data)
{
    shell *sh = data;
    if (level >= 2)
        loop_stop(l);
    else
        sh->drv->stop(sh->d);
}

static void *shell_main(void *arg)
{
    shell *sh = arg;
    /* The default 50 us timer slack would delay every scheduled request. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    loop_timer_start(sh->lp, &sh->start_timer, sh->start_ns, on_start, sh);
    if (loop_posted(sh->lp) < 2)
        loop_run(sh->lp);
    /* What is still in flight has no outcome: the driver counts it as
     * cancelled, so that every request has exactly one outcome. */
    sh->drv->cancel(sh->d);
    sh->end_ns = clock_now_ns();
    atomic_store_explicit(&sh->done, true, memory_order_release);
    return NULL;
}

int shell_init(shell *sh, uint32_t id, uint64_t start_ns, metrics_shard **shards,
               uint32_t nshards, const shell_driver *drv, void *d, err *e)
{
    memset(sh, 0, sizeof *sh);
    sh->id = id;
    sh->start_ns = start_ns;
    sh->shards = shards;
    sh->nshards = nshards;
    sh->drv = drv;
    sh->d = d;
    sh->name = "worker";
    atomic_init(&sh->done, false);
    atomic_init(&sh->active, 0);
    loop_timer_init(&sh->start_timer);
    loop_timer_init(&sh->tick_timer);
    if (!(sh->lp = loop_new(e)))
        return e->code ? e->code : VOLLEY_ENOMEM;
    loop_set_post_handler(sh->lp, on_post, sh);
    return 0;
}

void shell_destroy(shell *sh)
{
    loop_free(sh->lp);
    sh->lp = NULL;
}

int shell_start(shell *sh, err *e)
{
    int rc = pthread_create(&sh->th, NULL, shell_main, sh);
    if (rc) {
        errno = rc;
        return err_sys(e, "%s %u: cannot start thread", sh->name, sh->id);
    }
    sh->th_started = true;
    return 0;
}

void shell_request_stop(shell *sh) { loop_post(sh->lp, 1); }
void shell_abort(shell *sh) { loop_post(sh->lp, 2); }

void shell_join(shell *sh)
{
    if (sh->th_started) {
        pthread_join(sh->th, NULL);
        sh->th_started = false;
    }
}

bool shell_done(shell *sh) { return atomic_load_explicit(&sh->done, memory_order_acquire); }
uint32_t shell_active(shell *sh) { return atomic_load_explicit(&sh->active, memory_order_relaxed); }
const char *shell_fatal(const shell *sh) { return sh->fatal[0] ? sh->fatal : NULL; }

void shell_active_add(shell *sh, int delta)
{
    uint32_t a = atomic_load_explicit(&sh->active, memory_order_relaxed);
    atomic_store_explicit(&sh->active, a + (uint32_t)delta, memory_order_relaxed);
}

/* ---- the schedule walker ---- */

static void on_sched(loop *l, void *data);

/* The driver can take nothing: every iteration due by now would be
 * dropped, so they are counted at once (O(1) whatever the rate). Returns
 * the time of the next look. */
static uint64_t drop_due(shell_sched *s, uint64_t now)
{
    uint64_t t = now - s->t0_ns;
    if (s->dur_ns && t >= s->dur_ns)
        t = s->dur_ns - 1;
    /* Iteration i is due at N(t) = i: those up to floor(N(t)) are due. */
    uint64_t k = (uint64_t)floor(executor_count_at(s->x, t)) + 1;
    if (k > s->limit)
        k = s->limit;
    if (k > s->next_i) {
        uint64_t n = (k - s->next_i + s->stride - 1) / s->stride;
        s->next_i += n * s->stride;
        s->drop(s->ctx, n);
    }
    return now + SHELL_SCHED_IDLE_NS;
}

static void sched_over(shell_sched *s)
{
    s->over = true;
    s->next_i = s->limit;
    s->done(s->ctx);
}

/* Fires what is due by now, up to batch iterations (0: all); returns
 * false when the walk is over or stopped, else arms the timer. */
static bool walk(shell_sched *s, uint64_t now, uint32_t batch)
{
    uint64_t idle_until = 0;
    for (uint32_t n = 0; s->next_i < s->limit; n++) {
        uint64_t off = executor_time_of(s->x, s->next_i);
        if (off == UINT64_MAX || (s->dur_ns && off >= s->dur_ns))
            break;
        uint64_t at = s->t0_ns + off;
        if (at <= now && !idle_until && s->can_take && !s->can_take(s->ctx)) {
            idle_until = drop_due(s, now);
            continue;
        }
        if (at > now || (batch && n >= batch) || idle_until) {
            /* Not due yet, a full batch, or nothing can start: let the loop
             * serve I/O first. */
            uint64_t next = at > now ? at : now;
            loop_timer_start(s->lp, &s->timer, idle_until > next ? idle_until : next, on_sched, s);
            return true;
        }
        uint64_t i = s->next_i;
        s->next_i += s->stride;
        s->fire(s->ctx, i, at);
        if (s->over)
            return false;
    }
    sched_over(s);
    return false;
}

static void on_sched(loop *l, void *data)
{
    walk(data, loop_update_now(l), SHELL_SCHED_BATCH);
}

void shell_sched_flush(shell_sched *s)
{
    if (!s->over && loop_timer_active(&s->timer))
        walk(s, loop_update_now(s->lp), 0);
}

void shell_sched_start(shell_sched *s)
{
    s->over = false;
    on_sched(s->lp, s);
}

void shell_sched_stop(shell_sched *s)
{
    loop_timer_stop(s->lp, &s->timer);
    s->over = true;
}
