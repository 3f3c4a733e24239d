/* plan: a run described as data, before any load is sent. cmd/run fills it
 * from flags (later: Lua options); the engine and workers only read it.
 * plan_compile resolves the target and encodes the request bytes once. */
#ifndef VOLLEY_PLAN_H
#define VOLLEY_PLAN_H

#include "core/buf.h"
#include "core/err.h"
#include "net/addr.h"
#include "proto/http1.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    EXEC_CONSTANT_VUS,  /* closed model: N connections, next request when the last is done */
} executor_kind;

const char *plan_executor_name(executor_kind k);

#define PLAN_MAX_HEADERS 64

typedef struct plan {
    /* what */
    char url_text[4200];
    url target;
    addr address;
    char method[32];
    http1_header headers[PLAN_MAX_HEADERS]; /* strings owned by the plan */
    size_t nheaders;
    char *body; /* owned; may be NULL */
    size_t body_len;
    bool keepalive;
    /* how much */
    executor_kind executor;
    uint32_t connections;
    uint32_t threads;
    uint64_t duration_ns;  /* 0 with requests > 0: until the requests are done */
    uint64_t requests;     /* 0 = no limit */
    uint64_t timeout_ns;
    uint64_t connect_timeout_ns;
    uint64_t grace_ns;     /* wait this long for in-flight requests at the end */
    uint64_t max_header_bytes;
    /* compiled */
    buf request;           /* the request bytes, sent as is for every iteration */
} plan;

/* Defaults: GET, 50 connections, 10 s, threads = cores, timeout 30 s,
 * connect timeout 10 s, grace 5 s, keep-alive. */
void plan_init(plan *p);
void plan_free(plan *p);

/* Copies and stores "Name: value" (validated later by plan_compile). */
int plan_add_header(plan *p, const char *line, err *e);
/* Takes ownership of body (malloc'd). */
void plan_take_body(plan *p, char *body, size_t len);

/* Parses url_text, resolves the address and encodes the request.
 * Errors name the flag or header that was wrong. */
int plan_compile(plan *p, err *e);

#endif
