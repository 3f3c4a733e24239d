/* shell: the one worker skeleton. A load thread is a shell (thread, event
 * loop, start at the common time, the per-second tick that closes an
 * interval in every metrics shard, the stop mailbox, the end time) driving
 * a driver: built-in URL iterations (load/worker) or Lua coroutines
 * (script/lua_worker). The open-model schedule walker lives here too, so
 * both drivers start iteration i at executor_time_of(i) the same way. */
#ifndef VOLLEY_SHELL_H
#define VOLLEY_SHELL_H

#include "core/err.h"
#include "load/executor.h"
#include "metrics/metrics.h"
#include "net/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* What a driver does at the shell's moments (on the worker thread). */
typedef struct shell_driver {
    void (*start)(void *d);      /* the common start time was reached */
    void (*stop)(void *d);       /* stop gracefully (end of run, engine, Ctrl-C) */
    void (*cancel)(void *d);     /* the loop ended: count what is in flight as cancelled */
} shell_driver;

typedef struct shell {
    loop *lp;
    uint64_t start_ns;
    metrics_shard **shards;      /* borrowed; closed together each second */
    uint32_t nshards;
    const shell_driver *drv;
    void *d;
    loop_timer start_timer, tick_timer;
    pthread_t th;
    bool th_started;
    _Atomic bool done;
    _Atomic uint32_t active;     /* open connections (relaxed, for progress) */
    uint64_t end_ns;
    char fatal[256];             /* the first fatal condition, "" if none */
    const char *name;            /* "worker", "script worker": for messages */
    uint32_t id;
} shell;

/* Sets sh up with its own loop; shards (nshards of them) stay the driver's. */
int shell_init(shell *sh, uint32_t id, uint64_t start_ns, metrics_shard **shards,
               uint32_t nshards, const shell_driver *drv, void *d, err *e);
void shell_destroy(shell *sh);

int shell_start(shell *sh, err *e);
void shell_request_stop(shell *sh);  /* thread-safe */
void shell_abort(shell *sh);         /* thread-safe */
void shell_join(shell *sh);
bool shell_done(shell *sh);
uint32_t shell_active(shell *sh);
void shell_active_add(shell *sh, int delta);
const char *shell_fatal(const shell *sh);

/* ---- the open-model schedule walker ----
 * Walks iterations next_i, next_i + stride, ... < limit of executor x from
 * t0_ns, calling fire(ctx, i, at_ns) when each is due and done(ctx) when
 * the schedule is over. The work per loop turn is bounded, whatever the
 * rate: at most SHELL_SCHED_BATCH iterations are fired before the loop
 * serves I/O again, and while the driver cannot take any iteration
 * (can_take false: every connection busy and the backlog full, or no free
 * VU) the due iterations, which would each be dropped, are handed to
 * drop(ctx, n) in bulk, at most once per SHELL_SCHED_IDLE_NS. */
#define SHELL_SCHED_BATCH 256
#define SHELL_SCHED_IDLE_NS (1000 * 1000ULL)

typedef struct shell_sched {
    const executor *x;
    loop *lp;
    uint64_t t0_ns, dur_ns;      /* dur_ns 0: the executor's own end */
    uint64_t next_i, stride, limit;
    bool over;
    loop_timer timer;
    void (*fire)(void *ctx, uint64_t i, uint64_t at_ns);
    void (*drop)(void *ctx, uint64_t n);
    bool (*can_take)(void *ctx);
    void (*done)(void *ctx);
    void *ctx;
} shell_sched;

/* Starts walking (s->timer must have been loop_timer_init'ed). */
void shell_sched_start(shell_sched *s);
/* The run reaches its end: fires every iteration already due (none is
 * lost to a loop that fell behind), then the walk goes on as before. */
void shell_sched_flush(shell_sched *s);
void shell_sched_stop(shell_sched *s);

#endif
