/* routes: request -> route + parameters, and response bytes (see routes.h).
 * Used by server.c, which decides when each piece is written; documented for
 * users in docs/serve.md and for tools in the OpenAPI document at the end of
 * this file (keep the three in step). */
#include "server/routes.h"

#include "core/err.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

const char routes_health_response[] = "HTTP/1.1 200 OK\r\n"
                                      "Content-Type: text/plain\r\n"
                                      "Content-Length: 2\r\n"
                                      "\r\n"
                                      "ok";
const size_t routes_health_response_len = sizeof routes_health_response - 1;

static char fill_block[ROUTES_FILL_LEN];

/* Filled once, on first use, by whichever thread gets there first. */
static pthread_once_t fill_once = PTHREAD_ONCE_INIT;
static void fill_init(void)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < ROUTES_FILL_LEN; i++)
        fill_block[i] = (i % 64 == 63) ? '\n' : alphabet[i % (sizeof alphabet - 1)];
}

const char *routes_fill(void)
{
    pthread_once(&fill_once, fill_init);
    return fill_block;
}

const char *routes_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 418: return "I'm a teapot";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int routes_write_head(buf *o, int status, const char *content_type, int64_t content_length,
                      const char *extra, bool close, bool keepalive_10)
{
    char len_line[48] = "";
    if (content_length >= 0)
        snprintf(len_line, sizeof len_line, "Content-Length: %lld\r\n",
                 (long long)content_length);
    else if (content_length == ROUTES_CHUNKED)
        snprintf(len_line, sizeof len_line, "Transfer-Encoding: chunked\r\n");
    int rc = buf_printf(o, "HTTP/1.1 %d %s\r\n%s%s%s%s%s%s%s\r\n", status, routes_reason(status),
                        content_type ? "Content-Type: " : "", content_type ? content_type : "",
                        content_type ? "\r\n" : "", len_line, extra ? extra : "",
                        close ? "Connection: close\r\n" : "",
                        (!close && keepalive_10) ? "Connection: keep-alive\r\n" : "");
    return rc;
}

int routes_simple_parts(const routes_match *m, routes_simple *out)
{
    memset(out, 0, sizeof *out);
    out->status = m->status;
    out->content_type = "text/plain";
    switch (m->id) {
    case ROUTE_HEALTH:
        out->status = 200;
        snprintf(out->text, sizeof out->text, "ok");
        break;
    case ROUTE_OPENAPI:
        out->status = 200;
        out->content_type = "application/json";
        out->body = routes_openapi_json;
        out->body_len = strlen(routes_openapi_json);
        return 0;
    case ROUTE_STATUS:
        if (m->status == 204 || m->status == 304) {
            out->content_type = NULL;
            return 0;
        }
        snprintf(out->text, sizeof out->text, "%d %s\n", m->status, routes_reason(m->status));
        break;
    case ROUTE_ERROR:
        snprintf(out->text, sizeof out->text, "%d %s: %s\n", m->status, routes_reason(m->status),
                 m->error ? m->error : "error");
        out->allow = m->allow;
        break;
    default:
        return VOLLEY_EINVAL;
    }
    out->body = out->text;
    out->body_len = strlen(out->text);
    return 0;
}

int routes_write_simple(buf *o, const routes_match *m, bool close, bool keepalive_10)
{
    routes_simple r;
    int rc = routes_simple_parts(m, &r);
    if (rc)
        return rc;
    if (!r.content_type)
        return routes_write_head(o, r.status, NULL, ROUTES_NO_LENGTH, NULL, close, keepalive_10);
    char allow[64];
    if (r.allow)
        snprintf(allow, sizeof allow, "Allow: %s\r\n", r.allow);
    rc = routes_write_head(o, r.status, r.content_type, (int64_t)r.body_len, r.allow ? allow : NULL,
                           close, keepalive_10);
    if (!rc && !m->head)
        rc = buf_append(o, r.body, r.body_len);
    return rc;
}

int routes_write_chunk(buf *o, const char *data, size_t len, bool chunked)
{
    int rc = 0;
    if (chunked)
        rc = buf_printf(o, "%zx\r\n", len);
    if (!rc)
        rc = buf_append(o, data, len);
    if (!rc && chunked)
        rc = buf_append(o, "\r\n", 2);
    return rc;
}

int routes_write_fill(buf *o, uint64_t len)
{
    const char *f = routes_fill();
    while (len) {
        size_t n = len < ROUTES_FILL_LEN ? (size_t)len : ROUTES_FILL_LEN;
        int rc = buf_append(o, f, n);
        if (rc)
            return rc;
        len -= n;
    }
    return 0;
}

int routes_write_sse_event(buf *o, uint64_t seq, uint64_t total, bool chunked)
{
    char ev[128];
    int n = snprintf(ev, sizeof ev, "id: %llu\nevent: tick\ndata: {\"seq\":%llu,\"total\":%llu}\n\n",
                     (unsigned long long)seq, (unsigned long long)seq,
                     (unsigned long long)total);
    return routes_write_chunk(o, ev, (size_t)n, chunked);
}

/* ---- matching ---- */

static bool lit(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && !memcmp(p, s, n);
}

/* Decimal digits only, at most max. */
static int num(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Looks key up in "a=1&b=2". Absent: 0 and *out untouched; bad: -1. */
static int query_u64(const char *q, size_t qn, const char *key, uint64_t max, uint64_t *out)
{
    size_t kl = strlen(key), i = 0;
    while (i < qn) {
        size_t s = i;
        while (i < qn && q[i] != '&')
            i++;
        if (i - s > kl && !memcmp(q + s, key, kl) && q[s + kl] == '=')
            return num(q + s + kl + 1, i - s - kl - 1, max, out);
        i++;
    }
    return 0;
}

static void set_error(routes_match *m, int status, const char *why)
{
    m->id = ROUTE_ERROR;
    m->status = status;
    m->error = why;
}

/* /stream, /buffered and /sse share their parameters. */
static void timed_params(routes_match *m, const char *q, size_t qn, bool sse)
{
    m->chunks = ROUTES_DEFAULT_CHUNKS;
    m->interval_ms = ROUTES_DEFAULT_INTERVAL_MS;
    m->size = ROUTES_DEFAULT_CHUNK_SIZE;
    if (query_u64(q, qn, sse ? "events" : "chunks", ROUTES_MAX_CHUNKS, &m->chunks) ||
        query_u64(q, qn, "interval_ms", ROUTES_MAX_DELAY_MS, &m->interval_ms) ||
        query_u64(q, qn, "max_delay_ms", ROUTES_MAX_DELAY_MS, &m->max_delay_ms) ||
        query_u64(q, qn, "first_ms", ROUTES_MAX_DELAY_MS, &m->first_ms) ||
        query_u64(q, qn, "size", ROUTES_MAX_CHUNK_SIZE, &m->size))
        set_error(m, 400, sse ? "bad parameter (events, interval_ms, max_delay_ms, first_ms: integers)"
                              : "bad parameter (chunks, interval_ms, max_delay_ms, first_ms, size: "
                                "integers; size <= 1048576)");
    else if (m->size == 0 && !sse)
        set_error(m, 400, "size must be at least 1");
    else if (!sse && m->chunks * m->size > ROUTES_MAX_BYTES)
        set_error(m, 400, "chunks * size must be <= 67108864");
}

void routes_match_request(const char *method, size_t method_len, const char *target,
                          size_t target_len, routes_match *m)
{
    memset(m, 0, sizeof *m);
    const char *qm = memchr(target, '?', target_len);
    size_t pn = qm ? (size_t)(qm - target) : target_len;
    const char *q = qm ? qm + 1 : "";
    size_t qn = qm ? target_len - pn - 1 : 0;
    const char *arg = NULL;
    size_t an = 0;
    bool get = lit(method, method_len, "GET");
    m->head = lit(method, method_len, "HEAD");
    bool post = lit(method, method_len, "POST");

    if (lit(target, pn, "/health"))
        m->id = ROUTE_HEALTH;
    else if (lit(target, pn, "/echo"))
        m->id = ROUTE_ECHO;
    else if (pn > 7 && !memcmp(target, "/bytes/", 7))
        m->id = ROUTE_BYTES, arg = target + 7, an = pn - 7;
    else if (pn > 8 && !memcmp(target, "/status/", 8))
        m->id = ROUTE_STATUS, arg = target + 8, an = pn - 8;
    else if (lit(target, pn, "/delay"))
        m->id = ROUTE_DELAY;
    else if (pn > 7 && !memcmp(target, "/delay/", 7))
        m->id = ROUTE_DELAY, arg = target + 7, an = pn - 7;
    else if (lit(target, pn, "/stream"))
        m->id = ROUTE_STREAM;
    else if (lit(target, pn, "/buffered"))
        m->id = ROUTE_BUFFERED;
    else if (lit(target, pn, "/sse"))
        m->id = ROUTE_SSE;
    else if (lit(target, pn, "/openapi.json"))
        m->id = ROUTE_OPENAPI;
    else
        return set_error(m, 404, "no such route (see /openapi.json)");

    if (m->id == ROUTE_ECHO ? !(get || post || m->head) : !(get || m->head)) {
        m->allow = m->id == ROUTE_ECHO ? "GET, HEAD, POST" : "GET, HEAD";
        m->head = false;
        return set_error(m, 405, "method not allowed for this route");
    }

    switch (m->id) {
    case ROUTE_ECHO: {
        uint64_t h = 0;
        if (query_u64(q, qn, "headers", 1, &h))
            set_error(m, 400, "/echo: headers must be 0 or 1");
        else
            m->echo_headers = h == 1;
        break;
    }
    case ROUTE_BYTES:
        if (num(arg, an, ROUTES_MAX_BYTES, &m->n))
            set_error(m, 400, "/bytes/{n}: n must be an integer <= 67108864");
        break;
    case ROUTE_STATUS:
        if (num(arg, an, 599, &m->n) || m->n < 200)
            set_error(m, 400, "/status/{code}: code must be 200..599");
        else
            m->status = (int)m->n;
        break;
    case ROUTE_DELAY:
        if ((arg && num(arg, an, ROUTES_MAX_DELAY_MS, &m->n)) ||
            query_u64(q, qn, "jitter_ms", ROUTES_MAX_DELAY_MS, &m->jitter_ms) ||
            query_u64(q, qn, "max_delay_ms", ROUTES_MAX_DELAY_MS, &m->max_delay_ms) ||
            query_u64(q, qn, "extra_us", ROUTES_MAX_DELAY_MS * 1000, &m->extra_us))
            set_error(m, 400, "/delay/{ms}: ms, jitter_ms, max_delay_ms must be integers "
                              "<= 3600000, extra_us <= 3600000000");
        break;
    case ROUTE_STREAM:
    case ROUTE_BUFFERED:
        timed_params(m, q, qn, false);
        break;
    case ROUTE_SSE:
        timed_params(m, q, qn, true);
        break;
    default:
        break;
    }
}

/* ---- OpenAPI 3.0 ---- */

#define QP(name, desc, ex)                                                                    \
    "{\"name\":\"" name "\",\"in\":\"query\",\"required\":false,\"description\":\"" desc     \
    "\",\"schema\":{\"type\":\"integer\",\"minimum\":0},\"example\":" ex "}"
#define PP(name, desc, ex)                                                                    \
    "{\"name\":\"" name "\",\"in\":\"path\",\"required\":true,\"description\":\"" desc       \
    "\",\"schema\":{\"type\":\"integer\",\"minimum\":0},\"example\":" ex "}"
#define TEXT_200(desc)                                                                        \
    "\"responses\":{\"200\":{\"description\":\"" desc                                        \
    "\",\"content\":{\"text/plain\":{\"schema\":{\"type\":\"string\"}}}}}"

const char routes_openapi_json[] =
    "{\"openapi\":\"3.0.3\","
    "\"info\":{\"title\":\"volley serve\",\"version\":\"1\","
    "\"description\":\"The built-in HTTP/1.1 target server of volley (loopback only).\"},"
    "\"servers\":[{\"url\":\"/\"}],"
    "\"paths\":{"
    "\"/health\":{\"get\":{\"summary\":\"Liveness: 200 ok\"," TEXT_200("ok") "}},"
    "\"/echo\":{"
    "\"get\":{\"summary\":\"Echoes the request (empty body)\","
    "\"responses\":{\"200\":{\"description\":\"the request body, with X-Echo-Method and "
    "X-Echo-Path headers\"}}},"
    "\"post\":{\"summary\":\"Echoes the request body back\","
    "\"requestBody\":{\"required\":false,\"content\":{\"application/json\":{"
    "\"schema\":{\"type\":\"object\"},\"example\":{\"hello\":\"volley\",\"n\":1}}}},"
    "\"responses\":{\"200\":{\"description\":\"the request body, with X-Echo-Method and "
    "X-Echo-Path headers\",\"content\":{\"application/octet-stream\":{\"schema\":{"
    "\"type\":\"string\",\"format\":\"binary\"}}}}}}},"
    "\"/bytes/{n}\":{\"get\":{\"summary\":\"n bytes of filler (n <= 64 MiB)\","
    "\"parameters\":[" PP("n", "number of bytes", "1024") "],"
    "\"responses\":{\"200\":{\"description\":\"n bytes\"},\"400\":{\"description\":\"bad n\"}}}},"
    "\"/status/{code}\":{\"get\":{\"summary\":\"Answers with the given status (200..599)\","
    "\"parameters\":[" PP("code", "HTTP status code", "503") "],"
    "\"responses\":{\"default\":{\"description\":\"the requested status\"}}}},"
    "\"/delay/{ms}\":{\"get\":{\"summary\":\"200 ok after ms (+ jitter) milliseconds\","
    "\"parameters\":[" PP("ms", "fixed delay in milliseconds", "100") ","
    QP("jitter_ms", "uniform random extra delay 0..jitter_ms", "20") ","
    QP("max_delay_ms", "uniform random extra delay 0..max_delay_ms", "50") ","
    QP("extra_us", "fixed extra delay in microseconds", "200") "],"
    TEXT_200("ok") "}},"
    "\"/delay\":{\"get\":{\"summary\":\"200 ok after a random delay 0..max_delay_ms\","
    "\"parameters\":[" QP("max_delay_ms", "uniform random delay 0..max_delay_ms", "100") "],"
    TEXT_200("ok") "}},"
    "\"/stream\":{\"get\":{\"summary\":\"Chunked body: first chunk at once, then one chunk "
    "every interval_ms\","
    "\"parameters\":[" QP("chunks", "number of chunks (default 10)", "10") ","
    QP("interval_ms", "time between chunks (default 100)", "100") ","
    QP("max_delay_ms", "random extra delay 0..max_delay_ms per chunk", "0") ","
    QP("first_ms", "the first chunk this long after the headers (time to first token)", "0") ","
    QP("size", "bytes per chunk (default 32, max 1048576)", "32") "],"
    TEXT_200("chunked body") "}},"
    "\"/buffered\":{\"get\":{\"summary\":\"Same bytes and total time as /stream, as one "
    "Content-Length response\","
    "\"parameters\":[" QP("chunks", "number of chunks (default 10)", "10") ","
    QP("interval_ms", "time between chunks (default 100)", "100") ","
    QP("max_delay_ms", "random extra delay 0..max_delay_ms per chunk", "0") ","
    QP("first_ms", "the first chunk is ready this long after the request", "0") ","
    QP("size", "bytes per chunk (default 32, max 1048576)", "32") "],"
    TEXT_200("the whole body at the end") "}},"
    "\"/sse\":{\"get\":{\"summary\":\"Server-sent events, one every interval_ms\","
    "\"parameters\":[" QP("events", "number of events (default 10)", "10") ","
    QP("interval_ms", "time between events (default 100)", "100") ","
    QP("max_delay_ms", "random extra delay 0..max_delay_ms per event", "0") ","
    QP("first_ms", "the first event this long after the headers", "0") "],"
    "\"responses\":{\"200\":{\"description\":\"text/event-stream\",\"content\":{"
    "\"text/event-stream\":{\"schema\":{\"type\":\"string\"}}}}}}},"
    "\"/openapi.json\":{\"get\":{\"summary\":\"This document\","
    "\"responses\":{\"200\":{\"description\":\"OpenAPI 3.0 document\",\"content\":{"
    "\"application/json\":{\"schema\":{\"type\":\"object\"}}}}}}}"
    "}}";

int routes_echo_headers(buf *o, const char *head, size_t len)
{
    bool request_line = true;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(head + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - head) : len, n = end - i;
        if (n && head[end - 1] == '\r')
            n--;
        if (n && !request_line && buf_printf(o, "X-Echo-Header: %.*s\r\n", (int)n, head + i))
            return VOLLEY_ENOMEM;
        if (n)
            request_line = false;
        else if (!request_line)
            break; /* the blank line ending the head */
        i = end + 1;
    }
    return 0;
}
