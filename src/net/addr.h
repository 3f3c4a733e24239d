/* addr: socket addresses and URLs, resolved once before a run (never on
 * the hot path). Parses "host:port", "[v6]:port" and http(s)/ws(s) URLs. */
#ifndef VOLLEY_ADDR_H
#define VOLLEY_ADDR_H

#include "core/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct addr {
    struct sockaddr_storage sa;
    socklen_t len;
} addr;

typedef struct url {
    char scheme[8];      /* "http", "https", "ws", "wss" */
    char host[256];      /* without brackets for IPv6 */
    uint16_t port;
    char hostport[300];  /* as for the Host header: "host:port" or "[v6]:port"
                            (port omitted when it is the scheme's default) */
    char path[4096];     /* origin-form, at least "/" ; includes the query */
    char userinfo[256];  /* "user:password" from user:password@host, percent-decoded */
    bool tls;
} url;

/* Parses "host:port" (host may be a name, IPv4 or [IPv6]) and resolves it
 * numerically or through getaddrinfo. `what` names the flag in errors. */
int addr_parse_hostport(const char *s, const char *what, addr *out, err *e);

/* Parses an absolute URL with scheme http, https, ws or wss. */
int addr_parse_url(const char *s, const char *what, url *out, err *e);

/* "Basic BASE64(user:password)" for a URL with userinfo (RFC 7617), into
 * out; false when the URL has none. */
bool addr_basic_auth(const url *u, char *out, unsigned long cap);

/* Resolves u's host and port (first address returned). */
int addr_resolve(const url *u, const char *what, addr *out, err *e);

#define ADDR_MAX 8 /* addresses kept per name (a client tries them in order) */

/* Resolves u's host and port into up to max addresses, in the resolver's
 * order without duplicates; returns how many (>= 1) or a negative error. */
int addr_resolve_all(const url *u, const char *what, addr *out, int max, err *e);

/* Resolves host and port (a name or a numeric address) into up to max
 * addresses, as addr_resolve_all. */
int addr_resolve_host(const char *host, uint16_t port, const char *what, addr *out, int max,
                      err *e);

/* A Unix socket address (path of at most 107 bytes). */
int addr_unix(const char *path, const char *what, addr *out, err *e);

/* True if a is in 127.0.0.0/8 or ::1 (or ::ffff:127.x). */
bool addr_is_loopback(const addr *a);

/* Formats as "1.2.3.4:80", "[::1]:80" or "unix:/path". */
void addr_format(const addr *a, char *out, unsigned long cap);

uint16_t addr_port(const addr *a);

#endif
