/* Tests net/tls's memory on idle connections, from the heap in use
 * (mallinfo2): a read that finds nothing must not leave OpenSSL's ~17 KiB
 * record buffer behind, or 10,000 idle connections hold 170 MB. */
#include "net/tls.h"

#include "net/loop.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <malloc.h>

#include "testcerts.h"

/* Bytes in use on the heap (a record buffer of ~17 KiB is below the mmap
 * threshold, so it shows here). */
static long heap_in_use(void)
{
    return (long)mallinfo2().uordblks;
}

TestSuite(tls_mem, .init = make_certs, .fini = remove_certs);

Test(tls_mem, idle_read_leaves_no_record_buffer)
{
    err e = {0};
    tls_client_opts o = {.cafile = ca_pem};
    tls_client_ctx *cc = tls_client_ctx_new(&o, &e);
    tls_server_ctx *sc = tls_server_ctx_new(srv_pem, srv_key, &e);
    cr_assert(cc && sc, "%s", e.msg);
    int fd[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
    struct ssl_st *cli = tls_io_connect_new(cc, fd[0], "127.0.0.1", NULL, false);
    struct ssl_st *srv = tls_io_accept_new(sc, fd[1]);
    int crc = -EAGAIN, src = -EAGAIN;
    unsigned want;
    for (int i = 0; i < 100 && (crc == -EAGAIN || src == -EAGAIN); i++) {
        if (crc == -EAGAIN)
            crc = tls_io_handshake(cli, &want, NULL);
        if (src == -EAGAIN)
            src = tls_io_handshake(srv, &want, NULL);
    }
    cr_assert(crc == 0 && src == 0);
    char buf[256];
    cr_assert_eq(tls_io_write(cli, "GET / HTTP/1.1\r\n\r\n", 18, &want, NULL), 18);
    /* The client waits for its response: its read finds the server's
     * session tickets and nothing else (an idle connection's state). */
    long before = heap_in_use();
    cr_assert_eq(tls_io_read(cli, buf, sizeof buf, &want, NULL), -EAGAIN);
    long grew = heap_in_use() - before;
    cr_assert_lt(grew, 8192, "the idle read kept %ld bytes (a record buffer)", grew);
    /* The same after a response was read and the next read found nothing. */
    cr_assert_eq(tls_io_read(srv, buf, sizeof buf, &want, NULL), 18);
    cr_assert_eq(tls_io_write(srv, "HTTP/1.1 204 No Content\r\n\r\n", 27, &want, NULL), 27);
    cr_assert_eq(tls_io_read(cli, buf, sizeof buf, &want, NULL), 27);
    before = heap_in_use();
    cr_assert_eq(tls_io_read(cli, buf, sizeof buf, &want, NULL), -EAGAIN);
    grew = heap_in_use() - before;
    cr_assert_lt(grew, 4096, "an idle read kept %ld bytes (a record buffer)", grew);
    tls_io_free(cli, true, false);
    tls_io_free(srv, true, false);
    close(fd[0]);
    close(fd[1]);
    tls_client_ctx_free(cc);
    tls_server_ctx_free(sc);
}
