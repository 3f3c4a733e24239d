/* routes: what `volley serve` answers. Maps a request (method, target) to a
 * route with its parsed parameters, and writes response heads and bodies
 * into a buf. Pure functions, no I/O and no time: server.c owns connections,
 * timers and the order in which the pieces are written. */
#ifndef VOLLEY_ROUTES_H
#define VOLLEY_ROUTES_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum routes_id {
    ROUTE_ERROR,    /* answer m->status with m->error as the body */
    ROUTE_HEALTH,   /* GET /health */
    ROUTE_ECHO,     /* GET|POST /echo */
    ROUTE_BYTES,    /* GET /bytes/{n} */
    ROUTE_STATUS,   /* GET /status/{code} */
    ROUTE_DELAY,    /* GET /delay/{ms}, /delay?max_delay_ms=N */
    ROUTE_STREAM,   /* GET /stream?chunks=N&interval_ms=M[&first_ms=F] */
    ROUTE_BUFFERED, /* GET /buffered?chunks=N&interval_ms=M */
    ROUTE_SSE,      /* GET /sse?events=N&interval_ms=M */
    ROUTE_OPENAPI,  /* GET /openapi.json */
} routes_id;

/* Caps on parameters, so a request cannot ask for unbounded work. */
#define ROUTES_MAX_BYTES (64ULL << 20)
#define ROUTES_MAX_DELAY_MS 3600000ULL
#define ROUTES_MAX_CHUNKS 1000000ULL
#define ROUTES_MAX_CHUNK_SIZE (1ULL << 20)
#define ROUTES_DEFAULT_CHUNK_SIZE 32ULL
#define ROUTES_DEFAULT_CHUNKS 10ULL
#define ROUTES_DEFAULT_INTERVAL_MS 100ULL

typedef struct routes_match {
    routes_id id;
    int status;            /* ROUTE_ERROR: 400/404/405; ROUTE_STATUS: the code */
    const char *error;     /* ROUTE_ERROR: the reason (body text) */
    const char *allow;     /* 405: value of the Allow header */
    bool head;             /* method is HEAD: no body in the response */
    uint64_t n;            /* /bytes: count; /delay: fixed ms */
    uint64_t jitter_ms;    /* /delay: uniform extra 0..jitter_ms */
    uint64_t extra_us;     /* /delay: fixed extra microseconds */
    bool echo_headers;     /* /echo?headers=1: reflect the request headers */
    uint64_t max_delay_ms; /* /delay, /stream, /buffered, /sse: random 0..N extra */
    uint64_t chunks;       /* /stream, /buffered: chunks; /sse: events */
    uint64_t interval_ms;
    uint64_t first_ms;     /* /stream, /buffered, /sse: the first chunk this long after the head */
    uint64_t size;         /* /stream, /buffered: bytes per chunk */
} routes_match;

/* Routes a request. Always fills m: unknown paths are ROUTE_ERROR 404, a
 * wrong method 405 with m->allow, bad parameters 400. */
void routes_match_request(const char *method, size_t method_len, const char *target,
                          size_t target_len, routes_match *m);

/* Body framing for routes_write_head. */
#define ROUTES_CHUNKED (-1)      /* Transfer-Encoding: chunked */
#define ROUTES_NO_LENGTH (-2)    /* no length: 204/304, or close-delimited */

/* Appends a status line and headers. content_length >= 0, or ROUTES_CHUNKED,
 * or ROUTES_NO_LENGTH. extra: more header lines ending in CRLF, or NULL.
 * Returns 0 or VOLLEY_ENOMEM. */
int routes_write_head(buf *o, int status, const char *content_type, int64_t content_length,
                      const char *extra, bool close, bool keepalive_10);

/* The precomputed "200 ok" of GET /health on a keep-alive HTTP/1.1 connection,
 * the server's hot path: one memcpy. */
extern const char routes_health_response[];
extern const size_t routes_health_response_len;

/* The parts of a simple route's response, for any protocol (HTTP/1.1
 * below, HTTP/2 in server/h2): HEALTH, STATUS, OPENAPI, ERROR. */
typedef struct routes_simple {
    int status;
    const char *content_type; /* NULL: no body at all (204, 304) */
    const char *body;         /* points into text or at static data */
    size_t body_len;
    const char *allow;        /* 405: the Allow header's value */
    char text[320];
} routes_simple;
int routes_simple_parts(const routes_match *m, routes_simple *out);

/* Writes the whole response of a route that needs no waiting, no body from
 * the request and no streaming: HEALTH, STATUS, OPENAPI, ERROR. */
int routes_write_simple(buf *o, const routes_match *m, bool close, bool keepalive_10);

/* /echo?headers=1: appends "X-Echo-Header: NAME: VALUE\r\n" for each header line of
 * the request head in head[0..len) (request line and blank lines skipped),
 * so a client can see what it sent. Returns 0 or VOLLEY_ENOMEM. */
int routes_echo_headers(buf *o, const char *head, size_t len);

/* A static block of printable bytes for /bytes and chunk payloads. */
#define ROUTES_FILL_LEN 65536u
const char *routes_fill(void);

/* Appends one chunk of chunked encoding (size line, data, CRLF); chunked
 * false: the bare data (HTTP/1.0 close-delimited streams). */
int routes_write_chunk(buf *o, const char *data, size_t len, bool chunked);

/* Appends len payload bytes taken from the fill block (any length). */
int routes_write_fill(buf *o, uint64_t len);

/* Appends SSE event number seq (1-based) of total as one chunk. */
int routes_write_sse_event(buf *o, uint64_t seq, uint64_t total, bool chunked);

/* The reason phrase of a status ("Not Found"); "Unknown" when unknown. */
const char *routes_reason(int status);

/* The OpenAPI 3.0 document served at /openapi.json. */
extern const char routes_openapi_json[];

#endif
