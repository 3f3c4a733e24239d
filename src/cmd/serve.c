/* serve: `volley serve`, the built-in target server on loopback. Parses the
 * flags, starts server/ (one event loop per thread), prints the one
 * "listening on" line that scripts and tests read, and waits for SIGINT,
 * SIGTERM or --duration before stopping everything cleanly. With --tls-cert
 * it serves HTTPS (net/tls) and reports its handshakes at exit. */
#include "cmd/cmd.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/parse.h"
#include "net/addr.h"
#include "net/tls.h"
#include "server/server.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: volley serve [options]\n"
            "\n"
            "Runs the built-in HTTP/1.1 (and with --h2, HTTP/2) target server (loopback only). Routes: /health,\n"
            "/echo, /bytes/{n}, /status/{code}, /delay/{ms}, /stream, /buffered, /sse,\n"
            "/openapi.json (see docs/serve.md). Prints 'listening on http://HOST:PORT'\n"
            "(https:// with --tls-cert) once ready; stops on Ctrl-C or SIGTERM.\n"
            "\n"
            "options:\n"
            "  -l, --listen HOST:PORT   address to listen on (default 127.0.0.1:8080;\n"
            "                           port 0 picks a free port; loopback only; or\n"
            "                           unix:PATH, a Unix socket made and removed here)\n"
            "  -t, --threads N          worker threads, each with its own event loop and\n"
            "                           SO_REUSEPORT socket (default: number of cores)\n"
            "      --idle-timeout D     close keep-alive connections idle this long\n"
            "                           (default 60s)\n"
            "      --header-timeout D   a request head (or body) must arrive within D\n"
            "                           of its first byte, else 408 (default 10s)\n"
            "      --stall-every D      every D after start, stop answering for\n"
            "      --stall-for D        D (both needed; tests coordinated omission)\n"
            "      --capacity R         serve at most R requests/s: one queue shared by\n"
            "                           all threads, fixed service time 1/R (a target\n"
            "                           whose true capacity is known; docs/capacity.md)\n"
            "      --capacity-queue D   with --capacity: a request that would wait longer\n"
            "                           than D is refused with 503 (default 1s)\n"
            "      --max-body SIZE      largest request body (default 8MiB; larger: 413)\n"
            "      --tls-cert FILE      serve HTTPS with this PEM certificate (chain)\n"
            "      --tls-key FILE       its PEM private key (default: in --tls-cert)\n"
            "      --tls-client-ca FILE require a client certificate issued by these CAs\n"
            "      --h2                 HTTP/2 too: h2c with prior knowledge on plain TCP,\n"
            "                           h2 by ALPN with --tls-cert (HTTP/1.1 still served)\n"
            "      --h2-max-streams N   SETTINGS_MAX_CONCURRENT_STREAMS (default 256)\n"
            "  -d, --duration D         exit by itself after D (default: run until stopped)\n"
            "  -q, --quiet              print only errors\n"
            "  -h, --help               show this help\n"
            "\n"
            "Durations take units ns, us, ms, s, m, h (e.g. 250ms, 1m30s).\n");
}

static int bad_usage(const char *msg)
{
    fprintf(stderr, "volley serve: %s\n(see 'volley serve --help')\n", msg);
    return EXIT_USAGE;
}

/* Waits for SIGINT/SIGTERM (blocked in every thread) or the deadline. */
static void wait_for_stop(const sigset_t *set, uint64_t duration_ns)
{
    uint64_t deadline = duration_ns ? clock_now_ns() + duration_ns : 0;
    for (;;) {
        int sig;
        if (!deadline) {
            if (sigwait(set, &sig) == 0)
                return;
            continue;
        }
        uint64_t now = clock_now_ns();
        if (now >= deadline)
            return;
        uint64_t d = deadline - now;
        struct timespec ts = {.tv_sec = (time_t)(d / NS_PER_S), .tv_nsec = (long)(d % NS_PER_S)};
        if (sigtimedwait(set, NULL, &ts) >= 0)
            return;
        if (errno != EAGAIN && errno != EINTR)
            return;
    }
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},
        {"idle-timeout", required_argument, NULL, 'I'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"stall-every", required_argument, NULL, 'E'},
        {"stall-for", required_argument, NULL, 'F'},
        {"max-body", required_argument, NULL, 'B'},
        {"capacity", required_argument, NULL, 'R'},
        {"capacity-queue", required_argument, NULL, 'Q'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"tls-client-ca", required_argument, NULL, 'A'},
        {"h2", no_argument, NULL, '2'},
        {"h2-max-streams", required_argument, NULL, 'S'},
        {"duration", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    server_config cfg;
    server_config_defaults(&cfg);
    const char *listen = "127.0.0.1:8080";
    const char *tls_cert = NULL, *tls_key = NULL, *tls_client_ca = NULL;
    uint64_t duration_ns = 0, v;
    bool quiet = false, capacity_queue_set = false;
    err e;
    err_clear(&e);
    int c, rc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":l:t:d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 't':
            rc = parse_u64(optarg, "--threads", 1, 1024, &v, &e);
            cfg.threads = (unsigned)v;
            break;
        case 'I':
            rc = parse_duration_ns(optarg, "--idle-timeout", &cfg.idle_timeout_ns, &e);
            break;
        case 'H':
            rc = parse_duration_ns(optarg, "--header-timeout", &cfg.header_timeout_ns, &e);
            break;
        case 'E':
            rc = parse_duration_ns(optarg, "--stall-every", &cfg.stall_every_ns, &e);
            break;
        case 'F':
            rc = parse_duration_ns(optarg, "--stall-for", &cfg.stall_for_ns, &e);
            break;
        case 'R':
            rc = parse_u64(optarg, "--capacity", 1, 1000000000, &cfg.capacity_per_s, &e);
            break;
        case 'Q':
            rc = parse_duration_ns(optarg, "--capacity-queue", &cfg.capacity_queue_ns, &e);
            capacity_queue_set = true;
            break;
        case 'B':
            rc = parse_size_bytes(optarg, "--max-body", &cfg.max_body_bytes, &e);
            break;
        case 'd':
            rc = parse_duration_ns(optarg, "--duration", &duration_ns, &e);
            break;
        case 'C':
            tls_cert = optarg;
            break;
        case 'K':
            tls_key = optarg;
            break;
        case 'A':
            tls_client_ca = optarg;
            break;
        case '2':
            cfg.h2 = true;
            break;
        case 'S':
            rc = parse_u64(optarg, "--h2-max-streams", 1, 1u << 20, &v, &e);
            cfg.h2_max_streams = (uint32_t)v;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':': {
            char msg[128];
            snprintf(msg, sizeof msg, "option '%s' needs a value", argv[optind - 1]);
            return bad_usage(msg);
        }
        default: {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown option '%s'", argv[optind - 1]);
            return bad_usage(msg);
        }
        }
        if (rc)
            return bad_usage(e.msg);
    }
    if (optind < argc) {
        char msg[128];
        snprintf(msg, sizeof msg, "unexpected argument '%s'", argv[optind]);
        return bad_usage(msg);
    }
    if (!cfg.stall_every_ns != !cfg.stall_for_ns)
        return bad_usage("--stall-every and --stall-for go together");
    if (cfg.stall_every_ns && cfg.stall_for_ns >= cfg.stall_every_ns)
        return bad_usage("--stall-for must be shorter than --stall-every");
    if (capacity_queue_set && !cfg.capacity_per_s)
        return bad_usage("--capacity-queue needs --capacity");
    if (!cfg.idle_timeout_ns || !cfg.header_timeout_ns)
        return bad_usage("timeouts must be greater than 0");
    /* unix:PATH: a Unix socket (clients: volley run --unix-socket PATH). */
    if ((rc = strncmp(listen, "unix:", 5) ? addr_parse_hostport(listen, "--listen", &cfg.listen, &e)
                                          : addr_unix(listen + 5, "--listen", &cfg.listen, &e)))
        return bad_usage(e.msg);
    if (!addr_is_loopback(&cfg.listen)) {
        char msg[600];
        snprintf(msg, sizeof msg,
                 "--listen: '%s' is not a loopback address; volley serve only listens on "
                 "127.0.0.0/8 or [::1]", listen);
        return bad_usage(msg);
    }
    if (cfg.h2_max_streams && !cfg.h2)
        return bad_usage("--h2-max-streams needs --h2");
    if ((tls_key || tls_client_ca) && !tls_cert)
        return bad_usage("--tls-key and --tls-client-ca need --tls-cert");
    if (quiet)
        log_set_level(LOG_ERROR);
    tls_server_ctx *tls = NULL;
    if (tls_cert) {
        tls = tls_server_ctx_new(tls_cert, tls_key, &e);
        if (tls && tls_client_ca && tls_server_ctx_require_client_cert(tls, tls_client_ca, &e)) {
            tls_server_ctx_free(tls);
            tls = NULL;
        }
        if (!tls)
            return bad_usage(e.msg);
        if (cfg.h2)
            tls_server_ctx_offer_h2(tls);
        cfg.tls = tls;
    }

    /* Block the stop signals before any thread exists so every thread
     * inherits the mask and only this one receives them, in sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    server *s = NULL;
    if ((rc = server_start(&cfg, &s, &e))) {
        fprintf(stderr, "volley serve: %s\n", e.msg);
        tls_server_ctx_free(tls);
        return 1;
    }
    addr bound;
    char name[160];
    server_address(s, &bound);
    addr_format(&bound, name, sizeof name);
    printf("listening on %s://%s\n", tls ? "https" : "http", name);
    fflush(stdout);
    if (!quiet)
        log_info("serve: %u thread%s; routes: /health /echo /bytes/{n} /status/{code} "
                 "/delay/{ms} /stream /buffered /sse /openapi.json",
                 cfg.threads, cfg.threads == 1 ? "" : "s");
    if (!quiet && cfg.h2)
        log_info("serve: HTTP/2 %s, and HTTP/1.1", tls ? "by ALPN (h2)" : "with prior knowledge (h2c)");
    wait_for_stop(&set, duration_ns);
    server_stop(s);
    if (cfg.capacity_per_s) {
        uint64_t served, refused;
        server_capacity_stats(s, &served, &refused);
        log_info("serve: capacity %llu/s: served %llu, refused %llu (queue full)",
                 (unsigned long long)cfg.capacity_per_s, (unsigned long long)served,
                 (unsigned long long)refused);
    }
    if (tls) {
        uint64_t hs, resumed;
        server_tls_stats(s, &hs, &resumed);
        log_info("serve: TLS handshakes: %llu, resumed: %llu", (unsigned long long)hs,
                 (unsigned long long)resumed);
    }
    server_free(s);
    tls_server_ctx_free(tls);
    return 0;
}
