/* script: `volley run flow.lua`. Loads and checks a Lua script (syntax and
 * top-level errors, then its `options`, all before any load is sent), runs
 * its scenarios through the engine with script/lua_worker, and collects
 * what only scripts have: checks, custom metrics, WebSocket metrics,
 * iteration counts and errors, thresholds as written. The HTTP requests of
 * each scenario become one results endpoint (stat group) named after it. */
#ifndef VOLLEY_SCRIPT_H
#define VOLLEY_SCRIPT_H

#include "core/err.h"
#include "load/engine.h"
#include "results/results.h"
#include "script/script_results.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct script_results script_results;
struct lua_plan;
struct lua_plan_shape;
struct tls_client_ctx;
struct lua_wrk_opts;

/* --cold with a script: the run's first successful http.* response, from
 * every worker thread (the first to set done_ns wins; read after the run). */
typedef struct script_cold {
    _Atomic uint64_t done_ns;   /* monotonic; 0: none yet */
    uint64_t latency_ns;
    int status;
    _Atomic uint32_t attempts;  /* responses and errors up to that one */
} script_cold;

typedef struct script_opts {
    const char *const *env;  /* "KEY=VALUE" from -e, override the environment */
    size_t nenv;
    uint32_t threads;        /* worker threads; 0: one per core */
    const char *out_dir;     /* may be NULL; open()/csv() paths are relative to the script */
    bool quiet;              /* no per-error log lines */
    script_results **res;    /* out: the script's own results (script_results_free) */
    struct tls_client_ctx *tls; /* for https:// and wss:// (NULL: refused) */
    struct tls_client_ctx *ws_tls; /* for wss:// (ALPN http/1.1 only; NULL: tls) */
    bool h2c;                   /* http.* to http:// speaks h2c (--h2c, --http 2) */
    bool h2_only;               /* http.* to https:// must get h2 by ALPN (--http 2) */
    uint32_t segment_k, segment_n; /* --segment K/N of every scenario; 0/0: whole */
    /* From volley run's flags: load flags replace the scenarios with one
     * (shape non-NULL; see lua_plan_override); --timeout and -H are the
     * defaults of http.* requests. */
    const struct lua_plan_shape *shape;
    uint64_t http_timeout_ns;
    const http1_header *http_headers;
    size_t http_nheaders;
    bool no_retry;           /* --no-retry: a stale connection is an error */
    const struct route_opts *route; /* how hosts are reached (--resolve, --proxy, ...) */
    bool compressed;         /* --compressed: bodies are decoded */
    bool share_tls_sessions; /* --share-tls-sessions: per worker and host */
    script_cold *cold;       /* --cold: filled by the run (NULL: not measured) */
    bool redirects_given;    /* --redirects: the default of params.redirects (else 10) */
    uint32_t redirects;
    uint64_t seed;           /* --seed (session picks one when not given) */
    const struct lua_wrk_opts *wrk; /* -s: a wrk script (script/lua_wrk); NULL: volley's */
    bool raw;                /* --raw: per-request records to the engine's raw sink */
    uint64_t warmup_ns;      /* --warmup: the scenarios at their start for this long first */
} script_opts;

/* Runs the script at path. Errors found before any load (cannot read,
 * syntax, a top-level runtime error, bad options) return VOLLEY_EINVAL or
 * VOLLEY_EPARSE with "flow.lua:12: ..." or "options.scenarios.NAME.FIELD:
 * ..." in e; cmd/run exits 2 for them. out is initialised by the engine
 * (one endpoint per scenario); *o->res receives the script results. */
/* Only the checks script_run makes before any load (syntax, top-level
 * errors, options, overrides), so a caller can refuse a bad script before
 * it creates files or starts a server. *has_summary (may be NULL): the
 * script defines handle_summary, so its output replaces volley's summary. */
int script_preflight(const char *path, const script_opts *o, bool *has_summary, err *e);
int script_run(const char *path, const script_opts *o, const engine_options *eo, results *out,
               err *e);

#endif
