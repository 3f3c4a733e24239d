/* Tests for net/tls: contexts and their errors, and handshakes between a
 * tls_io client and server over a non-blocking socketpair: verification by
 * CA file, host name and IP address, the failure messages users see,
 * --insecure, session resumption through the session slot, client
 * certificates and EOF. Certificates are made here with the OpenSSL API. */
#include "net/tls.h"

#include "net/loop.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "testcerts.h"

TestSuite(tls, .init = make_certs, .fini = remove_certs);

typedef struct pair {
    int fd[2];
    struct ssl_st *cli, *srv;
    tls_fail cf, sf;
    int crc, src;
} pair;

static tls_client_ctx *client_ctx(bool insecure, const char *cafile, const char *cert,
                                  const char *key)
{
    tls_client_opts o = {.insecure = insecure, .cafile = cafile, .certfile = cert, .keyfile = key};
    err e = {0};
    tls_client_ctx *c = tls_client_ctx_new(&o, &e);
    cr_assert_not_null(c, "%s", e.msg);
    return c;
}

static tls_server_ctx *server_ctx(void)
{
    err e = {0};
    tls_server_ctx *s = tls_server_ctx_new(srv_pem, srv_key, &e);
    cr_assert_not_null(s, "%s", e.msg);
    return s;
}

/* Runs both handshakes over a socketpair until each is done or failed. */
static void handshake_shared(pair *p, tls_client_ctx *cc, tls_server_ctx *sc, const char *host,
                             void **slot, bool shared)
{
    memset(p, 0, sizeof *p);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd), 0);
    p->cli = tls_io_connect_new(cc, p->fd[0], host, slot, shared);
    p->srv = tls_io_accept_new(sc, p->fd[1]);
    cr_assert(p->cli && p->srv);
    p->crc = p->src = -EAGAIN;
    for (int i = 0; i < 100 && (p->crc == -EAGAIN || p->src == -EAGAIN); i++) {
        unsigned want;
        if (p->crc == -EAGAIN)
            p->crc = tls_io_handshake(p->cli, &want, &p->cf);
        if (p->src == -EAGAIN)
            p->src = tls_io_handshake(p->srv, &want, &p->sf);
    }
}

static void handshake(pair *p, tls_client_ctx *cc, tls_server_ctx *sc, const char *host,
                      void **slot)
{
    handshake_shared(p, cc, sc, host, slot, false);
}

static void pair_free(pair *p, bool clean)
{
    tls_io_free(p->cli, clean, false);
    tls_io_free(p->srv, clean, clean);
    close(p->fd[0]);
    close(p->fd[1]);
}

static const char *fail_str(const tls_fail *f)
{
    static char msg[256];
    tls_fail_str(f, msg, sizeof msg);
    return msg;
}

/* Reads what is there (processing TLS 1.3 tickets on the way). */
static ssize_t read_some(struct ssl_st *s, char *buf, size_t n)
{
    unsigned want;
    return tls_io_read(s, buf, n, &want, NULL);
}

Test(tls, handshake_with_cafile_then_data_both_ways_and_eof)
{
    tls_client_ctx *cc = client_ctx(false, ca_pem, NULL, NULL);
    tls_server_ctx *sc = server_ctx();
    pair p;
    handshake(&p, cc, sc, "127.0.0.1", NULL);
    cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
    cr_assert_eq(p.src, 0, "%s", fail_str(&p.sf));
    unsigned want;
    char buf[256];
    cr_assert_eq(tls_io_write(p.cli, "GET / HTTP/1.1\r\n\r\n", 18, &want, NULL), 18);
    cr_assert_eq(read_some(p.srv, buf, sizeof buf), 18);
    cr_assert_eq(tls_io_write(p.srv, "HTTP/1.1 200 OK\r\n", 17, &want, NULL), 17);
    cr_assert_eq(read_some(p.cli, buf, sizeof buf), 17);
    cr_assert_eq(memcmp(buf, "HTTP/1.1 200 OK", 15), 0);
    /* Nothing more: the read waits for the socket. */
    cr_assert_eq(tls_io_read(p.cli, buf, sizeof buf, &want, NULL), -EAGAIN);
    cr_assert_eq(want, LOOP_READ);
    /* close_notify from the server reads as EOF. */
    tls_io_goodbye(p.srv);
    cr_assert_eq(read_some(p.cli, buf, sizeof buf), 0);
    pair_free(&p, true);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}

Test(tls, plain_close_without_close_notify_reads_as_eof)
{
    tls_client_ctx *cc = client_ctx(false, ca_pem, NULL, NULL);
    tls_server_ctx *sc = server_ctx();
    pair p;
    handshake(&p, cc, sc, "localhost", NULL);
    cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
    char buf[64];
    while (read_some(p.cli, buf, sizeof buf) > 0)
        ;
    shutdown(p.fd[1], SHUT_WR);
    cr_assert_eq(read_some(p.cli, buf, sizeof buf), 0);
    pair_free(&p, false);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}

Test(tls, unknown_ca_fails_with_certificate_verify_failed)
{
    /* An empty trust store (the CA file holds only the server's own leaf
     * certificate... which is not a CA): verification must fail. */
    tls_client_ctx *cc = client_ctx(false, srv_pem, NULL, NULL);
    tls_server_ctx *sc = server_ctx();
    pair p;
    handshake(&p, cc, sc, "127.0.0.1", NULL);
    cr_assert_eq(p.crc, -EPROTO);
    const char *m = fail_str(&p.cf);
    cr_assert(strstr(m, "certificate verify failed: ") == m, "%s", m);
    cr_assert(strstr(m, "issuer certificate"), "%s", m);
    pair_free(&p, false);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}

Test(tls, self_signed_server_certificate_is_named)
{
    err e = {0};
    tls_server_ctx *sc = tls_server_ctx_new(self_pem, other_key, &e);
    cr_assert_not_null(sc, "%s", e.msg);
    tls_client_ctx *cc = client_ctx(false, ca_pem, NULL, NULL);
    pair p;
    handshake(&p, cc, sc, "127.0.0.1", NULL);
    cr_assert_eq(p.crc, -EPROTO);
    cr_assert_str_eq(fail_str(&p.cf), "certificate verify failed: self-signed certificate");
    pair_free(&p, false);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}

Test(tls, server_key_not_matching_the_certificate_is_refused)
{
    err e = {0};
    cr_assert_null(tls_server_ctx_new(srv_pem, other_key, &e));
    cr_assert(strstr(e.msg, "--tls-key") && strstr(e.msg, "match"), "%s", e.msg);
}

Test(tls, host_name_and_ip_mismatches_are_named)
{
    tls_client_ctx *cc = client_ctx(false, ca_pem, NULL, NULL);
    tls_server_ctx *sc = server_ctx();
    pair p;
    handshake(&p, cc, sc, "example.com", NULL);
    cr_assert_eq(p.crc, -EPROTO);
    cr_assert_str_eq(fail_str(&p.cf), "certificate verify failed: hostname mismatch");
    pair_free(&p, false);
    handshake(&p, cc, sc, "127.0.0.2", NULL);
    cr_assert_eq(p.crc, -EPROTO);
    cr_assert_str_eq(fail_str(&p.cf), "certificate verify failed: IP address mismatch");
    pair_free(&p, false);
    handshake(&p, cc, sc, "localhost", NULL);
    cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
    pair_free(&p, false);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}

/* The certificate was checked: a TLS 1.3 connection gives up the name or
 * address it checked against, and the name it matched (heap blocks held
 * for as long as the connection lives; bench/tls-heap.sh). */
Test(tls, a_finished_tls13_handshake_keeps_no_name_to_check)
{
    tls_client_ctx *cc = client_ctx(false, ca_pem, NULL, NULL);
    tls_server_ctx *sc = server_ctx();
    pair p;
    handshake(&p, cc, sc, "localhost", NULL);
    cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
    cr_assert_eq(SSL_version(p.cli), TLS1_3_VERSION);
    X509_VERIFY_PARAM *vp = SSL_get0_param(p.cli);
    cr_assert_null(X509_VERIFY_PARAM_get0_host(vp, 0));
    cr_assert_null(SSL_get0_peername(p.cli));
    pair_free(&p, false);
    handshake(&p, cc, sc, "127.0.0.1", NULL);
    cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
    char *ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(p.cli));
    cr_assert_null(ip, "still checking against %s", ip);
    pair_free(&p, false);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}

Test(tls, insecure_accepts_an_unknown_ca_and_a_wrong_name)
{
    tls_client_ctx *cc = client_ctx(true, NULL, NULL, NULL);
    tls_server_ctx *sc = server_ctx();
    pair p;
    handshake(&p, cc, sc, "example.com", NULL);
    cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
    cr_assert_eq(p.src, 0);
    pair_free(&p, true);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}

Test(tls, session_slot_resumes_the_next_handshake)
{
    tls_client_ctx *cc = client_ctx(false, ca_pem, NULL, NULL);
    tls_server_ctx *sc = server_ctx();
    void *slot = NULL;
    pair p;
    handshake(&p, cc, sc, "127.0.0.1", &slot);
    cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
    cr_assert_not(tls_io_resumed(p.cli));
    /* TLS 1.3 tickets come after the handshake: a read takes them in. */
    char buf[64];
    cr_assert_eq(read_some(p.cli, buf, sizeof buf), -EAGAIN);
    cr_assert_not_null(slot);
    pair_free(&p, true);
    for (int i = 0; i < 3; i++) {
        handshake(&p, cc, sc, "127.0.0.1", &slot);
        cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
        cr_assert(tls_io_resumed(p.cli), "round %d", i);
        cr_assert(tls_io_resumed(p.srv));
        read_some(p.cli, buf, sizeof buf);
        pair_free(&p, true);
    }
    tls_session_free(slot);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}

/* --share-tls-sessions: connections that resume from one slot at the same
 * time (each still using the session it offered, no ticket of its own
 * yet). OpenSSL writes into the session a connection resumes with: offered
 * as it is, the shared one stops being resumable for the others. */
static int resumed_at_once(bool shared)
{
    tls_client_ctx *cc = client_ctx(false, ca_pem, NULL, NULL);
    tls_server_ctx *sc = server_ctx();
    void *slot = NULL;
    pair first, p[4];
    handshake(&first, cc, sc, "127.0.0.1", &slot);
    cr_assert_eq(first.crc, 0, "%s", fail_str(&first.cf));
    char buf[64];
    read_some(first.cli, buf, sizeof buf); /* the tickets */
    cr_assert_not_null(slot);
    int resumed = 0;
    for (int i = 0; i < 4; i++) {
        handshake_shared(&p[i], cc, sc, "127.0.0.1", &slot, shared);
        cr_assert_eq(p[i].crc, 0, "%s", fail_str(&p[i].cf));
        resumed += tls_io_resumed(p[i].cli);
    }
    for (int i = 0; i < 4; i++)
        pair_free(&p[i], true);
    pair_free(&first, true);
    tls_session_free(slot);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
    return resumed;
}

Test(tls, a_shared_slot_is_offered_as_a_copy_so_all_resume)
{
    int r = resumed_at_once(true);
    cr_assert_eq(r, 4, "%d of 4 resumed", r);
}

Test(tls, client_certificate_required_by_the_server)
{
    tls_server_ctx *sc = server_ctx();
    err e = {0};
    cr_assert_eq(tls_server_ctx_require_client_cert(sc, ca_pem, &e), 0, "%s", e.msg);
    tls_client_ctx *with = client_ctx(false, ca_pem, cli_pem, cli_key);
    tls_client_ctx *without = client_ctx(false, ca_pem, NULL, NULL);
    pair p;
    handshake(&p, with, sc, "127.0.0.1", NULL);
    cr_assert_eq(p.crc, 0, "%s", fail_str(&p.cf));
    cr_assert_eq(p.src, 0, "%s", fail_str(&p.sf));
    pair_free(&p, true);
    handshake(&p, without, sc, "127.0.0.1", NULL);
    cr_assert_eq(p.src, -EPROTO);
    /* TLS 1.3: the client may finish first and learn of the refusal on its
     * first read. Either way it fails, with a TLS reason. */
    if (p.crc == 0) {
        char buf[64];
        tls_fail f = {0};
        unsigned want;
        cr_assert_eq(tls_io_read(p.cli, buf, sizeof buf, &want, &f), -EPROTO);
        cr_assert(strstr(fail_str(&f), "certificate"), "%s", fail_str(&f));
    }
    pair_free(&p, false);
    tls_client_ctx_free(with);
    tls_client_ctx_free(without);
    tls_server_ctx_free(sc);
}

Test(tls, context_errors_name_the_flag_and_the_file)
{
    err e = {0};
    tls_client_opts o = {.cafile = "/nonexistent/ca.pem"};
    cr_assert_null(tls_client_ctx_new(&o, &e));
    cr_assert(strstr(e.msg, "--cacert") && strstr(e.msg, "/nonexistent/ca.pem") &&
                  strstr(e.msg, "No such file"),
              "%s", e.msg);
    tls_client_opts k = {.insecure = true, .keyfile = cli_key};
    cr_assert_null(tls_client_ctx_new(&k, &e));
    cr_assert(strstr(e.msg, "--key: needs --cert"), "%s", e.msg);
    tls_client_opts m = {.insecure = true, .certfile = cli_pem, .keyfile = other_key};
    cr_assert_null(tls_client_ctx_new(&m, &e));
    cr_assert(strstr(e.msg, "--key") && strstr(e.msg, "match"), "%s", e.msg);
    cr_assert_null(tls_server_ctx_new("/nonexistent/srv.pem", NULL, &e));
    cr_assert(strstr(e.msg, "--tls-cert") && strstr(e.msg, "/nonexistent/srv.pem"), "%s",
              e.msg);
    /* A key file given as the certificate: not a certificate. */
    cr_assert_null(tls_server_ctx_new(srv_key, srv_key, &e));
    cr_assert(strstr(e.msg, "--tls-cert"), "%s", e.msg);
}

Test(tls, fail_str_of_nothing_is_empty_and_of_errno_is_strerror)
{
    char m[128] = "x";
    tls_fail f = {0};
    tls_fail_str(&f, m, sizeof m);
    cr_assert_str_eq(m, "");
    f.sys_errno = ECONNRESET;
    tls_fail_str(&f, m, sizeof m);
    cr_assert_str_eq(m, "TLS handshake: Connection reset by peer");
    f = (tls_fail){.eof = true};
    tls_fail_str(&f, m, sizeof m);
    cr_assert_str_eq(m, "TLS handshake: the server closed the connection");
}

Test(tls, peer_that_is_not_tls_fails_the_handshake)
{
    /* OpenSSL writes with write(2): like volley (cmd/main), ignore SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    tls_client_ctx *cc = client_ctx(true, NULL, NULL, NULL);
    int fd[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
    struct ssl_st *s = tls_io_connect_new(cc, fd[0], "127.0.0.1", NULL, false);
    unsigned want;
    tls_fail f = {0};
    cr_assert_eq(tls_io_handshake(s, &want, &f), -EAGAIN);
    cr_assert_eq(want, LOOP_READ);
    const char junk[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(write(fd[1], junk, sizeof junk - 1), (ssize_t)(sizeof junk - 1));
    cr_assert_eq(tls_io_handshake(s, &want, &f), -EPROTO);
    cr_assert_neq(fail_str(&f)[0], 0);
    tls_io_free(s, false, false);
    close(fd[0]);
    close(fd[1]);
    /* A peer that just closes: the handshake fails with a reason. */
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
    s = tls_io_connect_new(cc, fd[0], NULL, NULL, false);
    close(fd[1]);
    f = (tls_fail){0};
    cr_assert_eq(tls_io_handshake(s, &want, &f), -EPROTO);
    cr_assert(strstr(fail_str(&f), "TLS handshake: "), "%s", fail_str(&f));
    tls_io_free(s, false, false);
    close(fd[0]);
    tls_client_ctx_free(cc);
}
