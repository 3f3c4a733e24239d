/* addr: host:port and URL parsing and resolution (see addr.h). */
#include "net/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* Up to max distinct addresses of host:port, in the resolver's order. */
static int resolve_n(const char *host, uint16_t port, const char *what, addr *out, int max,
                     err *e)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res)
        return err_set(e, VOLLEY_EINVAL, "%s: cannot resolve host '%s': %s", what, host,
                       rc ? gai_strerror(rc) : "no address");
    int n = 0;
    for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof out[n].sa)
            continue;
        bool dup = false;
        for (int i = 0; i < n && !dup; i++)
            dup = out[i].len == ai->ai_addrlen && !memcmp(&out[i].sa, ai->ai_addr, ai->ai_addrlen);
        if (dup)
            continue;
        memset(&out[n], 0, sizeof out[n]);
        memcpy(&out[n].sa, ai->ai_addr, ai->ai_addrlen);
        out[n].len = ai->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    if (!n)
        return err_set(e, VOLLEY_EINVAL, "%s: cannot resolve host '%s': no address", what, host);
    return n;
}

static int resolve(const char *host, uint16_t port, const char *what, addr *out, err *e)
{
    int n = resolve_n(host, port, what, out, 1, e);
    return n < 0 ? n : 0;
}

/* RFC 3986 percent-decoding into out; -1 on a bad escape or no room. */
static int percent_decode(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s; s++) {
        int c = (unsigned char)*s;
        if (c == '%') {
            if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
                return -1;
            char hex[3] = {s[1], s[2], 0};
            c = (int)strtol(hex, NULL, 16);
            s += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

static int parse_port(const char *s, const char *what, const char *whole, uint16_t *out,
                      err *e)
{
    if (!*s)
        return err_set(e, VOLLEY_EINVAL, "%s: missing port in '%s'", what, whole);
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) || (v = v * 10 + (unsigned long)(*p - '0')) > 65535)
            return err_set(e, VOLLEY_EINVAL, "%s: bad port '%s' in '%s'", what, s, whole);
    }
    *out = (uint16_t)v;
    return 0;
}

/* Splits "host:port" / "[v6]:port" / "host" into host and port text. */
static int split_hostport(const char *s, const char *what, char *host, size_t hcap,
                          const char **port, err *e)
{
    const char *colon;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb)
            return err_set(e, VOLLEY_EINVAL, "%s: unclosed '[' in '%s'", what, s);
        if ((size_t)(rb - s - 1) >= hcap)
            return err_set(e, VOLLEY_EINVAL, "%s: host too long in '%s'", what, s);
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = 0;
        if (rb[1] == ':')
            *port = rb + 2;
        else if (rb[1] == 0)
            *port = NULL;
        else
            return err_set(e, VOLLEY_EINVAL, "%s: unexpected text after ']' in '%s'", what, s);
        return 0;
    }
    colon = strrchr(s, ':');
    if (colon && strchr(s, ':') != colon)
        return err_set(e, VOLLEY_EINVAL, "%s: IPv6 addresses need brackets: '%s'", what, s);
    size_t hl = colon ? (size_t)(colon - s) : strlen(s);
    if (hl >= hcap)
        return err_set(e, VOLLEY_EINVAL, "%s: host too long in '%s'", what, s);
    memcpy(host, s, hl);
    host[hl] = 0;
    *port = colon ? colon + 1 : NULL;
    return 0;
}

int addr_parse_hostport(const char *s, const char *what, addr *out, err *e)
{
    char host[256];
    const char *ps;
    uint16_t port;
    int rc = split_hostport(s, what, host, sizeof host, &ps, e);
    if (rc)
        return rc;
    if (!ps)
        return err_set(e, VOLLEY_EINVAL, "%s: expected HOST:PORT, got '%s'", what, s);
    if ((rc = parse_port(ps, what, s, &port, e)))
        return rc;
    if (!host[0])
        return err_set(e, VOLLEY_EINVAL, "%s: missing host in '%s'", what, s);
    return resolve(host, port, what, out, e);
}

int addr_parse_url(const char *s, const char *what, url *u, err *e)
{
    memset(u, 0, sizeof *u);
    const char *sep = strstr(s, "://");
    if (!sep)
        return err_set(e, VOLLEY_EINVAL, "%s: '%s' is not a URL (expected http://HOST[:PORT]/PATH)",
                       what, s);
    size_t sl = (size_t)(sep - s);
    if (sl >= sizeof u->scheme)
        return err_set(e, VOLLEY_EINVAL, "%s: unknown scheme in '%s'", what, s);
    for (size_t i = 0; i < sl; i++)
        u->scheme[i] = (char)tolower((unsigned char)s[i]);
    uint16_t defport;
    if (!strcmp(u->scheme, "http") || !strcmp(u->scheme, "ws"))
        defport = 80;
    else if (!strcmp(u->scheme, "https") || !strcmp(u->scheme, "wss"))
        defport = 443, u->tls = true;
    else
        return err_set(e, VOLLEY_EINVAL, "%s: unsupported scheme '%s' in '%s' (use http or https)",
                       what, u->scheme, s);
    const char *auth = sep + 3;
    size_t al = strcspn(auth, "/?#");
    if (al == 0)
        return err_set(e, VOLLEY_EINVAL, "%s: missing host in '%s'", what, s);
    char hp[300];
    if (al >= sizeof hp)
        return err_set(e, VOLLEY_EINVAL, "%s: host too long in '%s'", what, s);
    memcpy(hp, auth, al);
    hp[al] = 0;
    char *at = strrchr(hp, '@');
    if (at) {
        *at = 0;
        if (percent_decode(hp, u->userinfo, sizeof u->userinfo))
            return err_set(e, VOLLEY_EINVAL, "%s: bad user:password@ in '%s' (a %% not followed "
                                             "by two hex digits, or over 255 bytes)", what, s);
        memmove(hp, at + 1, strlen(at + 1) + 1);
    }
    const char *ps;
    int rc = split_hostport(hp, what, u->host, sizeof u->host, &ps, e);
    if (rc)
        return rc;
    if (!u->host[0])
        return err_set(e, VOLLEY_EINVAL, "%s: missing host in '%s'", what, s);
    for (const char *h = u->host; *h; h++)
        if ((unsigned char)*h <= ' ' || *h == 0x7f)
            return err_set(e, VOLLEY_EINVAL, "%s: host contains a space or control character: '%s'",
                           what, s);
    u->port = defport;
    if (ps && (rc = parse_port(ps, what, s, &u->port, e)))
        return rc;
    if (u->port == 0)
        return err_set(e, VOLLEY_EINVAL, "%s: port 0 in '%s'", what, s);
    bool v6 = strchr(u->host, ':') != NULL;
    if (u->port == defport)
        snprintf(u->hostport, sizeof u->hostport, v6 ? "[%s]" : "%s", u->host);
    else
        snprintf(u->hostport, sizeof u->hostport, v6 ? "[%s]:%u" : "%s:%u", u->host,
                 (unsigned)u->port);
    const char *path = auth + al;
    size_t pl = strcspn(path, "#");
    if (pl == 0) {
        strcpy(u->path, "/");
    } else {
        if (pl + 2 > sizeof u->path)
            return err_set(e, VOLLEY_EINVAL, "%s: path too long in '%s'", what, s);
        size_t off = 0;
        if (path[0] == '?')
            u->path[off++] = '/';
        memcpy(u->path + off, path, pl);
        u->path[off + pl] = 0;
    }
    for (const char *p = u->path; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return err_set(e, VOLLEY_EINVAL, "%s: URL contains a space or control character: '%s'",
                           what, s);
    return 0;
}

bool addr_basic_auth(const url *u, char *out, unsigned long cap)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = (const unsigned char *)u->userinfo;
    size_t n = strlen(u->userinfo), o = 0;
    if (!n || cap < 7 + (n + 2) / 3 * 4)
        return false;
    memcpy(out, "Basic ", 6);
    o = 6;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return true;
}

int addr_resolve(const url *u, const char *what, addr *out, err *e)
{
    return resolve(u->host, u->port, what, out, e);
}

int addr_resolve_all(const url *u, const char *what, addr *out, int max, err *e)
{
    return resolve_n(u->host, u->port, what, out, max, e);
}

int addr_resolve_host(const char *host, uint16_t port, const char *what, addr *out, int max,
                      err *e)
{
    return resolve_n(host, port, what, out, max, e);
}

int addr_unix(const char *path, const char *what, addr *out, err *e)
{
    struct sockaddr_un *su = (struct sockaddr_un *)&out->sa;
    size_t n = strlen(path);
    if (!n || n >= sizeof su->sun_path)
        return err_set(e, VOLLEY_EINVAL, "%s: a Unix socket path of 1 to %zu bytes, not '%s'",
                       what, sizeof su->sun_path - 1, path);
    memset(out, 0, sizeof *out);
    su->sun_family = AF_UNIX;
    memcpy(su->sun_path, path, n);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

bool addr_is_loopback(const addr *a)
{
    if (a->sa.ss_family == AF_UNIX)
        return true;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->sa;
        return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->sa;
        if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr))
            return s->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

uint16_t addr_port(const addr *a)
{
    if (a->sa.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return 0;
}

void addr_format(const addr *a, char *out, unsigned long cap)
{
    char h[INET6_ADDRSTRLEN] = "?";
    if (a->sa.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->sa)->sin_addr, h, sizeof h);
        snprintf(out, cap, "%s:%u", h, (unsigned)addr_port(a));
    } else if (a->sa.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, h, sizeof h);
        snprintf(out, cap, "[%s]:%u", h, (unsigned)addr_port(a));
    } else if (a->sa.ss_family == AF_UNIX) {
        snprintf(out, cap, "unix:%s", ((const struct sockaddr_un *)&a->sa)->sun_path);
    } else {
        snprintf(out, cap, "?");
    }
}
