/* route: --resolve, --connect-to, --unix-socket, --proxy and --dns-spread
 * turned into the addresses a target connects to (see route.h). Parsing
 * follows curl's forms; the resolution itself is net/addr's. */
#include "net/route.h"

#include <ctype.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int resolve_list(const struct route_rule *r, uint16_t port, const char *what, addr *out,
                        int max, err *e);

/* Takes the next ':'-separated field of *s ("[v6]" keeps its colons). */
static int next_field(const char **s, char *out, size_t cap, bool last, const char *what,
                      const char *spec, err *e)
{
    const char *p = *s, *end;
    if (*p == '[') {
        const char *rb = strchr(p, ']');
        if (!rb)
            return err_set(e, VOLLEY_EINVAL, "%s: unclosed '[' in '%s'", what, spec);
        p++;
        end = rb;
        *s = rb[1] == ':' ? rb + 2 : rb + 1;
        if (!last && rb[1] != ':')
            return err_set(e, VOLLEY_EINVAL, "%s: expected ':' after ']' in '%s'", what, spec);
    } else {
        end = last ? p + strlen(p) : strchr(p, ':');
        if (!end)
            return err_set(e, VOLLEY_EINVAL, "%s: too few ':'-separated parts in '%s'", what,
                           spec);
        *s = *end ? end + 1 : end;
    }
    if ((size_t)(end - p) >= cap)
        return err_set(e, VOLLEY_EINVAL, "%s: a part is too long in '%s'", what, spec);
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = 0;
    return 0;
}

static int port_field(const char *text, bool may_be_empty, uint16_t *out, const char *what,
                      const char *spec, err *e)
{
    char *end;
    if (!*text && may_be_empty) {
        *out = 0;
        return 0;
    }
    unsigned long v = strtoul(text, &end, 10);
    if (!isdigit((unsigned char)*text) || *end || v == 0 || v > 65535)
        return err_set(e, VOLLEY_EINVAL, "%s: bad port '%s' in '%s'", what, text, spec);
    *out = (uint16_t)v;
    return 0;
}

int route_add_resolve(route_opts *o, const char *spec, err *e)
{
    const char *what = "--resolve", *s = spec;
    if (o->nresolve == ROUTE_MAX_RULES)
        return err_set(e, VOLLEY_EINVAL, "%s: at most %d", what, ROUTE_MAX_RULES);
    route_rule *r = &o->resolve[o->nresolve];
    char port[16];
    int rc;
    if ((rc = next_field(&s, r->host, sizeof r->host, false, what, spec, e)) ||
        (rc = next_field(&s, port, sizeof port, false, what, spec, e)) ||
        (rc = port_field(port, false, &r->port, what, spec, e)))
        return rc;
    snprintf(r->to_host, sizeof r->to_host, "%s", s);
    if (!r->host[0] || !r->to_host[0])
        return err_set(e, VOLLEY_EINVAL, "%s: expected HOST:PORT:ADDR[,ADDR...], got '%s'", what,
                       spec);
    /* Every address must be numeric: checked now, not at the first request. */
    addr tmp[ADDR_MAX];
    int n = resolve_list(r, r->port, what, tmp, ADDR_MAX, e);
    if (n < 0)
        return n;
    o->nresolve++;
    return 0;
}

int route_add_connect_to(route_opts *o, const char *spec, err *e)
{
    const char *what = "--connect-to", *s = spec;
    if (o->nconnect_to == ROUTE_MAX_RULES)
        return err_set(e, VOLLEY_EINVAL, "%s: at most %d", what, ROUTE_MAX_RULES);
    route_rule *r = &o->connect_to[o->nconnect_to];
    char p1[16], p2[16];
    int rc;
    if ((rc = next_field(&s, r->host, sizeof r->host, false, what, spec, e)) ||
        (rc = next_field(&s, p1, sizeof p1, false, what, spec, e)) ||
        (rc = next_field(&s, r->to_host, sizeof r->to_host, false, what, spec, e)) ||
        (rc = next_field(&s, p2, sizeof p2, true, what, spec, e)) ||
        (rc = port_field(p1, true, &r->port, what, spec, e)) ||
        (rc = port_field(p2, true, &r->to_port, what, spec, e)))
        return rc;
    o->nconnect_to++;
    return 0;
}

int route_set_unix(route_opts *o, const char *path, err *e)
{
    addr a;
    int rc = addr_unix(path, "--unix-socket", &a, e);
    if (!rc)
        snprintf(o->unix_path, sizeof o->unix_path, "%s", path);
    return rc;
}

int route_set_proxy(route_opts *o, const char *proxy_url, err *e)
{
    /* "host:port" alone is http://host:port, as curl. */
    char buf[600];
    if (!strstr(proxy_url, "://"))
        snprintf(buf, sizeof buf, "http://%s", proxy_url);
    else
        snprintf(buf, sizeof buf, "%s", proxy_url);
    int rc = addr_parse_url(buf, "--proxy", &o->proxy, e);
    if (rc)
        return rc;
    if (strcmp(o->proxy.scheme, "http"))
        return err_set(e, VOLLEY_EINVAL, "--proxy: only an http:// proxy is supported, not '%s'",
                       proxy_url);
    if (o->proxy.userinfo[0])
        return err_set(e, VOLLEY_EINVAL, "--proxy: proxy authentication (user:password@) is "
                       "not supported");
    o->has_proxy = true;
    return 0;
}

static bool rule_matches(const route_rule *r, const char *host, uint16_t port)
{
    return (!r->host[0] || !strcasecmp(r->host, host)) && (!r->port || r->port == port);
}

/* --resolve's addresses (numeric, comma-separated) with the port. */
static int resolve_list(const route_rule *r, uint16_t port, const char *what, addr *out, int max,
                        err *e)
{
    char list[256], *save = NULL;
    snprintf(list, sizeof list, "%s", r->to_host);
    int n = 0;
    for (char *tok = strtok_r(list, ",", &save); tok && n < max;
         tok = strtok_r(NULL, ",", &save)) {
        size_t l = strlen(tok);
        if (tok[0] == '[' && l > 2 && tok[l - 1] == ']') {
            tok[l - 1] = 0;
            tok++;
        }
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICHOST};
        struct addrinfo *res = NULL;
        if (getaddrinfo(tok, NULL, &hints, &res) || !res)
            return err_set(e, VOLLEY_EINVAL, "%s: '%s' is not a numeric address (in '%s')", what,
                           tok, r->to_host);
        int k = addr_resolve_host(tok, port, what, &out[n], 1, e);
        freeaddrinfo(res);
        if (k < 0)
            return k;
        n++;
    }
    if (!n)
        return err_set(e, VOLLEY_EINVAL, "%s: no address in '%s'", what, r->to_host);
    return n;
}

int route_resolve(const route_opts *o, const url *u, const char *what, addr *out, int max,
                  char *tunnel, size_t tunnel_cap, err *e)
{
    if (tunnel && tunnel_cap)
        tunnel[0] = 0;
    if (o && o->unix_path[0]) {
        int rc = addr_unix(o->unix_path, "--unix-socket", out, e);
        return rc ? rc : 1;
    }
    if (o && o->has_proxy) {
        /* Only plain http is forwarded as absolute-form; https and ws
         * go through a CONNECT tunnel. */
        if (strcmp(u->scheme, "http") && tunnel)
            snprintf(tunnel, tunnel_cap, strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host,
                     (unsigned)u->port);
        return addr_resolve_host(o->proxy.host, o->proxy.port, "--proxy", out, max, e);
    }
    const char *host = u->host;
    uint16_t port = u->port;
    for (uint32_t i = 0; o && i < o->nconnect_to; i++) {
        const route_rule *r = &o->connect_to[i];
        if (rule_matches(r, host, port)) {
            host = r->to_host[0] ? r->to_host : host;
            port = r->to_port ? r->to_port : port;
            break;
        }
    }
    for (uint32_t i = 0; o && i < o->nresolve; i++) {
        const route_rule *r = &o->resolve[i];
        if (!strcasecmp(r->host, host) && r->port == port)
            return resolve_list(r, port, "--resolve", out, max, e);
    }
    return addr_resolve_host(host, port, what, out, max, e);
}

bool route_absolute_form(const route_opts *o, const url *u, char *out, size_t cap)
{
    if (!o || !o->has_proxy || strcmp(u->scheme, "http") || o->unix_path[0])
        return false;
    snprintf(out, cap, "%s://%s%s", u->scheme, u->hostport, u->path);
    return true;
}

/* Appends "; " (after the first) and the formatted text, as far as it fits. */
static void describe_add(char *out, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void describe_add(char *out, size_t cap, size_t *n, const char *fmt, ...)
{
    if (*n && *n + 2 < cap)
        *n += (size_t)snprintf(out + *n, cap - *n, "; ");
    if (*n >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + *n, cap - *n, fmt, ap);
    va_end(ap);
    *n = k < 0 ? cap : *n + (size_t)k;
}

void route_describe(const route_opts *o, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    if (o->unix_path[0])
        describe_add(out, cap, &n, "unix %s", o->unix_path);
    if (o->has_proxy)
        describe_add(out, cap, &n, "proxy http://%s:%u", o->proxy.host, (unsigned)o->proxy.port);
    for (uint32_t i = 0; i < o->nconnect_to; i++) {
        const route_rule *r = &o->connect_to[i];
        describe_add(out, cap, &n, "connect-to %s:%u:%s:%u", r->host, (unsigned)r->port,
                     r->to_host, (unsigned)r->to_port);
    }
    for (uint32_t i = 0; i < o->nresolve; i++) {
        const route_rule *r = &o->resolve[i];
        describe_add(out, cap, &n, "resolve %s:%u:%s", r->host, (unsigned)r->port, r->to_host);
    }
    if (o->dns_spread)
        describe_add(out, cap, &n, "dns-spread");
}
