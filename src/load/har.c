/* har: browser recordings (HAR 1.2, as Chromium, Firefox and proxies save
 * them) as requests: one per distinct method + URL + body, counted, with the
 * recorded headers less those the client sets itself. Used by --har (into
 * plan endpoints, weighted by the count) and by `volley convert har`. */
#include "load/har.h"

#include "core/fileio.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers volley writes itself, or that would lie about the replayed body
 * or connection; HTTP/2 pseudo-headers (":authority") have no HTTP/1.1
 * spelling. Accept-Encoding is dropped: a replay reads bodies as sent. */
static bool header_dropped(const char *name)
{
    static const char *const drop[] = {"host", "content-length", "connection", "keep-alive",
                                       "transfer-encoding", "upgrade", "proxy-connection",
                                       "te", "accept-encoding"};
    if (name[0] == ':' || !name[0])
        return true;
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (!strcasecmp(name, drop[i]))
            return true;
    return false;
}

typedef struct har_read_state {
    const har_options *o;
    har_request *out;
    size_t n, cap;
} har_read_state;

static void skip(const har_options *o, const char *method, const char *u, const char *why)
{
    if (o && o->on_skip)
        o->on_skip(o->ctx, method, u, why);
}

static int add_headers(har_request *r, json_t *headers, bool *has_ctype, err *e)
{
    size_t i;
    json_t *h;
    json_array_foreach(headers, i, h)
    {
        const char *n = json_string_value(json_object_get(h, "name"));
        const char *v = json_string_value(json_object_get(h, "value"));
        if (!n || !v || header_dropped(n))
            continue;
        if (r->nheaders == HAR_MAX_HEADERS)
            break;
        if (strchr(v, '\r') || strchr(v, '\n'))
            continue;
        if (!strcasecmp(n, "content-type"))
            *has_ctype = true;
        size_t len = strlen(n) + strlen(v) + 3;
        char *line = malloc(len);
        if (!line)
            return err_set(e, VOLLEY_ENOMEM, "--har: out of memory");
        snprintf(line, len, "%s: %s", n, v);
        r->headers[r->nheaders++] = line;
    }
    return 0;
}

static bool same_request(const har_request *a, const char *method, const char *u,
                         const char *body, size_t blen)
{
    return !strcmp(a->method, method) && !strcmp(a->url, u) && a->body_len == blen &&
           (!blen || !memcmp(a->body, body, blen));
}

/* Turns one entry into a request, or counts it into an equal one. */
static int take_entry(har_read_state *st, json_t *entry, err *e)
{
    json_t *req = json_object_get(entry, "request");
    const char *method = json_string_value(json_object_get(req, "method"));
    const char *u = json_string_value(json_object_get(req, "url"));
    if (!method || !u) {
        skip(st->o, method ? method : "?", u ? u : "?", "no method or url");
        return 0;
    }
    if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) {
        skip(st->o, method, u, "not an http(s) URL");
        return 0;
    }
    if (st->o && st->o->filter && !plan_filter_match(u, st->o->filter))
        return 0;
    json_t *post = json_object_get(req, "postData");
    const char *body = json_string_value(json_object_get(post, "text"));
    const char *mime = json_string_value(json_object_get(post, "mimeType"));
    size_t blen = body ? strlen(body) : 0;
    if (post && !body && json_array_size(json_object_get(post, "params"))) {
        skip(st->o, method, u, "its body is recorded as params only (a file upload)");
        return 0;
    }
    for (size_t i = 0; !(st->o && st->o->every) && i < st->n; i++)
        if (same_request(&st->out[i], method, u, body, blen)) {
            st->out[i].count++;
            return 0;
        }
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        har_request *grown = realloc(st->out, cap * sizeof *grown);
        if (!grown)
            return err_set(e, VOLLEY_ENOMEM, "--har: out of memory");
        st->out = grown;
        st->cap = cap;
    }
    har_request *r = &st->out[st->n++];
    memset(r, 0, sizeof *r);
    r->count = 1;
    r->method = strdup(method);
    r->url = strdup(u);
    r->body = body ? strdup(body) : NULL;
    r->body_len = blen;
    if (!r->method || !r->url || (body && !r->body))
        return err_set(e, VOLLEY_ENOMEM, "--har: out of memory");
    bool has_ctype = false;
    int rc = add_headers(r, json_object_get(req, "headers"), &has_ctype, e);
    if (!rc && blen && mime && *mime && !has_ctype && r->nheaders < HAR_MAX_HEADERS) {
        size_t len = strlen(mime) + 16;
        if (!(r->headers[r->nheaders] = malloc(len)))
            return err_set(e, VOLLEY_ENOMEM, "--har: out of memory");
        snprintf(r->headers[r->nheaders++], len, "Content-Type: %s", mime);
    }
    return rc;
}

/* "GET /path" for a name, "GET /path #2" when an earlier one has it. */
static void name_requests(har_request *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char base[40];
        plan_default_name(r[i].url, base, sizeof base);
        snprintf(r[i].name, sizeof r[i].name, "%.8s %s", r[i].method, base);
        for (int k = 2; k < 10000; k++) {
            bool taken = false;
            for (size_t j = 0; j < i && !taken; j++)
                taken = !strcmp(r[j].name, r[i].name);
            if (!taken)
                break;
            snprintf(r[i].name, sizeof r[i].name, "%.8s %s #%d", r[i].method, base, k);
        }
    }
}

int har_read(const char *path, const har_options *o, har_request **out, size_t *n, err *e)
{
    char *text;
    size_t len;
    *out = NULL;
    *n = 0;
    int rc = file_read_all(path, "--har", &text, &len, e);
    if (rc)
        return rc;
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    free(text);
    if (!doc)
        return err_set(e, VOLLEY_EPARSE, "--har %s:%d:%d: %s", path, je.line, je.column, je.text);
    json_t *entries = json_object_get(json_object_get(doc, "log"), "entries");
    if (!json_is_array(entries)) {
        json_decref(doc);
        return err_set(e, VOLLEY_EPARSE, "--har %s: not a HAR file (no log.entries array)", path);
    }
    har_read_state st = {.o = o};
    size_t i;
    json_t *entry;
    json_array_foreach(entries, i, entry)
    {
        if ((rc = take_entry(&st, entry, e)))
            break;
    }
    json_decref(doc);
    if (rc) {
        har_requests_free(st.out, st.n);
        return rc;
    }
    name_requests(st.out, st.n);
    *out = st.out;
    *n = st.n;
    return 0;
}

void har_requests_free(har_request *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free(r[i].method);
        free(r[i].url);
        free(r[i].body);
        for (size_t h = 0; h < r[i].nheaders; h++)
            free(r[i].headers[h]);
    }
    free(r);
}

static int add_request(plan *p, const har_request *r, const har_options *o, err *e)
{
    if (p->neps == PLAN_MAX_ENDPOINTS) {
        skip(o, r->method, r->url, "more distinct requests than the endpoint limit (narrow with --filter)");
        return 0;
    }
    plan_endpoint *ep = plan_add_endpoint_parts(p, r->name, r->method, r->url, "--har", e);
    if (!ep)
        return VOLLEY_EINVAL;
    ep->weight = r->count;
    for (size_t h = 0; h < r->nheaders; h++) {
        int rc = plan_add_header(ep->headers, &ep->nheaders, r->headers[h], "--har", e);
        if (rc)
            return rc;
    }
    if (r->body_len) {
        if (!(ep->body = malloc(r->body_len)))
            return err_set(e, VOLLEY_ENOMEM, "--har: out of memory");
        memcpy(ep->body, r->body, r->body_len);
        ep->body_len = r->body_len;
    }
    return 1;
}

int har_load(plan *p, const char *path, const har_options *o, err *e)
{
    har_request *reqs;
    size_t n;
    int rc = har_read(path, o, &reqs, &n, e);
    if (rc)
        return rc;
    int added = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        rc = add_request(p, &reqs[i], o, e);
        added += rc > 0;
    }
    har_requests_free(reqs, n);
    if (rc < 0)
        return rc;
    if (!added)
        return err_set(e, VOLLEY_EINVAL, "--har %s: no request to load%s", path,
                       o && o->filter ? " (none passes --filter)" : "");
    return added;
}
