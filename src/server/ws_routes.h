/* ws_routes: the WebSocket side of `volley serve`: GET /ws (echo),
 * POST /api/sessions, DELETE /api/sessions/{id} and GET /ws/sessions/{id}
 * (join a session; ?broadcast=1 sends each message to every member).
 * server.c offers every complete request head to ws_routes_handle first;
 * an upgrade takes a dup of the connection's fd onto the same loop, so the
 * server simply forgets its connection. Sessions are shared by all server
 * threads (one mutex): a session made through one thread can be joined
 * through any other, and a broadcast reaches members on every thread. */
#ifndef VOLLEY_WS_ROUTES_H
#define VOLLEY_WS_ROUTES_H

#include "core/buf.h"
#include "net/loop.h"
#include "server/reqparse.h"

#include <stddef.h>

enum {
    WS_ROUTES_NONE = 0,         /* not a WebSocket/session route: route it as usual */
    WS_ROUTES_ANSWERED = 1,     /* a complete HTTP response was appended to out */
    WS_ROUTES_ANSWERED_CLOSE = 2, /* same, and the connection must close after it */
    WS_ROUTES_TAKEN = 3,        /* upgraded: the connection now belongs to ws_routes;
                                   close the server's fd without writing or shutdown */
};

/* head: the request's bytes (head_len of them, r parsed from them); rest:
 * bytes that followed the head (early WebSocket frames). fd is the
 * connection's socket on loop l (the calling thread's loop). */
int ws_routes_handle(loop *l, int fd, const char *head, size_t head_len, const reqparse_req *r,
                     const char *rest, size_t rest_len, buf *out);

/* Closes the WebSocket connections of loop l and forgets it (server_free,
 * before loop_free). */
void ws_routes_loop_free(loop *l);

#endif
