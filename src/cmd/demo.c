/* demo: `volley demo` - everything in one command, on loopback only: starts
 * the built-in server in-process on a free port, loads four routes that
 * answer the same bytes buffered or streamed, with a fixed or a random
 * ("dynamic") delay, at a short ramping rate, then writes the report. */
#include "cmd/cmd.h"

#include "core/log.h"
#include "load/executor.h"
#include "load/plan.h"
#include "session/session.h"
#include "net/addr.h"
#include "server/server.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: volley demo [--out DIR] [--quick]\n"
          "\n"
          "Starts the built-in server on a free loopback port and compares four routes\n"
          "with the same body (5 chunks, 20 ms apart):\n"
          "  buffering-simple   /buffered: the whole body at the end\n"
          "  buffering-dynamic  /buffered with a random extra delay (max_delay_ms=40)\n"
          "  streaming-simple   /stream: each chunk as soon as it is ready\n"
          "  streaming-dynamic  /stream with a random extra delay per chunk\n"
          "at a ramping rate (0 -> 40 req/s per route and back), then writes\n"
          "results.json, summary.csv, requests.csv and report.html with charts.\n"
          "\n"
          "  --out DIR   where to write (default volley-results/<timestamp>-demo)\n"
          "  --quick     a 6 s run instead of 20 s\n",
          f);
}

/* Four routes of the built-in server at hp, a ramping rate, one thread. */
static int demo_plan(plan *p, const char *hp, bool quick, err *e)
{
    static const struct {
        const char *name, *route;
    } eps[] = {
        {"buffering-simple", "/buffered?chunks=5&interval_ms=20"},
        {"buffering-dynamic", "/buffered?chunks=5&interval_ms=20&max_delay_ms=40"},
        {"streaming-simple", "/stream?chunks=5&interval_ms=20"},
        {"streaming-dynamic", "/stream?chunks=5&interval_ms=20&max_delay_ms=40"},
    };
    plan_init(p);
    for (int i = 0; i < 4; i++) {
        char u[256];
        snprintf(u, sizeof u, "http://%s%s", hp, eps[i].route);
        if (!plan_add_endpoint_parts(p, eps[i].name, NULL, u, "demo", e))
            return VOLLEY_EINVAL;
    }
    p->shape.kind = EXEC_RAMPING_RATE;
    int rc = executor_parse_stages(&p->shape, quick ? "40:2s,40:2s,0:2s" : "40:5s,40:10s,0:5s",
                                   0, e);
    if (rc)
        return rc;
    p->threads = 1;
    p->raw = true;
    snprintf(p->label, sizeof p->label, "demo");
    return plan_compile(p, e);
}

int cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"quick", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    bool quick = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'o') {
            out = optarg;
        } else if (c == 'k') {
            quick = true;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "volley demo: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    server_config cfg;
    server_config_defaults(&cfg);
    err e = {0};
    if (addr_parse_hostport("127.0.0.1:0", "demo", &cfg.listen, &e)) {
        fprintf(stderr, "volley demo: %s\n", e.msg);
        return 1;
    }
    cfg.threads = 1;
    server *srv;
    if (server_start(&cfg, &srv, &e)) {
        fprintf(stderr, "volley demo: cannot start the built-in server: %s\n", e.msg);
        return 1;
    }
    addr bound;
    server_address(srv, &bound);
    char hp[64];
    addr_format(&bound, hp, sizeof hp);
    printf("volley demo: built-in server on http://%s (in this process)\n", hp);
    fflush(stdout);

    static plan p; /* large; one per process */
    static session_config sc;
    int rc = demo_plan(&p, hp, quick, &e);
    if (rc) {
        fprintf(stderr, "volley demo: %s\n", e.msg);
        plan_free(&p);
        server_free(srv);
        return 1;
    }
    memset(&sc, 0, sizeof sc);
    sc.who = "volley demo";
    sc.out_dir = out;
    sc.raw = true;
    sc.no_report = true; /* written below, with SVG too */
    rc = session_run(&sc, &p, NULL);
    plan_free(&p);
    server_free(srv);
    if (rc != 0 && rc < 128)
        return rc;
    const char *dir = sc.out_used;
    char results_path[4300];
    snprintf(results_path, sizeof results_path, "%s/results.json", dir);
    char *pargv[] = {"report", results_path, "--format", "html,png,svg", NULL};
    int rrc = cmd_report(4, pargv);
    if (rrc)
        return rrc;
    printf("\nvolley demo: report: %s/report.html\n", dir);
    printf("  buffering-* get their first byte only when the whole body is ready;\n"
           "  streaming-* get it at once: compare TTFB with latency in the table above.\n");
    return rc;
}
