/* plan: the run as data (see plan.h). */
#include "load/plan.h"

#include "core/clock.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *plan_executor_name(executor_kind k)
{
    switch (k) {
    case EXEC_CONSTANT_VUS: return "constant-vus";
    }
    return "unknown";
}

void plan_init(plan *p)
{
    memset(p, 0, sizeof *p);
    strcpy(p->method, "GET");
    p->keepalive = true;
    p->executor = EXEC_CONSTANT_VUS;
    p->connections = 50;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    p->threads = n > 0 ? (uint32_t)n : 1;
    p->duration_ns = 10 * NS_PER_S;
    p->timeout_ns = 30 * NS_PER_S;
    p->connect_timeout_ns = 10 * NS_PER_S;
    p->grace_ns = 5 * NS_PER_S;
    p->max_header_bytes = 64 * 1024;
}

void plan_free(plan *p)
{
    for (size_t i = 0; i < p->nheaders; i++) {
        free((char *)p->headers[i].name);
        free((char *)p->headers[i].value);
    }
    p->nheaders = 0;
    free(p->body);
    p->body = NULL;
    buf_free(&p->request);
}

int plan_add_header(plan *p, const char *line, err *e)
{
    if (p->nheaders == PLAN_MAX_HEADERS)
        return err_set(e, VOLLEY_EINVAL, "--header: more than %d headers", PLAN_MAX_HEADERS);
    const char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return err_set(e, VOLLEY_EINVAL, "--header: '%s' is not 'Name: value'", line);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    char *name = strndup(line, (size_t)(colon - line));
    char *value = strndup(v, vl);
    if (!name || !value) {
        free(name);
        free(value);
        return err_set(e, VOLLEY_ENOMEM, "--header: out of memory");
    }
    p->headers[p->nheaders].name = name;
    p->headers[p->nheaders].value = value;
    p->nheaders++;
    return 0;
}

void plan_take_body(plan *p, char *body, size_t len)
{
    free(p->body);
    p->body = body;
    p->body_len = len;
}

int plan_compile(plan *p, err *e)
{
    int rc = addr_parse_url(p->url_text, "URL", &p->target, e);
    if (rc)
        return rc;
    if (p->target.tls)
        return err_set(e, VOLLEY_EINVAL, "URL: https is not supported yet: '%s'", p->url_text);
    for (const char *m = p->method; *m; m++)
        if (!isupper((unsigned char)*m) && *m != '-' && *m != '_')
            return err_set(e, VOLLEY_EINVAL, "--method: '%s' is not an HTTP method (e.g. GET, POST)",
                           p->method);
    if (!p->method[0])
        return err_set(e, VOLLEY_EINVAL, "--method: empty method");
    if ((rc = addr_resolve(&p->target, "URL", &p->address, e)))
        return rc;
    http1_request_spec spec = {
        .method = p->method,
        .host = p->target.hostport,
        .path = p->target.path,
        .headers = p->headers,
        .nheaders = p->nheaders,
        .body = p->body,
        .body_len = p->body_len,
        .keepalive = p->keepalive,
    };
    buf_reset(&p->request);
    return http1_request_build(&spec, &p->request, e);
}
