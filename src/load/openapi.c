/* openapi: turn an OpenAPI 3 document into plan endpoints (see openapi.h).
 * The document is fetched with a blocking HTTP/1.1 GET before the run, using
 * the project's own response parser. */
#include "load/openapi.h"

#include "core/buf.h"
#include "core/clock.h"
#include "net/addr.h"
#include "proto/http1.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FETCH_MAX (16u << 20)

static void on_body(void *ctx, const char *d, size_t n)
{
    buf *b = ctx;
    if (b->len + n <= FETCH_MAX)
        buf_append(b, d, n);
}

/* GET url into body; a 5 s deadline overall. */
static int fetch(const char *u_text, buf *body, err *e)
{
    url u;
    addr a;
    int rc = addr_parse_url(u_text, "--openapi", &u, e);
    if (!rc && u.tls)
        rc = err_set(e, VOLLEY_EINVAL, "--openapi: https documents are not supported; save it to a file");
    if (!rc)
        rc = addr_resolve(&u, "--openapi", &a, e);
    if (rc)
        return rc;
    buf req = {0};
    http1_request_spec spec = {.method = "GET", .host = u.hostport, .path = u.path, .keepalive = false};
    if ((rc = http1_request_build(&spec, &req, e)))
        return rc;
    int fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a.sa, a.len) < 0) {
        rc = err_sys(e, "--openapi: cannot connect to %s", u_text);
        if (fd >= 0)
            close(fd);
        buf_free(&req);
        return rc;
    }
    ssize_t w = send(fd, req.data, req.len, MSG_NOSIGNAL);
    buf_free(&req);
    if (w < 0) {
        close(fd);
        return err_sys(e, "--openapi: cannot send to %s", u_text);
    }
    http1_callbacks cb = {.on_body = on_body, .ctx = body};
    http1_resp r;
    http1_resp_begin(&r, false, &cb);
    uint64_t deadline = clock_now_ns() + 5 * NS_PER_S;
    char tmp[16384];
    int st = HTTP1_NEED_MORE;
    while (st == HTTP1_NEED_MORE) {
        uint64_t now = clock_now_ns();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (now >= deadline || poll(&pfd, 1, (int)((deadline - now) / NS_PER_MS) + 1) <= 0) {
            close(fd);
            return err_set(e, VOLLEY_EIO, "--openapi: no complete answer from %s within 5s", u_text);
        }
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            st = n == 0 ? http1_resp_eof(&r) : HTTP1_ECLOSED;
            break;
        }
        size_t used;
        st = http1_resp_parse(&r, tmp, (size_t)n, &used);
    }
    close(fd);
    if (st != HTTP1_DONE)
        return err_set(e, VOLLEY_EPARSE, "--openapi: bad response from %s: %s", u_text,
                       http1_strerror(st));
    if (r.status != 200)
        return err_set(e, VOLLEY_EIO, "--openapi: %s answered %d", u_text, r.status);
    return 0;
}

/* ---- values from the document ----
 * A parameter or body takes, in order: --path-param, its example, the first
 * of its examples{}, its schema's example/default/first enum value, and
 * last a value made from the schema's type and format (what FastAPI and
 * most generators emit: a typed schema with no example at all). */

enum { REF_DEPTH = 8 };

/* Follows a local "$ref": "#/components/..." pointer; NULL if it dangles. */
static json_t *deref(json_t *doc, json_t *v)
{
    for (int i = 0; i < REF_DEPTH && json_is_object(v); i++) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        if (!ref)
            return v;
        if (strncmp(ref, "#/", 2))
            return NULL;
        json_t *at = doc;
        char part[256];
        for (const char *s = ref + 2; *s && at;) {
            size_t n = strcspn(s, "/");
            snprintf(part, sizeof part, "%.*s", (int)(n < 255 ? n : 255), s);
            at = json_object_get(at, part);
            s += n + (s[n] == '/');
        }
        v = at;
    }
    return json_is_object(v) && !json_object_get(v, "$ref") ? v : NULL;
}

static json_t *first_example(json_t *holder)
{
    json_t *v = json_object_get(holder, "example");
    if (v)
        return json_incref(v);
    const char *k;
    json_t *ex;
    json_object_foreach(json_object_get(holder, "examples"), k, ex)
    {
        if ((v = json_object_get(ex, "value")))
            return json_incref(v);
    }
    return NULL;
}

static json_t *string_for_format(const char *fmt, json_t *schema)
{
    static const struct { const char *fmt, *value; } by_format[] = {
        {"uuid", "123e4567-e89b-12d3-a456-426614174000"}, {"date", "2024-01-01"},
        {"date-time", "2024-01-01T00:00:00Z"}, {"email", "user@example.com"},
        {"uri", "http://example.com/"}, {"hostname", "example.com"}, {"ipv4", "127.0.0.1"},
        {"ipv6", "::1"}, {"byte", "dm9sbGV5"}, {"time", "00:00:00"},
    };
    for (size_t i = 0; fmt && i < sizeof by_format / sizeof by_format[0]; i++)
        if (!strcmp(fmt, by_format[i].fmt))
            return json_string(by_format[i].value);
    json_int_t min = json_integer_value(json_object_get(schema, "minLength"));
    char s[64] = "string";
    while ((json_int_t)strlen(s) < min && strlen(s) < sizeof s - 1)
        strcat(s, "x");
    return json_string(s);
}

static json_t *value_from_schema(json_t *doc, json_t *schema, int depth);

static json_t *object_from_schema(json_t *doc, json_t *schema, int depth)
{
    json_t *obj = json_object(), *props = json_object_get(schema, "properties");
    json_t *req = json_object_get(schema, "required");
    const char *k;
    json_t *ps;
    json_object_foreach(props, k, ps)
    {
        /* Required properties always; optional ones too when none is marked
         * required, so that an all-optional model is not sent empty. */
        bool wanted = json_array_size(req) == 0;
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r)
        {
            if (json_is_string(r) && !strcmp(json_string_value(r), k))
                wanted = true;
        }
        json_t *v = wanted ? value_from_schema(doc, ps, depth + 1) : NULL;
        if (v)
            json_object_set_new(obj, k, v);
    }
    return obj;
}

static json_t *value_from_schema(json_t *doc, json_t *schema, int depth)
{
    if (depth > REF_DEPTH || !(schema = deref(doc, schema)))
        return NULL;
    json_t *v = first_example(schema);
    if (v)
        return v;
    if ((v = json_object_get(schema, "default")))
        return json_incref(v);
    if ((v = json_array_get(json_object_get(schema, "enum"), 0)))
        return json_incref(v);
    static const char *const alts[] = {"allOf", "oneOf", "anyOf"};
    for (size_t i = 0; i < 3; i++) {
        json_t *first = json_array_get(json_object_get(schema, alts[i]), 0);
        if (first)
            return value_from_schema(doc, first, depth + 1);
    }
    const char *type = json_string_value(json_object_get(schema, "type"));
    const char *fmt = json_string_value(json_object_get(schema, "format"));
    json_t *min = json_object_get(schema, "minimum");
    if (!type && json_object_get(schema, "properties"))
        type = "object";
    if (!type)
        return NULL;
    if (!strcmp(type, "integer"))
        return json_integer(json_is_number(min) ? (json_int_t)json_number_value(min) : 1);
    if (!strcmp(type, "number"))
        return json_real(json_is_number(min) ? json_number_value(min) : 1.5);
    if (!strcmp(type, "boolean"))
        return json_true();
    if (!strcmp(type, "string"))
        return string_for_format(fmt, schema);
    if (!strcmp(type, "array")) {
        json_t *arr = json_array(), *item = value_from_schema(doc, json_object_get(schema, "items"), depth + 1);
        if (item)
            json_array_append_new(arr, item);
        return arr;
    }
    if (!strcmp(type, "object"))
        return object_from_schema(doc, schema, depth);
    return NULL;
}

static bool scalar_text(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, cap, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false");
    else
        return false;
    return true;
}

typedef struct load_ctx {
    json_t *doc;
    const openapi_options *o;
    char why[512]; /* why the operation at hand was skipped */
} load_ctx;

/* The value of parameter param as text; false (with the reason) when none. */
static bool param_text(load_ctx *c, json_t *param, char *out, size_t cap)
{
    const char *name = json_string_value(json_object_get(param, "name"));
    for (size_t i = 0; name && c->o && i < c->o->npath_params; i++) {
        const char *pp = c->o->path_params[i], *eq = strchr(pp, '=');
        if (eq && (size_t)(eq - pp) == strlen(name) && !strncmp(pp, name, strlen(name))) {
            snprintf(out, cap, "%s", eq + 1);
            return true;
        }
    }
    json_t *v = first_example(param);
    if (!v)
        v = value_from_schema(c->doc, json_object_get(param, "schema"), 0);
    bool ok = v && scalar_text(v, out, cap);
    json_decref(v);
    if (!ok)
        snprintf(c->why, sizeof c->why,
                 "no value for %s parameter '%s' (no example, and its schema gives none: "
                 "use --path-param %s=VALUE)",
                 json_string_value(json_object_get(param, "in")), name ? name : "?", name ? name : "NAME");
    return ok;
}

static json_t *find_param(load_ctx *c, json_t *params, const char *in, const char *name, size_t nlen)
{
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        json_t *d = deref(c->doc, p);
        const char *n = json_string_value(json_object_get(d, "name"));
        const char *pin = json_string_value(json_object_get(d, "in"));
        if (n && pin && !strcmp(pin, in) && strlen(n) == nlen && !strncmp(n, name, nlen))
            return d;
    }
    return NULL;
}

/* Builds the concrete path (path params filled, required query params
 * appended). False, with c->why set, when a parameter has no value. */
static bool concrete_path(load_ctx *c, const char *tmpl, json_t *params, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *s = tmpl; *s && o < cap - 1;) {
        if (*s != '{') {
            out[o++] = *s++;
            continue;
        }
        const char *end = strchr(s, '}');
        char v[256];
        json_t *p = end ? find_param(c, params, "path", s + 1, (size_t)(end - s - 1)) : NULL;
        if (!p) {
            snprintf(c->why, sizeof c->why, "path parameter '%.*s' is not declared",
                     end ? (int)(end - s - 1) : (int)strlen(s + 1), s + 1);
            return false;
        }
        if (!param_text(c, p, v, sizeof v))
            return false;
        o += (size_t)snprintf(out + o, cap - o, "%s", v);
        if (o >= cap)
            break;
        s = end + 1;
    }
    if (o >= cap - 1) {
        snprintf(c->why, sizeof c->why, "the path is longer than %zu bytes", cap - 1);
        return false;
    }
    out[o] = 0;
    size_t i;
    json_t *p;
    char sep = strchr(out, '?') ? '&' : '?';
    json_array_foreach(params, i, p)
    {
        json_t *d = deref(c->doc, p);
        const char *in = json_string_value(json_object_get(d, "in"));
        const char *n = json_string_value(json_object_get(d, "name"));
        char v[256];
        if (!in || !n || strcmp(in, "query") || !json_is_true(json_object_get(d, "required")))
            continue;
        if (!param_text(c, d, v, sizeof v))
            return false;
        o += (size_t)snprintf(out + o, cap - o, "%c%s=%s", sep, n, v);
        sep = '&';
        if (o >= cap) {
            snprintf(c->why, sizeof c->why, "the path is longer than %zu bytes", cap - 1);
            return false;
        }
    }
    return true;
}

/* The JSON body of a write operation; NULL with c->why when it has none. */
static char *request_body(load_ctx *c, json_t *op)
{
    json_t *rb = deref(c->doc, json_object_get(op, "requestBody"));
    json_t *content = json_object_get(rb, "content");
    if (!rb || !json_object_size(content))
        return strdup("");
    json_t *media = json_object_get(content, "application/json");
    if (!media) {
        const char *k = json_object_iter_key(json_object_iter(content));
        snprintf(c->why, sizeof c->why, "its request body is %s only (volley loads JSON bodies)", k);
        return NULL;
    }
    json_t *ex = first_example(media);
    if (!ex)
        ex = value_from_schema(c->doc, json_object_get(media, "schema"), 0);
    if (!ex) {
        snprintf(c->why, sizeof c->why, "its JSON body has no example and no usable schema");
        return NULL;
    }
    char *body = json_dumps(ex, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(ex);
    return body;
}

static int add_op(load_ctx *c, plan *p, const char *base, const char *path, const char *method,
                  json_t *op, json_t *path_params, bool several, err *e)
{
    json_t *params = json_array();
    if (path_params)
        json_array_extend(params, path_params);
    json_t *own = json_object_get(op, "parameters");
    if (own)
        json_array_extend(params, own);
    char cpath[2048];
    bool ok = concrete_path(c, path, params, cpath, sizeof cpath);
    json_decref(params);
    if (!ok)
        return 0;
    char *body = NULL;
    if (strcmp(method, "GET") && !(body = request_body(c, op)))
        return 0;
    char u[4200], name[64];
    snprintf(u, sizeof u, "%s%s", base, cpath);
    const char *opid = json_string_value(json_object_get(op, "operationId"));
    if (opid)
        snprintf(name, sizeof name, "%s", opid);
    else if (several || strcmp(method, "GET"))
        snprintf(name, sizeof name, "%s %s", method, path);
    else
        snprintf(name, sizeof name, "%s", path);
    /* Two operations may name themselves alike (an operationId reused, a
     * path written twice): the later one gets " #2", " #3", ... */
    char base_name[48];
    snprintf(base_name, sizeof base_name, "%.47s", name);
    for (int k = 2; k < 1000; k++) {
        bool taken = false;
        for (size_t i = 0; i < p->neps && !taken; i++)
            taken = !strcmp(p->eps[i].name, name);
        if (!taken)
            break;
        snprintf(name, sizeof name, "%s #%d", base_name, k);
    }
    plan_endpoint *ep = plan_add_endpoint_parts(p, name, method, u, "--openapi", e);
    if (!ep) {
        free(body);
        return VOLLEY_EINVAL;
    }
    if (body && *body) {
        ep->body = body;
        ep->body_len = strlen(body);
        return plan_add_header(ep->headers, &ep->nheaders, "Content-Type: application/json",
                               "--openapi", e) ?: 1;
    }
    free(body);
    return 1;
}

static void origin_of(const char *u, char *out, size_t cap)
{
    const char *s = strstr(u, "://");
    size_t n = s ? (size_t)(strcspn(s + 3, "/?#") + (size_t)(s + 3 - u)) : 0;
    snprintf(out, cap, "%.*s", (int)n, u);
}

int openapi_load(plan *p, const char *src, const char *base, const openapi_options *o, err *e)
{
    bool is_url = strstr(src, "://") != NULL;
    json_error_t je;
    json_t *doc;
    if (is_url) {
        buf body = {0};
        int rc = fetch(src, &body, e);
        if (rc) {
            buf_free(&body);
            return rc;
        }
        doc = json_loadb(body.data ? body.data : "", body.len, 0, &je);
        buf_free(&body);
    } else {
        doc = json_load_file(src, 0, &je);
    }
    if (!doc)
        return err_set(e, VOLLEY_EPARSE, "--openapi %s:%d:%d: %s", src, je.line, je.column, je.text);
    const char *ver = json_string_value(json_object_get(doc, "openapi"));
    json_t *paths = json_object_get(doc, "paths");
    int rc = 0;
    if (!ver || strncmp(ver, "3.", 2))
        rc = err_set(e, VOLLEY_EPARSE, "--openapi %s: not an OpenAPI 3 document (no \"openapi\": \"3.x\")", src);
    else if (!json_is_object(paths))
        rc = err_set(e, VOLLEY_EPARSE, "--openapi %s: no \"paths\" object", src);
    char b[1024] = "";
    if (!rc) {
        const char *srv = json_string_value(
            json_object_get(json_array_get(json_object_get(doc, "servers"), 0), "url"));
        if (base)
            snprintf(b, sizeof b, "%s", base);
        else if (srv && strstr(srv, "://"))
            snprintf(b, sizeof b, "%s", srv);
        else if (is_url)
            origin_of(src, b, sizeof b);
        else
            rc = err_set(e, VOLLEY_EINVAL, "--openapi %s: no absolute server URL; give the base URL as the URL argument", src);
        size_t bl = strlen(b);
        if (bl && b[bl - 1] == '/')
            b[bl - 1] = 0;
    }
    int added = 0;
    const char *path;
    json_t *item;
    /* DELETE is never loaded blindly; the others are listed when skipped. */
    static const char *methods[] = {"get", "post", "put", "patch", "delete"};
    enum { NMETHODS = sizeof methods / sizeof methods[0] };
    load_ctx c = {.doc = doc, .o = o};
    json_object_foreach(paths, path, item)
    {
        if (rc < 0 || !(item = deref(doc, item)))
            continue;
        json_t *pparams = json_object_get(item, "parameters");
        int nops = 0;
        for (size_t m = 0; m < NMETHODS; m++)
            nops += json_object_get(item, methods[m]) != NULL;
        for (size_t m = 0; m < NMETHODS && rc >= 0; m++) {
            json_t *op = json_object_get(item, methods[m]);
            if (!op)
                continue;
            char M[8];
            for (size_t k = 0; k <= strlen(methods[m]); k++)
                M[k] = (char)(methods[m][k] >= 'a' ? methods[m][k] - 32 : methods[m][k]);
            c.why[0] = 0;
            int r = 0;
            if (!strcmp(M, "DELETE"))
                snprintf(c.why, sizeof c.why, "DELETE operations are not loaded (destructive)");
            else if (path[0] != '/' || strpbrk(path, " \t\r\n"))
                snprintf(c.why, sizeof c.why, "the path is not '/...' without spaces (OpenAPI paths start with '/')");
            else
                r = add_op(&c, p, b, path, M, op, pparams, nops > 1, e);
            if (r < 0)
                rc = r;
            added += r > 0;
            if (r == 0 && o && o->on_skip)
                o->on_skip(o->ctx, M, path, c.why[0] ? c.why : "no usable values");
        }
    }
    json_decref(doc);
    if (rc < 0)
        return rc;
    if (!added)
        return err_set(e, VOLLEY_EINVAL, "--openapi %s: no operation could be loaded (the skipped ones are listed above)", src);
    return added;
}
