/* openapi: endpoints discovered from an OpenAPI 3 document (--openapi).
 * Every GET operation whose path parameters have examples (or defaults)
 * becomes an endpoint, and every POST/PUT/PATCH with an example request
 * body; required query parameters take their examples too. */
#ifndef VOLLEY_OPENAPI_H
#define VOLLEY_OPENAPI_H

#include "core/err.h"
#include "load/plan.h"

/* src: a file path or an http:// URL. base: the URL the paths are relative
 * to (NULL: the document's servers[0].url when absolute, else the origin of
 * src when it is a URL). Adds the endpoints to p; returns how many, or a
 * negative error naming src and the JSON position. */
int openapi_load(plan *p, const char *src, const char *base, err *e);

#endif
