/* tls: OpenSSL 3 contexts and non-blocking SSL calls (see tls.h). net/conn
 * builds its TLS transport from the tls_io_* calls, server/ its HTTPS side.
 * Every failing call leaves the thread's OpenSSL error queue empty, so the
 * next SSL_get_error on this thread is not confused by an old entry. */
#include "net/tls.h"

#include "net/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_client_ctx {
    SSL_CTX *ctx;
    bool insecure;
    /* lazy_trust: the system's trust store is loaded by the first
     * tls_client_ctx_prepare (under mu); trust_ready says it was. */
    _Atomic bool trust_ready;
    pthread_mutex_t mu;
};

struct tls_server_ctx {
    SSL_CTX *ctx;
};

/* ALPN wire format: length-prefixed protocol names. */
static const unsigned char alpn_http11[] = "\x08http/1.1";
#define ALPN_HTTP11_LEN (sizeof alpn_http11 - 1)

/* A readable reason for an OpenSSL error code: its reason string, errno's
 * text for a system error (a missing file), else the full code text. */
static const char *code_reason(unsigned long code, char *buf, size_t cap)
{
    if (ERR_SYSTEM_ERROR(code))
        return strerror(ERR_GET_REASON(code));
    const char *r = ERR_reason_error_string(code);
    if (r)
        return r;
    ERR_error_string_n(code, buf, cap);
    return buf;
}

/* The reason of the first queued OpenSSL error, for messages about files. */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long code = ERR_peek_error();
    return code ? code_reason(code, buf, cap) : "unknown OpenSSL error";
}

static int ctx_fail(err *e, const char *what, const char *file)
{
    char buf[256];
    const char *why = ssl_reason(buf, sizeof buf);
    int rc = file ? err_set(e, VOLLEY_EINVAL, "%s: cannot load '%s': %s", what, file, why)
                  : err_set(e, VOLLEY_EINVAL, "%s: %s", what, why);
    ERR_clear_error();
    return rc;
}

/* Settings both sides share: TLS 1.2+, writes that may be partial and
 * retried from a moved buffer (conn and server resume from an offset),
 * idle buffers released (10k idle connections must not hold 34 KiB each),
 * and a close without close_notify read as EOF, as HTTP servers do it. */
static void ctx_common(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
}

/* TLS 1.3 sessions come as tickets after the handshake (and TLS 1.2 ones at
 * its end): each replaces the one kept in the connection's slot. */
static int on_new_session(SSL *s, SSL_SESSION *sess)
{
    void **slot = SSL_get_app_data(s);
    if (!slot)
        return 0;
    SSL_SESSION_free(*slot);
    *slot = sess;
    return 1; /* we keep the reference */
}

static int load_keypair(SSL_CTX *ctx, const char *cert, const char *key, const char *cert_flag,
                        const char *key_flag, err *e)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return ctx_fail(e, cert_flag, cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, key ? key : cert, SSL_FILETYPE_PEM) != 1)
        return ctx_fail(e, key ? key_flag : cert_flag, key ? key : cert);
    if (SSL_CTX_check_private_key(ctx) != 1) {
        err_set(e, VOLLEY_EINVAL, "%s: the key in '%s' does not match the certificate '%s'",
                key_flag, key ? key : cert, cert);
        ERR_clear_error();
        return VOLLEY_EINVAL;
    }
    return 0;
}

tls_client_ctx *tls_client_ctx_new(const tls_client_opts *o, err *e)
{
    tls_client_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(e, VOLLEY_ENOMEM, "tls: out of memory");
        return NULL;
    }
    c->insecure = o->insecure;
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->trust_ready, true);
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) {
        ctx_fail(e, "tls: cannot create a client context", NULL);
        free(c);
        return NULL;
    }
    ctx_common(c->ctx);
    /* No internal store: each conn keeps its own session (no lock shared
     * by the workers), handed over by on_new_session. */
    SSL_CTX_set_session_cache_mode(c->ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c->ctx, on_new_session);
    static const unsigned char h2_h11[] = "\x02h2\x08http/1.1", h2[] = "\x02h2";
    const unsigned char *alpn = o->alpn == TLS_ALPN_H2_HTTP11 ? h2_h11
                                : o->alpn == TLS_ALPN_H2      ? h2
                                                              : alpn_http11;
    size_t alpn_len = o->alpn == TLS_ALPN_H2_HTTP11 ? sizeof h2_h11 - 1
                      : o->alpn == TLS_ALPN_H2      ? sizeof h2 - 1
                                                    : ALPN_HTTP11_LEN;
    if (SSL_CTX_set_alpn_protos(c->ctx, alpn, (unsigned)alpn_len) != 0) {
        ctx_fail(e, "tls: ALPN", NULL);
        goto fail;
    }
    if (o->cafile) {
        if (SSL_CTX_load_verify_locations(c->ctx, o->cafile, NULL) != 1) {
            ctx_fail(e, "--cacert", o->cafile);
            goto fail;
        }
    } else if (!o->insecure && o->lazy_trust) {
        atomic_store(&c->trust_ready, false);
    } else if (!o->insecure && SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        ctx_fail(e, "tls: cannot load the system's trusted certificates", NULL);
        goto fail;
    }
    SSL_CTX_set_verify(c->ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (o->keyfile && !o->certfile) {
        err_set(e, VOLLEY_EINVAL, "--key: needs --cert");
        goto fail;
    }
    if (o->certfile && load_keypair(c->ctx, o->certfile, o->keyfile, "--cert", "--key", e))
        goto fail;
    return c;
fail:
    tls_client_ctx_free(c);
    return NULL;
}

void tls_client_ctx_prepare(tls_client_ctx *c)
{
    if (atomic_load_explicit(&c->trust_ready, memory_order_acquire))
        return;
    pthread_mutex_lock(&c->mu);
    if (!atomic_load_explicit(&c->trust_ready, memory_order_relaxed)) {
        /* A failure leaves the store empty: verification then fails with
         * its own error on the handshake, as with no system store. */
        if (SSL_CTX_set_default_verify_paths(c->ctx) != 1)
            ERR_clear_error();
        atomic_store_explicit(&c->trust_ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&c->mu);
}

void tls_client_ctx_free(tls_client_ctx *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The server's preference: h2 first when it is offered (serve --h2). */
static const unsigned char alpn_h2_http11[] = "\x02h2\x08http/1.1";
#define ALPN_H2_HTTP11_LEN (sizeof alpn_h2_http11 - 1)

static int on_alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned inlen, void *arg)
{
    (void)s;
    bool h2 = arg != NULL;
    unsigned char *o = NULL;
    if (SSL_select_next_proto(&o, outlen, h2 ? alpn_h2_http11 : alpn_http11,
                              h2 ? ALPN_H2_HTTP11_LEN : ALPN_HTTP11_LEN, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* a client with none of ours gets no ALPN */
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

void tls_server_ctx_offer_h2(tls_server_ctx *c)
{
    static char on;
    SSL_CTX_set_alpn_select_cb(c->ctx, on_alpn_select, &on);
}

bool tls_io_alpn_is(const struct ssl_st *s, const char *proto)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(s, &p, &n);
    return p && n == strlen(proto) && !memcmp(p, proto, n);
}

tls_server_ctx *tls_server_ctx_new(const char *certfile, const char *keyfile, err *e)
{
    tls_server_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(e, VOLLEY_ENOMEM, "tls: out of memory");
        return NULL;
    }
    c->ctx = SSL_CTX_new(TLS_server_method());
    if (!c->ctx) {
        ctx_fail(e, "tls: cannot create a server context", NULL);
        free(c);
        return NULL;
    }
    ctx_common(c->ctx);
    /* The server's session cache (TLS 1.2 ids) and tickets (both) are on by
     * default; the id context makes cached sessions valid for this server. */
    SSL_CTX_set_session_id_context(c->ctx, (const unsigned char *)"volley", 6);
    SSL_CTX_set_alpn_select_cb(c->ctx, on_alpn_select, NULL);
    if (load_keypair(c->ctx, certfile, keyfile, "--tls-cert", "--tls-key", e)) {
        tls_server_ctx_free(c);
        return NULL;
    }
    return c;
}

int tls_server_ctx_require_client_cert(tls_server_ctx *c, const char *cafile, err *e)
{
    if (SSL_CTX_load_verify_locations(c->ctx, cafile, NULL) != 1)
        return ctx_fail(e, "--tls-client-ca", cafile);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cafile);
    if (names)
        SSL_CTX_set_client_CA_list(c->ctx, names);
    ERR_clear_error();
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

void tls_server_ctx_free(tls_server_ctx *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

/* ---- one connection ---- */

static bool is_ip_literal(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

bool tls_io_alpn_is_h2(SSL *s)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(s, &p, &n);
    return n == 2 && p[0] == 'h' && p[1] == '2';
}

SSL *tls_io_connect_new(tls_client_ctx *c, int fd, const char *host, void **session_slot,
                        bool shared_slot)
{
    tls_client_ctx_prepare(c);
    SSL *s = SSL_new(c->ctx);
    if (!s)
        goto fail;
    if (SSL_set_fd(s, fd) != 1)
        goto fail;
    SSL_set_connect_state(s);
    if (host && *host) {
        bool ip = is_ip_literal(host);
        /* RFC 6066: SNI carries host names only, never addresses. */
        if (!ip && SSL_set_tlsext_host_name(s, host) != 1)
            goto fail;
        if (!c->insecure) {
            int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), host)
                        : SSL_set1_host(s, host);
            if (ok != 1)
                goto fail;
            SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        }
    }
    SSL_set_app_data(s, session_slot);
    if (session_slot && *session_slot) {
        /* A shared session is offered as a private copy (it shares the
         * certificate, reference counted): OpenSSL writes into the session
         * a connection resumes with, and the shared one was found no longer
         * resumable by half of 1,000 connections offering it at once. */
        SSL_SESSION *offer = shared_slot ? SSL_SESSION_dup(*session_slot) : *session_slot;
        if (!offer || SSL_set_session(s, offer) != 1)
            ERR_clear_error(); /* an unusable session: a full handshake it is */
        if (shared_slot)
            SSL_SESSION_free(offer);
    }
    return s;
fail:
    ERR_clear_error();
    SSL_free(s);
    return NULL;
}

SSL *tls_io_accept_new(tls_server_ctx *c, int fd)
{
    SSL *s = SSL_new(c->ctx);
    if (!s || SSL_set_fd(s, fd) != 1) {
        ERR_clear_error();
        SSL_free(s);
        return NULL;
    }
    SSL_set_accept_state(s);
    return s;
}

/* Classifies the failure of an SSL call that returned r. Returns -EAGAIN
 * (with *want), 0 for a clean EOF, -errno or -EPROTO. errno is read first,
 * before any other call can change it. */
static int classify(SSL *s, int r, unsigned *want, tls_fail *f, bool handshake)
{
    int sys = errno;
    int kind = SSL_get_error(s, r);
    switch (kind) {
    case SSL_ERROR_WANT_READ:
        *want = LOOP_READ;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = LOOP_WRITE;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        if (handshake && f)
            f->eof = true;
        return handshake ? -EPROTO : 0;
    case SSL_ERROR_SYSCALL:
        if (!ERR_peek_error()) {
            ERR_clear_error();
            if (sys == EINTR || sys == EAGAIN) {
                *want = LOOP_READ;
                return -EAGAIN;
            }
            if (handshake && f) {
                f->sys_errno = sys;
                f->eof = sys == 0;
            }
            if (handshake)
                return -EPROTO;
            return sys ? -sys : 0;
        }
        /* An OpenSSL error with a reason: as below. */
        __attribute__((fallthrough));
    default:
        if (f) {
            f->code = ERR_peek_error();
            f->verify = SSL_get_verify_result(s);
        }
        ERR_clear_error();
        return -EPROTO;
    }
}

/* Release-buffers mode frees the read buffer only once a record of
 * application data is consumed. A read that found nothing (the last one
 * of a handshake, session tickets, an idle keep-alive connection) keeps
 * its 17 KiB buffer, so 10k idle connections would hold 170 MB: free it
 * when nothing is in it (SSL_free_buffers declines otherwise). */
static void drop_idle_buffers(SSL *s)
{
    if (!SSL_has_pending(s))
        SSL_free_buffers(s);
}

/* The certificate was checked (or the session resumed): the name or
 * address to check it against, and the name it matched, are not needed
 * again on TLS 1.3, which has no renegotiation (a later handshake on the
 * same connection would check a new certificate against nothing). Their
 * heap blocks go with them, for as long as the connection lives. */
static void drop_host_check(SSL *s)
{
    if (SSL_version(s) != TLS1_3_VERSION)
        return;
    X509_VERIFY_PARAM *p = SSL_get0_param(s);
    X509_VERIFY_PARAM_set1_host(p, NULL, 0);
    X509_VERIFY_PARAM_set1_ip(p, NULL, 0);
    X509_VERIFY_PARAM_move_peername(p, NULL);
}

int tls_io_handshake(SSL *s, unsigned *want, tls_fail *f)
{
    int r = SSL_do_handshake(s);
    if (r == 1) {
        drop_idle_buffers(s);
        drop_host_check(s);
        return 0;
    }
    int rc = classify(s, r, want, f, true);
    return rc == -EAGAIN ? rc : -EPROTO;
}

ssize_t tls_io_read(SSL *s, void *p, size_t n, unsigned *want, tls_fail *f)
{
    int r = SSL_read(s, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    ssize_t rc = classify(s, r, want, f, false);
    if (rc == -EAGAIN)
        drop_idle_buffers(s);
    return rc;
}

ssize_t tls_io_write(SSL *s, const void *p, size_t n, unsigned *want, tls_fail *f)
{
    if (n == 0)
        return 0;
    int r = SSL_write(s, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int rc = classify(s, r, want, f, false);
    return rc == 0 ? -EPIPE : rc; /* a write cannot "reach EOF" */
}

size_t tls_io_pending(const SSL *s)
{
    int n = SSL_pending(s);
    return n > 0 ? (size_t)n : 0;
}

bool tls_io_resumed(const SSL *s)
{
    return SSL_session_reused(s) == 1;
}

void tls_io_goodbye(SSL *s)
{
    if (!SSL_is_init_finished(s) || (SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN))
        return;
    /* One non-blocking call sends our alert; we never wait for theirs. */
    SSL_shutdown(s);
    ERR_clear_error();
}

void tls_io_free(SSL *s, bool clean, bool close_notify)
{
    if (!s)
        return;
    if (clean && close_notify)
        tls_io_goodbye(s);
    if (clean) {
        /* Marked shut down, so SSL_free keeps the session resumable. */
        SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(s);
}

void tls_session_free(void *session)
{
    SSL_SESSION_free(session);
}

void tls_fail_str(const tls_fail *f, char *out, size_t cap)
{
    if (!cap)
        return;
    out[0] = 0;
    if (f->code) {
        char buf[256];
        const char *reason = code_reason(f->code, buf, sizeof buf);
        if (f->verify != X509_V_OK)
            snprintf(out, cap, "%s: %s", reason, X509_verify_cert_error_string(f->verify));
        else
            snprintf(out, cap, "%s", reason);
    } else if (f->sys_errno) {
        snprintf(out, cap, "TLS handshake: %s", strerror(f->sys_errno));
    } else if (f->eof) {
        snprintf(out, cap, "TLS handshake: the server closed the connection");
    } else if (f->verify != X509_V_OK) {
        snprintf(out, cap, "certificate verify failed: %s",
                 X509_verify_cert_error_string(f->verify));
    }
}
