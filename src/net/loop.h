/* loop: one epoll event loop per thread, with file events and a timer heap.
 * Used by the load workers and by `volley serve`. Single-threaded: only
 * loop_wake() may be called from another thread. Modelled on Redis's ae.c:
 * handlers are kept in a table indexed by fd, so an event for an fd that was
 * removed earlier in the same batch is dropped instead of reaching freed
 * memory. */
#ifndef VOLLEY_LOOP_H
#define VOLLEY_LOOP_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct loop loop;

#define LOOP_READ 1u
#define LOOP_WRITE 2u
/* Reported only, never asked for: hang-up or error on the fd. */
#define LOOP_ERROR 4u

/* Called with the events that fired (LOOP_READ/LOOP_WRITE/LOOP_ERROR). */
typedef void (*loop_io_fn)(loop *l, int fd, void *data, unsigned events);
typedef void (*loop_timer_fn)(loop *l, void *data);

/* A timer, embedded in its owner; zero-initialise or loop_timer_init it.
 * Starting an active timer re-schedules it. */
typedef struct loop_timer {
    uint64_t when_ns;
    size_t heap_idx; /* SIZE_MAX when not scheduled */
    loop_timer_fn fn;
    void *data;
} loop_timer;

/* A call deferred to the end of the current batch of events (after its
 * I/O, before its timers): what a timer at loop_now() does, without the
 * heap (a script VU's wake after each response). Embedded in its owner;
 * zero-initialise it. Deferring one already queued keeps its place. */
typedef struct loop_defer {
    struct loop_defer *next, *prev; /* NULL when not queued */
    loop_timer_fn fn;
    void *data;
} loop_defer;

/* Creates a loop. Returns NULL and fills e on failure. */
loop *loop_new(err *e);
void loop_free(loop *l);

/* Watches fd for `events`; replaces an earlier registration. */
int loop_watch(loop *l, int fd, unsigned events, loop_io_fn fn, void *data, err *e);
/* Changes the events of a watched fd (0 = pause without forgetting it). */
int loop_set_events(loop *l, int fd, unsigned events);
/* Stops watching fd (call before close(fd)). */
void loop_unwatch(loop *l, int fd);

void loop_timer_init(loop_timer *t);
/* Schedules t to fire at monotonic time when_ns (in the past: next turn). */
void loop_timer_start(loop *l, loop_timer *t, uint64_t when_ns, loop_timer_fn fn, void *data);
void loop_timer_stop(loop *l, loop_timer *t);
static inline bool loop_timer_active(const loop_timer *t) { return t->heap_idx != SIZE_MAX; }

void loop_defer_start(loop *l, loop_defer *d, loop_timer_fn fn, void *data);
void loop_defer_cancel(loop *l, loop_defer *d);
static inline bool loop_defer_active(const loop_defer *d) { return d->next != NULL; }

/* The monotonic time cached at the start of this batch of events. */
uint64_t loop_now(const loop *l);
/* Reads the clock again and refreshes the cached time. */
uint64_t loop_update_now(loop *l);

/* Runs until loop_stop() (from inside) or loop_wake() after loop_stop_async. */
void loop_run(loop *l);
void loop_stop(loop *l);
/* Thread-safe: asks the loop to stop and wakes it. */
void loop_stop_async(loop *l);
bool loop_stopping(const loop *l);

/* A mailbox for requests from other threads (a worker's "stop gracefully"
 * or "stop now"): loop_post keeps the highest level posted and wakes the
 * loop, which calls the handler on its own thread with that level once
 * for each increase. loop_posted reads the level (any thread). */
typedef void (*loop_post_fn)(loop *l, int level, void *data);
void loop_set_post_handler(loop *l, loop_post_fn fn, void *data);
void loop_post(loop *l, int level);
int loop_posted(const loop *l);

/* Number of timers scheduled (for tests). */
size_t loop_timer_count(const loop *l);

#endif
