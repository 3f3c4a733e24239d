/* tls: TLS for client connections (OpenSSL 3), as a conn transport, and
 * the server-side context for `volley serve --tls-cert/--tls-key`.
 * A client context is made once per run (certificates, verification, ALPN
 * "http/1.1") and shared read-only by the workers' connections; each conn
 * keeps its last session so a reconnect resumes instead of a full handshake.
 * The tls_io_* calls drive one SSL object on a non-blocking socket for
 * whoever owns the socket (net/conn on the client side, server/ on the
 * server side), so neither includes OpenSSL. OpenSSL writes to the socket
 * with write(2): the process must ignore SIGPIPE (cmd/main does). */
#ifndef VOLLEY_TLS_H
#define VOLLEY_TLS_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tls_client_ctx tls_client_ctx;

typedef struct tls_client_opts {
    bool insecure;        /* --insecure: no certificate or host name verification */
    const char *cafile;   /* --cacert: trust these CAs instead of the system's */
    const char *certfile; /* --cert: client certificate (PEM) */
    const char *keyfile;  /* --key: its private key (PEM; NULL: in certfile) */
    int alpn;             /* TLS_ALPN_*: what ALPN offers (--http) */
    /* Load the system's trusted certificates (~0.1 s of CPU) only when a
     * connection first needs them (tls_client_ctx_prepare), not at
     * creation: a script may never use https. */
    bool lazy_trust;
} tls_client_opts;

/* ALPN offers: "http/1.1" (--http 1.1, the default), "h2" then "http/1.1"
 * (--http auto: the server picks), "h2" alone (--http 2). */
enum { TLS_ALPN_HTTP11, TLS_ALPN_H2_HTTP11, TLS_ALPN_H2 };

/* Creates a client context; errors name the file or option that failed.
 * Shared read-only by every worker thread once made. */
tls_client_ctx *tls_client_ctx_new(const tls_client_opts *o, err *e);
void tls_client_ctx_free(tls_client_ctx *c);
/* Loads what a lazy_trust context deferred (once; thread-safe). Call it
 * before timing a connection; tls_io_connect_new calls it too. */
void tls_client_ctx_prepare(tls_client_ctx *c);

typedef struct tls_server_ctx tls_server_ctx;
/* A server context from a PEM certificate chain and key; session tickets
 * on, ALPN answers "http/1.1". Errors name the file. */
tls_server_ctx *tls_server_ctx_new(const char *certfile, const char *keyfile, err *e);
/* ALPN answers "h2" to a client that offers it, else "http/1.1". */
void tls_server_ctx_offer_h2(tls_server_ctx *c);
/* Makes the server ask for a client certificate issued by a CA in cafile
 * and fail the handshake without one. */
int tls_server_ctx_require_client_cert(tls_server_ctx *c, const char *cafile, err *e);
void tls_server_ctx_free(tls_server_ctx *c);

/* ---- one TLS connection on a non-blocking socket ---- */

struct ssl_st; /* OpenSSL's SSL */

/* Why a handshake or an I/O call failed, kept by value so the message can
 * be made after the SSL is gone (24 bytes per connection, not a string). */
typedef struct tls_fail {
    unsigned long code; /* first OpenSSL error-queue entry, 0 if none */
    long verify;        /* SSL_get_verify_result, 0 = ok */
    int sys_errno;      /* errno of a socket failure, 0 if none */
    bool eof;           /* the peer closed the connection mid-handshake */
} tls_fail;

/* A client SSL for a connected socket. host: the name to verify and send
 * as SNI (an IP literal is verified as an IP address and not sent; NULL:
 * neither). session_slot (may be NULL): *session_slot is offered for
 * resumption, and every new session the server issues replaces it there
 * (TLS 1.3 tickets arrive after the handshake, during reads). shared_slot:
 * other connections offer the same session at the same time (each gets a
 * private copy). Returns NULL when out of memory. */
struct ssl_st *tls_io_connect_new(tls_client_ctx *c, int fd, const char *host,
                                  void **session_slot, bool shared_slot);

/* The server chose "h2" by ALPN on this (handshaken) connection. */
bool tls_io_alpn_is_h2(struct ssl_st *s);

/* A server SSL for an accepted socket; NULL when out of memory. */
struct ssl_st *tls_io_accept_new(tls_server_ctx *c, int fd);

/* Steps the handshake: 0 done, -EAGAIN (wait for *want: LOOP_READ or
 * LOOP_WRITE), or -EPROTO with *f filled. */
int tls_io_handshake(struct ssl_st *s, unsigned *want, tls_fail *f);

/* SSL_read / SSL_write on a non-blocking socket: bytes (>0), 0 at EOF
 * (read only: close_notify or a plain close), -EAGAIN with *want set to
 * the readiness that lets it go on (a read may need the socket writable),
 * -ECONNRESET / -EPIPE / another -errno, or -EPROTO for a TLS error (f,
 * if not NULL, says which). Writes may be partial. */
ssize_t tls_io_read(struct ssl_st *s, void *p, size_t n, unsigned *want, tls_fail *f);
ssize_t tls_io_write(struct ssl_st *s, const void *p, size_t n, unsigned *want, tls_fail *f);

/* Decrypted bytes already buffered inside s (readable without the socket). */
size_t tls_io_pending(const struct ssl_st *s);

/* The handshake chose this ALPN protocol ("h2", "http/1.1"). */
bool tls_io_alpn_is(const struct ssl_st *s, const char *proto);

/* The finished handshake resumed an earlier session. */
bool tls_io_resumed(const struct ssl_st *s);

/* Sends the TLS close alert (close_notify) once, never waiting for the
 * peer's; a no-op before the handshake finished. */
void tls_io_goodbye(struct ssl_st *s);

/* Frees s (NULL: no-op). clean: the exchange ended normally, so s is
 * marked shut down and its session stays resumable; close_notify: also
 * send the TLS close alert (best effort, never waits). */
void tls_io_free(struct ssl_st *s, bool clean, bool close_notify);

/* Frees a session kept through session_slot (NULL: no-op). */
void tls_session_free(void *session);

/* A short message: "certificate verify failed: self-signed certificate",
 * "handshake: Connection reset by peer", ... ("" for an empty f). */
void tls_fail_str(const tls_fail *f, char *out, size_t cap);

#endif
