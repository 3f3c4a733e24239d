/* route: how volley reaches a URL's host:port when that is not simply "the
 * addresses DNS gives for it": curl's --resolve and --connect-to, a Unix
 * socket (--unix-socket), an HTTP proxy (--proxy: absolute-form requests
 * for http, a CONNECT tunnel for https) and --dns-spread. Used once per
 * target by load/plan (URL runs) and load/exchange (scripts), never on the
 * hot path. The URL's own host stays the Host header and the TLS SNI. */
#ifndef VOLLEY_ROUTE_H
#define VOLLEY_ROUTE_H

#include "core/err.h"
#include "net/addr.h"

#include <stdbool.h>
#include <stdint.h>

#define ROUTE_MAX_RULES 16

typedef struct route_rule {
    char host[256];          /* "" (connect-to only): any host */
    uint16_t port;           /* 0 (connect-to only): any port */
    char to_host[256];       /* connect-to: "" keeps the host; resolve: the address list */
    uint16_t to_port;        /* connect-to: 0 keeps the port */
} route_rule;

typedef struct route_opts {
    route_rule resolve[ROUTE_MAX_RULES];
    uint32_t nresolve;
    route_rule connect_to[ROUTE_MAX_RULES];
    uint32_t nconnect_to;
    char unix_path[108];     /* "" none */
    url proxy;               /* valid when has_proxy */
    bool has_proxy;
    bool dns_spread;         /* new connections take the addresses in turn */
} route_opts;

/* Flag parsers; errors name the flag and the bad part. */
int route_add_resolve(route_opts *o, const char *spec, err *e);    /* HOST:PORT:ADDR[,ADDR] */
int route_add_connect_to(route_opts *o, const char *spec, err *e); /* H1:P1:H2:P2 */
int route_set_unix(route_opts *o, const char *path, err *e);
int route_set_proxy(route_opts *o, const char *proxy_url, err *e);

/* Where connections to u go: up to max addresses (>= 1 returned, or a
 * negative error). *tunnel gets the CONNECT authority ("host:port") when
 * u is https through the proxy, else "". what names the URL's origin in
 * errors. */
int route_resolve(const route_opts *o, const url *u, const char *what, addr *out, int max,
                  char *tunnel, size_t tunnel_cap, err *e);

/* The options as one line for results.json ("proxy http://127.0.0.1:3128",
 * "unix /run/app.sock", "resolve a:443:127.0.0.1; dns-spread", ...); "" when
 * none is given. */
void route_describe(const route_opts *o, char *out, size_t cap);

/* u is plain http through the proxy: its request target is absolute-form
 * ("http://host:port/path"), written into out. */
bool route_absolute_form(const route_opts *o, const url *u, char *out, size_t cap);

#endif
