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

/* An example value of a parameter as text: example, schema.example,
 * schema.default, or the first of examples{}. */
static bool example_text(json_t *param, char *out, size_t cap)
{
    json_t *schema = json_object_get(param, "schema");
    json_t *v = json_object_get(param, "example");
    if (!v && schema)
        v = json_object_get(schema, "example");
    if (!v && schema)
        v = json_object_get(schema, "default");
    if (!v) {
        json_t *exs = json_object_get(param, "examples");
        const char *k;
        json_t *ex;
        json_object_foreach(exs, k, ex)
        {
            v = json_object_get(ex, "value");
            if (v)
                break;
        }
    }
    if (!v)
        return false;
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

static json_t *find_param(json_t *params, const char *name, size_t nlen)
{
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        const char *in = json_string_value(json_object_get(p, "in"));
        if (n && in && !strcmp(in, "path") && strlen(n) == nlen && !strncmp(n, name, nlen))
            return p;
    }
    return NULL;
}

/* Builds the concrete path (path params filled, required query params
 * appended). False if a path parameter has no example. */
static bool concrete_path(const char *tmpl, json_t *params, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *s = tmpl; *s && o < cap - 1;) {
        if (*s != '{') {
            out[o++] = *s++;
            continue;
        }
        const char *end = strchr(s, '}');
        if (!end)
            return false;
        json_t *p = find_param(params, s + 1, (size_t)(end - s - 1));
        char v[256];
        if (!p || !example_text(p, v, sizeof v))
            return false;
        o += (size_t)snprintf(out + o, cap - o, "%s", v);
        if (o >= cap)
            return false;
        s = end + 1;
    }
    out[o] = 0;
    size_t i;
    json_t *p;
    char sep = strchr(out, '?') ? '&' : '?';
    json_array_foreach(params, i, p)
    {
        const char *in = json_string_value(json_object_get(p, "in"));
        const char *n = json_string_value(json_object_get(p, "name"));
        char v[256];
        if (!in || !n || strcmp(in, "query") || !json_is_true(json_object_get(p, "required")))
            continue;
        if (!example_text(p, v, sizeof v))
            return false;
        o += (size_t)snprintf(out + o, cap - o, "%c%s=%s", sep, n, v);
        sep = '&';
        if (o >= cap)
            return false;
    }
    return true;
}

static int add_op(plan *p, const char *base, const char *path, const char *method, json_t *op,
                  json_t *path_params, bool several, err *e)
{
    json_t *params = json_array();
    if (path_params)
        json_array_extend(params, path_params);
    json_t *own = json_object_get(op, "parameters");
    if (own)
        json_array_extend(params, own);
    char cpath[2048];
    bool ok = concrete_path(path, params, cpath, sizeof cpath);
    json_decref(params);
    if (!ok)
        return 0;
    char *body = NULL;
    if (strcmp(method, "GET")) {
        json_t *ex = json_object_get(
            json_object_get(json_object_get(json_object_get(op, "requestBody"), "content"),
                            "application/json"),
            "example");
        if (!ex)
            return 0; /* a write without an example body cannot be loaded blindly */
        body = json_dumps(ex, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!body)
            return err_set(e, VOLLEY_ENOMEM, "--openapi: out of memory");
    }
    char u[4200], name[64];
    snprintf(u, sizeof u, "%s%s", base, cpath);
    const char *opid = json_string_value(json_object_get(op, "operationId"));
    if (opid)
        snprintf(name, sizeof name, "%s", opid);
    else if (several || strcmp(method, "GET"))
        snprintf(name, sizeof name, "%s %s", method, path);
    else
        snprintf(name, sizeof name, "%s", path);
    plan_endpoint *ep = plan_add_endpoint_parts(p, name, method, u, "--openapi", e);
    if (!ep) {
        free(body);
        return VOLLEY_EINVAL;
    }
    if (body) {
        ep->body = body;
        ep->body_len = strlen(body);
        int rc = plan_add_header(ep->headers, &ep->nheaders, "Content-Type: application/json",
                                 "--openapi", e);
        if (rc)
            return rc;
    }
    return 1;
}

static void origin_of(const char *u, char *out, size_t cap)
{
    const char *s = strstr(u, "://");
    size_t n = s ? (size_t)(strcspn(s + 3, "/?#") + (size_t)(s + 3 - u)) : 0;
    snprintf(out, cap, "%.*s", (int)n, u);
}

int openapi_load(plan *p, const char *src, const char *base, err *e)
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
    static const char *methods[] = {"get", "post", "put", "patch"};
    json_object_foreach(paths, path, item)
    {
        if (rc < 0)
            break;
        json_t *pparams = json_object_get(item, "parameters");
        int nops = 0;
        for (size_t m = 0; m < 4; m++)
            nops += json_object_get(item, methods[m]) != NULL;
        for (size_t m = 0; m < 4 && rc >= 0; m++) {
            json_t *op = json_object_get(item, methods[m]);
            if (!op)
                continue;
            char M[8];
            for (size_t k = 0; k <= strlen(methods[m]); k++)
                M[k] = (char)(methods[m][k] >= 'a' ? methods[m][k] - 32 : methods[m][k]);
            int r = add_op(p, b, path, M, op, pparams, nops > 1, e);
            if (r < 0)
                rc = r;
            else
                added += r;
        }
    }
    json_decref(doc);
    if (rc < 0)
        return rc;
    if (!added)
        return err_set(e, VOLLEY_EINVAL, "--openapi %s: no operation with examples to load", src);
    return added;
}
