/* openapi: endpoints discovered from an OpenAPI 3 document (--openapi).
 * Every GET, POST, PUT and PATCH operation becomes an endpoint: path and
 * required query parameters take --path-param values, examples, defaults,
 * or values made from their schemas; write operations send their JSON
 * example body or one made from the body's schema. Local $refs are
 * followed. What cannot be loaded (DELETE, a non-JSON body, a parameter
 * with no possible value) is reported through on_skip with the reason. */
#ifndef VOLLEY_OPENAPI_H
#define VOLLEY_OPENAPI_H

#include "core/err.h"
#include "load/plan.h"

typedef struct openapi_options {
    const char *const *path_params; /* "NAME=VALUE", override any example */
    size_t npath_params;
    /* Called for each operation that is not loaded, with the reason. */
    void (*on_skip)(void *ctx, const char *method, const char *path, const char *why);
    void *ctx;
} openapi_options;

/* src: a file path or an http:// URL. base: the URL the paths are relative
 * to (NULL: the document's servers[0].url when absolute, else the origin of
 * src when it is a URL). Adds the endpoints to p; returns how many, or a
 * negative error naming src and the JSON position. */
int openapi_load(plan *p, const char *src, const char *base, const openapi_options *o, err *e);

#endif
