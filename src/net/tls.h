/* tls: TLS for client connections (OpenSSL 3), as a conn transport, and
 * the server-side context for `volley serve --tls-cert/--tls-key`.
 * A client context is made once per run (certificates, verification, ALPN
 * "http/1.1") and shared read-only by the workers' connections; each conn
 * keeps its last session so a reconnect resumes instead of a full handshake. */
#ifndef VOLLEY_TLS_H
#define VOLLEY_TLS_H

#include "core/err.h"

#include <stdbool.h>

typedef struct tls_client_ctx tls_client_ctx;

typedef struct tls_client_opts {
    bool insecure;        /* --insecure: no certificate or host name verification */
    const char *cafile;   /* --cacert: trust these CAs instead of the system's */
    const char *certfile; /* --cert: client certificate (PEM) */
    const char *keyfile;  /* --key: its private key (PEM) */
} tls_client_opts;

/* Creates a client context; errors name the file or option that failed. */
tls_client_ctx *tls_client_ctx_new(const tls_client_opts *o, err *e);
void tls_client_ctx_free(tls_client_ctx *c);

typedef struct tls_server_ctx tls_server_ctx;
tls_server_ctx *tls_server_ctx_new(const char *certfile, const char *keyfile, err *e);
void tls_server_ctx_free(tls_server_ctx *c);

#endif
