/* plan: the run as data (see plan.h). */
#include "load/plan.h"

#include "core/clock.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void plan_init(plan *p)
{
    memset(p, 0, sizeof *p);
    strcpy(p->method, "GET");
    p->keepalive = true;
    p->pipeline = 1;
    p->tls_opts.alpn = TLS_ALPN_H2_HTTP11; /* --http auto */
    p->shape.kind = EXEC_CONSTANT_VUS;
    p->shape.vus = 50;
    p->shape.duration_ns = 10 * NS_PER_S;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    p->threads = n > 0 ? (uint32_t)n : 1;
    p->timeout_ns = 30 * NS_PER_S;
    p->connect_timeout_ns = 10 * NS_PER_S;
    p->grace_ns = 5 * NS_PER_S;
    p->max_header_bytes = 64 * 1024;
    p->segment_k = 1;
    p->segment_n = 1;
}

static void free_headers(http1_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)h[i].name);
        free((char *)h[i].value);
    }
}

void plan_free(plan *p)
{
    free_headers(p->headers, p->nheaders);
    p->nheaders = 0;
    free(p->body);
    p->body = NULL;
    for (size_t i = 0; i < p->neps; i++) {
        free_headers(p->eps[i].headers, p->eps[i].nheaders);
        free(p->eps[i].body);
        buf_free(&p->eps[i].request);
    }
    p->neps = 0;
    tls_client_ctx_free(p->tls);
    p->tls = NULL;
}

int plan_add_header(http1_header *headers, size_t *n, const char *line, const char *what, err *e)
{
    const char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return err_set(e, VOLLEY_EINVAL, "%s: '%s' is not 'Name: value'", what, line);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
        vl--;
    size_t nl = (size_t)(colon - line), k = 0;
    while (k < *n && (strlen(headers[k].name) != nl || strncasecmp(headers[k].name, line, nl)))
        k++;
    if (k == *n && *n == PLAN_MAX_HEADERS)
        return err_set(e, VOLLEY_EINVAL, "%s: more than %d headers", what, PLAN_MAX_HEADERS);
    char *name = strndup(line, nl);
    char *value = strndup(v, vl);
    if (!name || !value) {
        free(name);
        free(value);
        return err_set(e, VOLLEY_ENOMEM, "%s: out of memory", what);
    }
    /* A later header replaces an earlier one of the same name (any case):
     * -H 'Host: a' -H 'host: b' sends one Host, b. */
    size_t i = 0;
    while (i < *n && strcasecmp(headers[i].name, name))
        i++;
    if (i < *n) {
        free((char *)headers[i].name);
        free((char *)headers[i].value);
    } else {
        (*n)++;
    }
    headers[i].name = name;
    headers[i].value = value;
    return 0;
}

void plan_take_body(plan *p, char *body, size_t len)
{
    free(p->body);
    p->body = body;
    p->body_len = len;
}

static bool valid_method(const char *m)
{
    if (!*m)
        return false;
    for (; *m; m++)
        if (!isupper((unsigned char)*m) && *m != '-' && *m != '_')
            return false;
    return true;
}

void plan_default_name(const char *url_text, char *out, size_t cap)
{
    const char *s = strstr(url_text, "://");
    s = s ? strchr(s + 3, '/') : NULL;
    if (!s) {
        snprintf(out, cap, "/");
        return;
    }
    size_t n = strcspn(s, "?#");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

/* Copies a URL, percent-encoding bytes a request line may not carry raw
 * (non-ASCII) after the host, as browsers and curl do:
 * "/caf\xc3\xa9" is sent as "/caf%C3%A9". Returns -1 when it does not fit. */
static int encode_url(const char *in, char *out, size_t cap)
{
    const char *scheme = strstr(in, "://");
    const char *path = strchr(scheme ? scheme + 3 : in, '/');
    size_t k = 0;
    for (const char *q = in; *q; q++) {
        unsigned char ch = (unsigned char)*q;
        bool raw = !path || q < path || ch < 0x80;
        if (k + (raw ? 1 : 3) >= cap)
            return -1;
        if (raw)
            out[k++] = (char)ch;
        else
            k += (size_t)snprintf(out + k, cap - k, "%%%02X", ch);
    }
    out[k] = 0;
    return 0;
}

/* user:password@ in the URL becomes the endpoint's Basic auth, and the
 * password leaves url_text ("user:***@"), which goes into results files. */
static int take_userinfo(plan_endpoint *ep, const char *what, err *e)
{
    char *auth = strstr(ep->url_text, "://");
    if (!auth)
        return 0;
    auth += 3;
    char *at = memchr(auth, '@', strcspn(auth, "/?#"));
    if (!at)
        return 0;
    url u;
    int rc = addr_parse_url(ep->url_text, what, &u, e);
    if (rc)
        return rc;
    addr_basic_auth(&u, ep->basic_auth, sizeof ep->basic_auth);
    char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon) {
        memmove(colon + 4, at, strlen(at) + 1);
        memcpy(colon, ":***", 4);
    }
    return 0;
}

plan_endpoint *plan_add_endpoint_parts(plan *p, const char *name, const char *method,
                                       const char *url_text, const char *what, err *e)
{
    if (p->neps == PLAN_MAX_ENDPOINTS) {
        err_set(e, VOLLEY_EINVAL, "%s: more than %d endpoints", what, PLAN_MAX_ENDPOINTS);
        return NULL;
    }
    if (method && !valid_method(method)) {
        err_set(e, VOLLEY_EINVAL, "%s: '%s' is not an HTTP method (e.g. GET, POST)", what, method);
        return NULL;
    }
    if (strlen(url_text) >= sizeof p->eps[0].url_text) {
        err_set(e, VOLLEY_EINVAL, "%s: URL too long", what);
        return NULL;
    }
    plan_endpoint *ep = &p->eps[p->neps];
    memset(ep, 0, sizeof *ep);
    if (encode_url(url_text, ep->url_text, sizeof ep->url_text)) {
        err_set(e, VOLLEY_EINVAL, "%s: URL too long", what);
        return NULL;
    }
    if (take_userinfo(ep, what, e))
        return NULL;
    if (name && *name)
        snprintf(ep->name, sizeof ep->name, "%s", name);
    else
        plan_default_name(url_text, ep->name, sizeof ep->name);
    for (size_t i = 0; i < p->neps; i++)
        if (!strcmp(p->eps[i].name, ep->name)) {
            err_set(e, VOLLEY_EINVAL, "%s: endpoint name '%s' used twice", what, ep->name);
            return NULL;
        }
    if (method)
        snprintf(ep->method, sizeof ep->method, "%s", method);
    ep->weight = 1;
    p->neps++;
    return ep;
}

int plan_add_endpoint(plan *p, const char *spec, const char *what, err *e)
{
    const char *eq = strchr(spec, '=');
    const char *scheme = strstr(spec, "://");
    char name[64] = "";
    const char *rest = spec;
    if (eq && (!scheme || eq < scheme)) {
        size_t n = (size_t)(eq - spec);
        if (n == 0 || n >= sizeof name)
            return err_set(e, VOLLEY_EINVAL, "%s: bad endpoint name in '%s'", what, spec);
        memcpy(name, spec, n);
        name[n] = 0;
        rest = eq + 1;
    }
    char method[32] = "";
    const char *sp = strchr(rest, ' ');
    if (sp) {
        size_t n = (size_t)(sp - rest);
        if (n == 0 || n >= sizeof method)
            return err_set(e, VOLLEY_EINVAL, "%s: bad method in '%s'", what, spec);
        memcpy(method, rest, n);
        method[n] = 0;
        rest = sp + 1;
        while (*rest == ' ')
            rest++;
    }
    return plan_add_endpoint_parts(p, name, method[0] ? method : NULL, rest, what, e) ? 0
                                                                                       : VOLLEY_EINVAL;
}

int plan_set_weight(plan *p, const char *spec, err *e)
{
    const char *eq = strchr(spec, '=');
    if (!eq)
        return err_set(e, VOLLEY_EINVAL, "--weight: '%s' is not NAME=WEIGHT", spec);
    double w;
    int rc = parse_double(eq + 1, "--weight", &w, e);
    if (rc)
        return rc;
    for (size_t i = 0; i < p->neps; i++)
        if (strlen(p->eps[i].name) == (size_t)(eq - spec) &&
            !strncmp(p->eps[i].name, spec, (size_t)(eq - spec))) {
            p->eps[i].weight = w;
            return 0;
        }
    return err_set(e, VOLLEY_EINVAL, "--weight: no endpoint named '%.*s'", (int)(eq - spec), spec);
}

bool plan_filter_match(const char *url_text, const char *filter)
{
    url u;
    if (addr_parse_url(url_text, "--filter", &u, NULL))
        return false;
    /* "users" means "/users": the seeds write the prefix without its slash. */
    const char *want = filter[0] == '/' ? filter + 1 : filter;
    if (!strncmp(u.path + (u.path[0] == '/'), want, strlen(want)))
        return true;
    /* HOST[:PORT] alone, or HOST[:PORT]/PATH-PREFIX. */
    size_t hl = strcspn(filter, "/");
    if (strlen(u.hostport) != hl || strncmp(u.hostport, filter, hl))
        return false;
    return !filter[hl] || !strncmp(u.path, filter + hl, strlen(filter + hl));
}

int plan_filter(plan *p, const char *prefix, err *e)
{
    size_t kept = 0;
    for (size_t i = 0; i < p->neps; i++) {
        if (plan_filter_match(p->eps[i].url_text, prefix)) {
            if (kept != i)
                p->eps[kept] = p->eps[i];
            kept++;
        } else {
            free_headers(p->eps[i].headers, p->eps[i].nheaders);
            free(p->eps[i].body);
            buf_free(&p->eps[i].request);
        }
    }
    p->neps = kept;
    if (!kept)
        return err_set(e, VOLLEY_EINVAL, "--filter: no endpoint path starts with '%s' (nor is it their host)", prefix);
    return 0;
}

/* vegeta's format: "METHOD URL" lines, then header lines "Name: value",
 * then an optional "@path" body line; targets are separated by blank lines.
 * Lines starting with '#' are comments. An optional "# name: NAME" comment
 * right before a target names it. */
int plan_load_targets(plan *p, const char *path, err *e)
{
    char *text;
    size_t len;
    int rc = file_read_all(path, "--targets", &text, &len, e);
    if (rc)
        return rc;
    plan_endpoint *cur = NULL;
    char pending_name[64] = "";
    int lineno = 0;
    char where[4200];
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = 0;
        snprintf(where, sizeof where, "--targets %s:%d", path, lineno);
        if (l == 0) {
            cur = NULL;
            continue;
        }
        if (line[0] == '#') {
            if (!strncmp(line, "# name:", 7)) {
                const char *n = line + 7;
                while (*n == ' ')
                    n++;
                snprintf(pending_name, sizeof pending_name, "%s", n);
            }
            continue;
        }
        if (!cur) {
            char *sp = strchr(line, ' ');
            if (!sp || !sp[strspn(sp, " ")]) { /* a method without a URL too */
                rc = err_set(e, VOLLEY_EINVAL, "%s: expected 'METHOD URL', got '%s'", where, line);
                break;
            }
            *sp = 0;
            const char *u = sp + 1;
            while (*u == ' ')
                u++;
            cur = plan_add_endpoint_parts(p, pending_name, line, u, where, e);
            pending_name[0] = 0;
            if (!cur) {
                rc = VOLLEY_EINVAL;
                break;
            }
            continue;
        }
        if (line[0] == '@') {
            char *body;
            size_t blen;
            if ((rc = file_read_all(line + 1, where, &body, &blen, e)))
                break;
            free(cur->body);
            cur->body = body;
            cur->body_len = blen;
            continue;
        }
        if ((rc = plan_add_header(cur->headers, &cur->nheaders, line, where, e)))
            break;
    }
    free(text);
    if (!rc && p->neps == 0)
        rc = err_set(e, VOLLEY_EINVAL, "--targets %s: no targets in the file", path);
    return rc;
}

static int add_target(plan *p, plan_endpoint *ep, err *e)
{
    for (size_t i = 0; i < p->ntargets; i++)
        if (!strcmp(p->target_names[i], ep->target.hostport) &&
            p->target_tls[i] == ep->target.tls) {
            ep->target_idx = (uint32_t)i;
            return 0;
        }
    if (p->ntargets == PLAN_MAX_TARGETS)
        return err_set(e, VOLLEY_EINVAL, "more than %d different hosts", PLAN_MAX_TARGETS);
    int n = route_resolve(&p->route, &ep->target, ep->name, p->target_addrs[p->ntargets],
                          ADDR_MAX, p->target_tunnel[p->ntargets],
                          sizeof p->target_tunnel[0], e);
    if (n < 0)
        return n;
    p->target_naddrs[p->ntargets] = (uint32_t)n;
    p->targets[p->ntargets] = p->target_addrs[p->ntargets][0];
    snprintf(p->target_names[p->ntargets], sizeof p->target_names[0], "%s", ep->target.hostport);
    snprintf(p->target_hosts[p->ntargets], sizeof p->target_hosts[0], "%s", ep->target.host);
    p->target_tls[p->ntargets] = ep->target.tls;
    ep->target_idx = (uint32_t)p->ntargets++;
    return 0;
}

/* Builds out around a body nobody else sends: the head is written in front
 * of the body's own buffer, which out takes over, so a large --body-file is
 * never copied (held once). *body becomes NULL. */
static int build_around_body(http1_request_spec *spec, char **body, buf *out, err *e)
{
    buf head = {0};
    spec->head_only = true;
    int rc = http1_request_build(spec, &head, e);
    if (rc) {
        buf_free(&head);
        return rc;
    }
    size_t n = spec->body_len, h = head.len;
    char *d = realloc(*body, n + h);
    if (!d) {
        buf_free(&head);
        return err_set(e, VOLLEY_ENOMEM, "request body: out of memory");
    }
    memmove(d + h, d, n);
    memcpy(d, head.data, h);
    buf_free(&head);
    buf_free(out);
    *out = (buf){.data = d, .len = n + h, .cap = n + h};
    *body = NULL;
    return 0;
}

#define BODY_IN_PLACE_MIN (64 * 1024) /* smaller bodies are simply copied */

static int compile_endpoint(plan *p, plan_endpoint *ep, err *e)
{
    char what[128];
    snprintf(what, sizeof what, p->neps > 1 ? "endpoint '%s'" : "URL", ep->name);
    int rc = addr_parse_url(ep->url_text, what, &ep->target, e);
    if (rc)
        return rc;
    if (!ep->method[0])
        snprintf(ep->method, sizeof ep->method, "%s", p->method);
    if (!valid_method(ep->method))
        return err_set(e, VOLLEY_EINVAL, "--method: '%s' is not an HTTP method (e.g. GET, POST)",
                       ep->method);
    ep->head = !strcmp(ep->method, "HEAD");
    if ((rc = add_target(p, ep, e)))
        return rc;
    http1_header all[2 * PLAN_MAX_HEADERS];
    size_t n = 0;
    for (size_t i = 0; i < p->nheaders; i++)
        all[n++] = p->headers[i];
    for (size_t i = 0; i < ep->nheaders; i++)
        all[n++] = ep->headers[i];
    /* user:password@ in the URL is Basic auth, unless a header says otherwise. */
    bool has_auth = false;
    for (size_t i = 0; i < n; i++)
        has_auth |= !strcasecmp(all[i].name, "Authorization");
    if (!has_auth && ep->basic_auth[0])
        all[n++] = (http1_header){"Authorization", ep->basic_auth};
    /* Through an http proxy the request target is the absolute URL. */
    char absolute[sizeof ep->target.path + 320];
    bool abs_form = route_absolute_form(&p->route, &ep->target, absolute, sizeof absolute);
    http1_request_spec spec = {
        .method = ep->method,
        .host = ep->target.hostport,
        .path = abs_form ? absolute : ep->target.path,
        .headers = all,
        .nheaders = n,
        .body = ep->body ? ep->body : p->body,
        .body_len = ep->body ? ep->body_len : p->body_len,
        .keepalive = p->keepalive,
    };
    buf_reset(&ep->request);
    char **own = ep->body ? &ep->body : p->neps == 1 ? &p->body : NULL;
    if (own && *own && spec.body_len >= BODY_IN_PLACE_MIN)
        return build_around_body(&spec, own, &ep->request, e);
    return http1_request_build(&spec, &ep->request, e);
}

int plan_compile(plan *p, err *e)
{
    if (p->neps == 0)
        return err_set(e, VOLLEY_EINVAL, "no URL or endpoint given");
    p->ntargets = 0;
    double wsum = 0;
    for (size_t i = 0; i < p->neps; i++) {
        int rc = compile_endpoint(p, &p->eps[i], e);
        if (rc)
            return rc;
        wsum += p->eps[i].weight;
    }
    if (p->mode == PLAN_MIXED && wsum <= 0)
        return err_set(e, VOLLEY_EINVAL, "--weight: all weights are 0");
    p->weight_sum = wsum;
    /* The request bytes hold the bodies now: free the source copies, so a
     * large --body-file is held once (once per endpoint that sends it). The
     * lengths stay for the results. plan_compile is called once. */
    free(p->body);
    p->body = NULL;
    for (size_t i = 0; i < p->neps; i++) {
        free(p->eps[i].body);
        p->eps[i].body = NULL;
    }
    bool any_tls = false;
    for (size_t i = 0; i < p->ntargets; i++)
        any_tls |= p->target_tls[i];
    /* A redirect may lead from http to https: then TLS is ready too. */
    bool tls_needed = any_tls || p->redirects;
    if (tls_needed && !p->tls && !(p->tls = tls_client_ctx_new(&p->tls_opts, e)))
        return e && e->code ? e->code : VOLLEY_EINVAL;
    if (!tls_needed && (p->tls_opts.cafile || p->tls_opts.certfile || p->tls_opts.insecure))
        return err_set(e, VOLLEY_EINVAL, "--insecure/--cacert/--cert: no https:// endpoint");
    if (!tls_needed && p->share_tls_sessions)
        return err_set(e, VOLLEY_EINVAL, "--share-tls-sessions: no https:// endpoint");
    if (p->h2c && any_tls && !plan_has_plain(p))
        return err_set(e, VOLLEY_EINVAL, "--h2c: no http:// endpoint (https:// chooses HTTP/2 "
                       "by ALPN: --http 2)");
    if (p->pipeline > 1 && !p->keepalive)
        return err_set(e, VOLLEY_EINVAL, "--pipeline: needs keep-alive (not with --no-keepalive)");
    /* A mixed-mode VU moves its connection between hosts: not while other
     * requests are in flight on it. */
    if (p->pipeline > 1 && p->mode == PLAN_MIXED && p->ntargets > 1)
        return err_set(e, VOLLEY_EINVAL, "--pipeline: with --mode mixed, only for endpoints "
                       "on one host");
    if (p->segment_k < 1 || p->segment_k > p->segment_n)
        return err_set(e, VOLLEY_EINVAL, "--segment: %u/%u is not k/n with 1 <= k <= n",
                       p->segment_k, p->segment_n);
    return 0;
}

bool plan_has_plain(const plan *p)
{
    for (size_t i = 0; i < p->ntargets; i++)
        if (!p->target_tls[i])
            return true;
    return false;
}

int plan_set_http(plan *p, const char *v, err *e)
{
    if (!strcmp(v, "auto"))
        p->http = PLAN_HTTP_AUTO;
    else if (!strcmp(v, "1.1") || !strcmp(v, "1"))
        p->http = PLAN_HTTP_11;
    else if (!strcmp(v, "2"))
        p->http = PLAN_HTTP_2;
    else
        return err_set(e, VOLLEY_EINVAL, "--http: '%s' is not 1.1, 2 or auto", v);
    return plan_http_check(p, e);
}

int plan_http_check(plan *p, err *e)
{
    if (p->http == PLAN_HTTP_11 && p->h2c)
        return err_set(e, VOLLEY_EINVAL, "--h2c: not with --http 1.1");
    p->tls_opts.alpn = p->http == PLAN_HTTP_11 ? TLS_ALPN_HTTP11
                       : p->http == PLAN_HTTP_2 ? TLS_ALPN_H2
                                                : TLS_ALPN_H2_HTTP11;
    return 0;
}

uint32_t plan_pool_cap(const plan *p, const executor *x)
{
    if (p->max_connections)
        return p->max_connections;
    /* Enough for the peak rate at 100 ms per request, at least 64: a server
     * slower than that will show it as waiting (latency) and drops. */
    double r = x ? executor_max_rate(x) : 0;
    for (size_t i = 0; i < p->nrates; i++)
        if (p->rates[i] > r)
            r = p->rates[i];
    double c = ceil(r * 0.1);
    if (c < 64)
        c = 64;
    if (c > 10000)
        c = 10000;
    return (uint32_t)c;
}

uint32_t plan_backlog_cap(const plan *p, const executor *x)
{
    if (p->max_backlog)
        return p->max_backlog;
    double r = x ? executor_max_rate(x) : 0;
    for (size_t i = 0; i < p->nrates; i++)
        if (p->rates[i] > r)
            r = p->rates[i];
    /* One second of arrivals may wait for a connection. */
    double b = ceil(r);
    if (b < 1000)
        b = 1000;
    if (b > 1000000)
        b = 1000000;
    return (uint32_t)b;
}

uint32_t plan_pick_endpoint(const plan *p, uint64_t i)
{
    if (p->neps == 1)
        return 0;
    /* Golden-ratio sequence: frac(i * phi) is evenly spread in [0, 1). */
    double u = fmod((double)(i % 1000000007ULL) * 0.6180339887498949, 1.0) * p->weight_sum;
    double acc = 0;
    for (size_t k = 0; k < p->neps; k++) {
        acc += p->eps[k].weight;
        if (u < acc)
            return (uint32_t)k;
    }
    return (uint32_t)(p->neps - 1);
}

uint32_t plan_cap_threads(uint32_t n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t cap = 4 * (uint64_t)(cpus > 0 ? cpus : 1);
    if (cap > PLAN_MAX_THREADS)
        cap = PLAN_MAX_THREADS;
    if (n <= cap)
        return n;
    log_warn("-t %u: capped at %llu threads (4 x %ld CPUs, %d at most); more threads than that "
             "only compete for the CPUs and delay each other's timers",
             n, (unsigned long long)cap, cpus > 0 ? cpus : 1, PLAN_MAX_THREADS);
    return (uint32_t)cap;
}
