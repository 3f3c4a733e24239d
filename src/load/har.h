/* har: requests from a browser recording (HAR 1.2): --har FILE turns them
 * into endpoints, `volley convert har` into a targets file or a Lua script.
 * Equal requests (method, URL, body) are one, with the number of times the
 * browser sent it as its weight. */
#ifndef VOLLEY_HAR_H
#define VOLLEY_HAR_H

#include "core/err.h"
#include "load/plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HAR_MAX_HEADERS PLAN_MAX_HEADERS

typedef struct har_request {
    char name[64];                  /* "METHOD /path", unique in the list */
    char *method, *url;
    char *headers[HAR_MAX_HEADERS]; /* "Name: value", as recorded, less dropped ones */
    size_t nheaders;
    char *body;                     /* NULL: none */
    size_t body_len;
    uint32_t count;                 /* how often it was recorded */
} har_request;

typedef struct har_options {
    const char *filter; /* keep only URLs that pass plan_filter_match (NULL: all) */
    bool every;         /* one request per entry, in order, equal ones not merged */
    /* Called for each entry that is not loaded, with the reason. */
    void (*on_skip)(void *ctx, const char *method, const char *url, const char *why);
    void *ctx;
} har_options;

/* Reads path's distinct requests in the order first recorded; the caller
 * frees them with har_requests_free. Errors name the file and position. */
int har_read(const char *path, const har_options *o, har_request **out, size_t *n, err *e);
void har_requests_free(har_request *r, size_t n);

/* Adds the requests of path to p as endpoints named "METHOD /path",
 * weighted by their counts; returns how many, or a negative error. */
int har_load(plan *p, const char *path, const har_options *o, err *e);

#endif
