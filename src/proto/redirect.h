/* redirect: what a client does with a redirect response, as browsers and
 * k6 do; one implementation for URL runs (load/worker, --redirects) and
 * scripts (the prelude's http.* through C.redirect). */
#ifndef VOLLEY_REDIRECT_H
#define VOLLEY_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

/* 301, 302, 303, 307, 308. */
bool redirect_status(int status);

/* The method of the next hop: 303 (and 301/302 after POST) become GET (HEAD
 * stays HEAD) and the body is dropped (*keep_body false); otherwise the
 * method and body stay. out holds at least 32 bytes. */
void redirect_method(int status, const char *method, char *out, bool *keep_body);

/* The Location loc resolved against the absolute URL base (RFC 3986:
 * absolute, scheme-relative "//host/p", absolute path, relative path;
 * the fragment dropped). 0, or -1 when it does not fit in cap. */
int redirect_resolve(const char *base, const char *loc, char *out, size_t cap);

#endif
