/* plan: a run described as data, before any load is sent. cmd/run fills it
 * from flags (later also from Lua options); the engine and workers only
 * read it. plan_compile resolves every target once and encodes each
 * endpoint's request bytes once. */
#ifndef VOLLEY_PLAN_H
#define VOLLEY_PLAN_H

#include "core/buf.h"
#include "core/err.h"
#include "load/executor.h"
#include "net/addr.h"
#include "net/route.h"
#include "net/tls.h"
#include "proto/http1.h"

#include <stdbool.h>
#include <stdint.h>

#define PLAN_MAX_HEADERS 64
#define PLAN_MAX_ENDPOINTS 64
#define PLAN_MAX_TARGETS 16
#define PLAN_MAX_RATES 64
#define PLAN_MAX_CPUS 1024 /* CPU_SETSIZE */

typedef enum { PLAN_PER_ENDPOINT, PLAN_MIXED } plan_mode;

typedef struct plan_endpoint {
    char name[64];
    char url_text[4200];
    url target;
    uint32_t target_idx;       /* index of its address in plan.targets */
    char method[32];           /* "" = the plan's method */
    http1_header headers[PLAN_MAX_HEADERS]; /* its own, added to the plan's */
    size_t nheaders;
    char *body;                /* owned; NULL = the plan's body */
    size_t body_len;
    double weight;             /* mixed mode */
    char basic_auth[400];      /* "Basic ..." from user:password@ in the URL, or "" */
    bool head;                 /* HEAD: responses have no body */
    buf request;               /* compiled request bytes */
} plan_endpoint;

/* --http: auto (https: ALPN offers h2 and http/1.1, the server picks; http:
 * HTTP/1.1 unless --h2c), 1.1, or 2 (https: ALPN h2 only; http: h2c). */
typedef enum { PLAN_HTTP_AUTO, PLAN_HTTP_11, PLAN_HTTP_2 } plan_http;

typedef struct plan {
    plan_endpoint eps[PLAN_MAX_ENDPOINTS];
    size_t neps;
    addr targets[PLAN_MAX_TARGETS];   /* distinct host:port of the endpoints */
    /* every resolved address of each target, tried in order (targets[i] is
     * the first) */
    addr target_addrs[PLAN_MAX_TARGETS][ADDR_MAX];
    uint32_t target_naddrs[PLAN_MAX_TARGETS];
    char target_names[PLAN_MAX_TARGETS][300];
    char target_hosts[PLAN_MAX_TARGETS][256]; /* for SNI and certificate checks */
    bool target_tls[PLAN_MAX_TARGETS];
    char target_tunnel[PLAN_MAX_TARGETS][300]; /* --proxy with https: CONNECT host:port */
    size_t ntargets;
    /* reaching the targets: --resolve, --connect-to, --unix-socket, --proxy,
     * --dns-spread (net/route); the same for a script's http.* */
    route_opts route;
    bool compressed;           /* --compressed: decode response bodies */
    uint32_t redirects;        /* --redirects N: follow up to N hops (URL runs) */
    /* TLS (https endpoints): options, and the context plan_compile makes */
    tls_client_opts tls_opts;
    tls_client_ctx *tls;
    /* --share-tls-sessions: a worker's connections to one target resume the
     * thread's latest session (default: each its own, from its own first
     * full handshake) */
    bool share_tls_sessions;
    plan_mode mode;
    double weight_sum;         /* of the endpoints' weights (plan_compile) */
    /* defaults for every endpoint */
    char method[32];
    http1_header headers[PLAN_MAX_HEADERS];
    size_t nheaders;
    char *body;
    size_t body_len;
    bool keepalive;
    bool no_retry;             /* --no-retry: a stale connection is an error */
    uint32_t pipeline;         /* --pipeline / --max-streams: requests in flight per
                                  connection (>= 1): HTTP/1.1 pipelining or HTTP/2 streams */
    plan_http http;            /* --http: which protocol (https: what ALPN offers) */
    bool h2c;                  /* --h2c (or --http 2): http:// speaks HTTP/2 with prior
                                  knowledge */
    /* how much */
    executor shape;
    uint32_t threads;
    uint16_t cpus[PLAN_MAX_CPUS]; /* --cpus: worker thread i runs on cpus[i % ncpus] */
    size_t ncpus;
    uint64_t requests;         /* 0 = no limit; per scenario */
    uint32_t max_connections;  /* open model pool cap (0 = derived from the rate) */
    uint32_t max_backlog;      /* open model waiting iterations (0 = derived) */
    double rates[PLAN_MAX_RATES]; /* --rates sweep */
    size_t nrates;
    uint64_t cooldown_ns;
    uint64_t warmup_ns;
    uint32_t segment_k, segment_n; /* this process runs segment k of n (1-based) */
    /* limits */
    uint64_t timeout_ns;
    uint64_t connect_timeout_ns;
    uint64_t grace_ns;
    uint64_t max_header_bytes;
    /* outputs the workers feed */
    bool raw;                  /* per-request records for requests.csv */
    char label[128];
} plan;

#define PLAN_MAX_THREADS 256

/* -t N as used: at most 4 x the online CPUs and PLAN_MAX_THREADS; a capped
 * value is said once on stderr. */
uint32_t plan_cap_threads(uint32_t n);

/* Defaults: GET, 50 connections, 10 s, threads = cores, timeout 30 s,
 * connect timeout 10 s, grace 5 s, keep-alive, per-endpoint mode. */
void plan_init(plan *p);
void plan_free(plan *p);

/* Copies "Name: value" into headers (validated by plan_compile). */
int plan_add_header(http1_header *headers, size_t *n, const char *line, const char *what, err *e);
/* Takes ownership of body (malloc'd). */
void plan_take_body(plan *p, char *body, size_t len);

/* Adds an endpoint "NAME=URL" or "NAME=METHOD URL" (what names the flag). */
int plan_add_endpoint(plan *p, const char *spec, const char *what, err *e);
/* Adds an endpoint from parts (name may be NULL: derived from the path). */
plan_endpoint *plan_add_endpoint_parts(plan *p, const char *name, const char *method,
                                       const char *url_text, const char *what, err *e);
/* A readable default name for an endpoint: its URL's path without the
 * query ("/health"). */
void plan_default_name(const char *url_text, char *out, size_t cap);
/* Sets the weight of endpoint NAME ("NAME=W"). */
int plan_set_weight(plan *p, const char *spec, err *e);
/* Whether url_text passes --filter: its path starts with filter (the
 * leading '/' may be left out), or filter is its HOST[:PORT], optionally
 * followed by a path prefix ("api.local:8080/v1"). */
bool plan_filter_match(const char *url_text, const char *filter);
/* Keeps the endpoints that pass plan_filter_match. */
int plan_filter(plan *p, const char *prefix, err *e);
/* Reads a vegeta-style targets file (see docs/targets.md). */
int plan_load_targets(plan *p, const char *path, err *e);

/* --http VALUE (auto, 1.1, 2); then plan_http_check. */
int plan_set_http(plan *p, const char *v, err *e);
/* --http against --h2c, and the ALPN offer that follows from --http. */
int plan_http_check(plan *p, err *e);
/* Some target is plain http://. */
bool plan_has_plain(const plan *p);

/* Parses URLs, resolves addresses and encodes every request. */
int plan_compile(plan *p, err *e);

/* The connections cap of the open model and the backlog, resolved. */
uint32_t plan_pool_cap(const plan *p, const executor *x);
uint32_t plan_backlog_cap(const plan *p, const executor *x);

/* Which endpoint a mixed-mode iteration uses: a low-discrepancy sequence
 * over the cumulative weights, so any run of consecutive i follows the
 * weights closely, and it depends on i alone (divisible). */
uint32_t plan_pick_endpoint(const plan *p, uint64_t i);

#endif
