/* Tests for server/routes: request matching (every route, methods, 404 and
 * 405 with Allow), parameter parsing at its caps and defaults, the echoed
 * request headers, and response heads. Pure functions: no server. */
#include "server/routes.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static routes_match match(const char *method, const char *target)
{
    routes_match m;
    memset(&m, 0x5a, sizeof m); /* every field must be set by the matcher */
    routes_match_request(method, strlen(method), target, strlen(target), &m);
    return m;
}

Test(routes, every_route_and_method)
{
    static const struct {
        const char *method, *target;
        routes_id id;
        int status;
    } cases[] = {
        {"GET", "/health", ROUTE_HEALTH, 0},
        {"HEAD", "/health", ROUTE_HEALTH, 0},
        {"GET", "/health?x=1", ROUTE_HEALTH, 0},
        {"GET", "/echo", ROUTE_ECHO, 0},
        {"POST", "/echo", ROUTE_ECHO, 0},
        {"GET", "/bytes/10", ROUTE_BYTES, 0},
        {"GET", "/status/503", ROUTE_STATUS, 503},
        {"GET", "/delay/5", ROUTE_DELAY, 0},
        {"GET", "/delay", ROUTE_DELAY, 0},
        {"GET", "/stream", ROUTE_STREAM, 0},
        {"GET", "/buffered", ROUTE_BUFFERED, 0},
        {"GET", "/sse", ROUTE_SSE, 0},
        {"GET", "/openapi.json", ROUTE_OPENAPI, 0},
        {"GET", "/nope", ROUTE_ERROR, 404},
        {"GET", "/healthz", ROUTE_ERROR, 404},
        {"GET", "/bytes/", ROUTE_ERROR, 404},
        {"GET", "/", ROUTE_ERROR, 404},
        {"POST", "/health", ROUTE_ERROR, 405},
        {"PUT", "/echo", ROUTE_ERROR, 405},
        {"DELETE", "/delay/1", ROUTE_ERROR, 405},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        routes_match m = match(cases[i].method, cases[i].target);
        cr_expect_eq(m.id, cases[i].id, "%s %s: id %d", cases[i].method, cases[i].target, m.id);
        if (cases[i].status)
            cr_expect_eq(m.status, cases[i].status, "%s %s", cases[i].method, cases[i].target);
    }
    routes_match m = match("GET", "/echo?headers=1");
    cr_expect(m.id == ROUTE_ECHO && m.echo_headers);
    m = match("POST", "/echo");
    cr_expect(m.id == ROUTE_ECHO && !m.echo_headers);
    m = match("GET", "/echo?headers=2");
    cr_expect(m.id == ROUTE_ERROR && m.status == 400);
    m = match("HEAD", "/bytes/3");
    cr_expect(m.head);
    m = match("GET", "/bytes/3");
    cr_expect_not(m.head);
    m = match("POST", "/health");
    cr_expect_str_eq(m.allow, "GET, HEAD");
    m = match("PUT", "/echo");
    cr_expect_str_eq(m.allow, "GET, HEAD, POST");
}

Test(routes, parameters_and_their_caps)
{
    routes_match m = match("GET", "/bytes/67108864");
    cr_expect_eq(m.id, ROUTE_BYTES);
    cr_expect_eq(m.n, ROUTES_MAX_BYTES);
    m = match("GET", "/bytes/67108865");
    cr_expect_eq(m.id, ROUTE_ERROR);
    cr_expect_eq(m.status, 400);
    m = match("GET", "/status/200");
    cr_expect_eq(m.status, 200);
    m = match("GET", "/status/599");
    cr_expect_eq(m.status, 599);
    static const char *bad_status[] = {"/status/199", "/status/600", "/status/abc",
                                       "/status/2000000000000000000000"};
    for (size_t i = 0; i < 4; i++) {
        m = match("GET", bad_status[i]);
        cr_expect(m.id == ROUTE_ERROR && m.status == 400, "%s", bad_status[i]);
    }
    m = match("GET", "/delay/250?jitter_ms=20&max_delay_ms=50&extra_us=125");
    cr_expect_eq(m.id, ROUTE_DELAY);
    cr_expect_eq(m.n, 250);
    cr_expect_eq(m.jitter_ms, 20);
    cr_expect_eq(m.max_delay_ms, 50);
    cr_expect_eq(m.extra_us, 125);
    m = match("GET", "/delay?max_delay_ms=7");
    cr_expect_eq(m.n, 0);
    cr_expect_eq(m.max_delay_ms, 7);
    cr_expect_eq(m.jitter_ms, 0);
    cr_expect_eq(m.extra_us, 0);
    m = match("GET", "/delay/3600000");
    cr_expect_eq(m.id, ROUTE_DELAY);
    static const char *bad_delay[] = {"/delay/3600001", "/delay/1?jitter_ms=x",
                                      "/delay/1?max_delay_ms=-1", "/delay/1?extra_us=3600000001",
                                      "/delay/1.5"};
    for (size_t i = 0; i < 5; i++) {
        m = match("GET", bad_delay[i]);
        cr_expect(m.id == ROUTE_ERROR && m.status == 400, "%s", bad_delay[i]);
    }
    /* Unknown query keys are ignored. */
    m = match("GET", "/delay/2?who=me");
    cr_expect_eq(m.id, ROUTE_DELAY);
    cr_expect_eq(m.n, 2);
}

Test(routes, stream_defaults_and_parameters)
{
    routes_match m = match("GET", "/stream");
    cr_expect_eq(m.chunks, ROUTES_DEFAULT_CHUNKS);
    cr_expect_eq(m.interval_ms, ROUTES_DEFAULT_INTERVAL_MS);
    cr_expect_eq(m.size, ROUTES_DEFAULT_CHUNK_SIZE);
    m = match("GET", "/buffered?chunks=3&interval_ms=0&size=1048576&max_delay_ms=9");
    cr_expect_eq(m.id, ROUTE_BUFFERED);
    cr_expect_eq(m.chunks, 3);
    cr_expect_eq(m.interval_ms, 0);
    cr_expect_eq(m.size, ROUTES_MAX_CHUNK_SIZE);
    cr_expect_eq(m.max_delay_ms, 9);
    m = match("GET", "/stream?size=1048577");
    cr_expect(m.id == ROUTE_ERROR && m.status == 400);
    m = match("GET", "/stream?chunks=1000001");
    cr_expect(m.id == ROUTE_ERROR && m.status == 400);
    m = match("GET", "/sse?events=4&interval_ms=10");
    cr_expect_eq(m.id, ROUTE_SSE);
    cr_expect_eq(m.chunks, 4);
    cr_expect_eq(m.interval_ms, 10);
    m = match("GET", "/sse?events=x");
    cr_expect(m.id == ROUTE_ERROR && m.status == 400);
}

static char *echoed(const char *head)
{
    static char out[1024];
    buf o = {0};
    cr_assert_eq(routes_echo_headers(&o, head, strlen(head)), 0);
    snprintf(out, sizeof out, "%.*s", (int)o.len, o.data ? o.data : "");
    buf_free(&o);
    return out;
}

Test(routes, echo_reflects_request_headers_in_order)
{
    cr_expect_str_eq(echoed("GET /echo HTTP/1.1\r\nHost: a\r\nX-Test: 1 2\r\n\r\n"),
                     "X-Echo-Header: Host: a\r\nX-Echo-Header: X-Test: 1 2\r\n");
    /* Bare LF line ends, blank lines before the request line, no headers. */
    cr_expect_str_eq(echoed("\r\nGET / HTTP/1.1\nA: b\n\n"), "X-Echo-Header: A: b\r\n");
    cr_expect_str_eq(echoed("GET / HTTP/1.0\r\n\r\n"), "");
    /* Nothing after the blank line is a header (that is the body). */
    cr_expect_str_eq(echoed("POST / HTTP/1.1\r\nC: d\r\n\r\nE: f\r\n"),
                     "X-Echo-Header: C: d\r\n");
}

Test(routes, heads_and_simple_responses)
{
    buf o = {0};
    cr_assert_eq(routes_write_head(&o, 404, "text/plain", 5, "X-A: 1\r\n", true, false), 0);
    char s[512];
    snprintf(s, sizeof s, "%.*s", (int)o.len, o.data);
    cr_expect(!strncmp(s, "HTTP/1.1 404 Not Found\r\n", 24), "%s", s);
    cr_expect(strstr(s, "Content-Length: 5\r\n") && strstr(s, "X-A: 1\r\n") &&
                  strstr(s, "Connection: close\r\n"),
              "%s", s);
    buf_reset(&o);
    cr_assert_eq(routes_write_head(&o, 200, "text/plain", ROUTES_CHUNKED, NULL, false, false), 0);
    snprintf(s, sizeof s, "%.*s", (int)o.len, o.data);
    cr_expect(strstr(s, "Transfer-Encoding: chunked\r\n") != NULL, "%s", s);
    buf_reset(&o);
    cr_assert_eq(routes_write_chunk(&o, "hello", 5, true), 0);
    cr_expect_eq(o.len, 10);
    cr_expect(!memcmp(o.data, "5\r\nhello\r\n", 10));
    buf_free(&o);
    cr_expect_str_eq(routes_reason(503), "Service Unavailable");
    cr_expect_str_eq(routes_reason(299), "Unknown");
    cr_expect(strstr(routes_health_response, "200") != NULL);
    cr_expect_eq(strlen(routes_health_response), routes_health_response_len);
    cr_expect(strstr(routes_openapi_json, "\"extra_us\"") != NULL);
}
