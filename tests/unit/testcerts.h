/* testcerts: a throw-away CA, server, client and self-signed certificates
 * made with the OpenSSL API in a temporary directory, for the unit tests of
 * net/tls and net/conn (static: each test file gets its own copy). */
#ifndef VOLLEY_TESTCERTS_H
#define VOLLEY_TESTCERTS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static char dir[64];
static char ca_pem[128], srv_pem[128], srv_key[128], cli_pem[128], cli_key[128], other_key[128],
    self_pem[128];

static void add_ext(X509 *x, X509V3_CTX *v, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v, nid, value);
    cr_assert_not_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san, const char *eku)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
    if (!issuer) {
        add_ext(x, &v, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, &v, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, &v, NID_basic_constraints, "CA:FALSE");
        add_ext(x, &v, NID_ext_key_usage, eku);
    }
    if (san)
        add_ext(x, &v, NID_subject_alt_name, san);
    cr_assert(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    if (x)
        PEM_write_X509(f, x);
    if (k)
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

/* A CA, a server certificate for localhost / 127.0.0.1 and a client one. */
static void __attribute__((unused)) make_certs(void)
{
    snprintf(dir, sizeof dir, "/tmp/volley-test-tls-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
    snprintf(srv_pem, sizeof srv_pem, "%s/srv.pem", dir);
    snprintf(srv_key, sizeof srv_key, "%s/srv.key", dir);
    snprintf(cli_pem, sizeof cli_pem, "%s/cli.pem", dir);
    snprintf(cli_key, sizeof cli_key, "%s/cli.key", dir);
    snprintf(other_key, sizeof other_key, "%s/other.key", dir);
    snprintf(self_pem, sizeof self_pem, "%s/self.pem", dir);
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *sk = EVP_EC_gen("P-256"), *ck = EVP_EC_gen("P-256"),
             *ok = EVP_EC_gen("P-256");
    X509 *ca = make_cert(cak, "volley unit CA", NULL, NULL, NULL, NULL);
    X509 *srv = make_cert(sk, "localhost", ca, cak, "DNS:localhost,IP:127.0.0.1", "serverAuth");
    X509 *cli = make_cert(ck, "volley client", ca, cak, NULL, "clientAuth");
    X509 *self = make_cert(ok, "localhost", NULL, NULL, "IP:127.0.0.1", NULL);
    write_pem(ca_pem, ca, NULL);
    write_pem(srv_pem, srv, NULL);
    write_pem(srv_key, NULL, sk);
    write_pem(cli_pem, cli, NULL);
    write_pem(cli_key, NULL, ck);
    write_pem(other_key, NULL, ok);
    write_pem(self_pem, self, NULL);
    X509_free(self);
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(ok);
}

static void __attribute__((unused)) remove_certs(void)
{
    const char *files[] = {ca_pem, srv_pem, srv_key, cli_pem, cli_key, other_key, self_pem};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        unlink(files[i]);
    rmdir(dir);
}

#endif
