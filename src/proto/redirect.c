/* redirect: the next hop of a redirect (see redirect.h). Used by the
 * URL-run worker and, through C.redirect, by the scripts' http.*; the
 * Location is resolved the way the prelude did before it moved here. */
#include "proto/redirect.h"

#include <stdio.h>
#include <string.h>

bool redirect_status(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

void redirect_method(int status, const char *method, char *out, bool *keep_body)
{
    bool to_get = status == 303 || ((status == 301 || status == 302) && !strcmp(method, "POST"));
    *keep_body = !to_get;
    snprintf(out, 32, "%s", !to_get ? method : !strcmp(method, "HEAD") ? "HEAD" : "GET");
}

/* Length of "scheme" in "scheme://..." (0: not absolute). */
static size_t scheme_len(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    return n && s[n] == ':' && s[n + 1] == '/' && s[n + 2] == '/' ? n : 0;
}

int redirect_resolve(const char *base, const char *loc, char *out, size_t cap)
{
    size_t ll = strcspn(loc, "#");
    size_t sl = scheme_len(base);
    int n;
    if (scheme_len(loc) || !sl) {
        n = snprintf(out, cap, "%.*s", (int)ll, loc);
    } else if (loc[0] == '/' && loc[1] == '/') {
        n = snprintf(out, cap, "%.*s:%.*s", (int)sl, base, (int)ll, loc);
    } else {
        const char *auth = base + sl + 3;
        size_t al = strcspn(auth, "/?#");
        if (loc[0] == '/') {
            n = snprintf(out, cap, "%.*s%.*s", (int)(auth + al - base), base, (int)ll, loc);
        } else {
            /* Relative: beside the last '/' of the base's path. */
            size_t pl = strcspn(auth + al, "?#");
            const char *path = auth + al, *slash = NULL;
            for (const char *p = path; p < path + pl; p++)
                if (*p == '/')
                    slash = p;
            size_t keep = slash ? (size_t)(slash + 1 - base) : (size_t)(path - base);
            n = snprintf(out, cap, "%.*s%s%.*s", (int)keep, base, slash ? "" : "/", (int)ll, loc);
        }
    }
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}
