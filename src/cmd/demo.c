/* demo: `volley demo` - everything in one command, on loopback only: starts
 * the built-in server in-process on a free port, loads four routes that
 * answer the same bytes buffered or streamed, with a fixed or a random
 * ("dynamic") delay, at a short ramping rate, then writes the report. */
#include "cmd/cmd.h"

#include "core/log.h"
#include "net/addr.h"
#include "server/server.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
          "  --out DIR   where to write (default volley-results/demo-<timestamp>)\n"
          "  --quick     a 6 s run instead of 20 s\n",
          f);
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
    char dir[512];
    if (out) {
        snprintf(dir, sizeof dir, "%s", out);
    } else {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
        snprintf(dir, sizeof dir, "volley-results/demo-%s", ts);
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

    static const struct {
        const char *name, *route;
    } eps[] = {
        {"buffering-simple", "/buffered?chunks=5&interval_ms=20"},
        {"buffering-dynamic", "/buffered?chunks=5&interval_ms=20&max_delay_ms=40"},
        {"streaming-simple", "/stream?chunks=5&interval_ms=20"},
        {"streaming-dynamic", "/stream?chunks=5&interval_ms=20&max_delay_ms=40"},
    };
    char specs[4][256];
    char *rargv[32];
    int n = 0;
    rargv[n++] = "run";
    for (int i = 0; i < 4; i++) {
        snprintf(specs[i], sizeof specs[i], "%s=http://%s%s", eps[i].name, hp, eps[i].route);
        rargv[n++] = "--endpoint";
        rargv[n++] = specs[i];
    }
    rargv[n++] = "--executor";
    rargv[n++] = "ramping-arrival-rate";
    rargv[n++] = "--stages";
    rargv[n++] = quick ? "40:2s,40:2s,0:2s" : "40:5s,40:10s,0:5s";
    rargv[n++] = "--threads";
    rargv[n++] = "1";
    rargv[n++] = "--raw";
    rargv[n++] = "--label";
    rargv[n++] = "demo";
    rargv[n++] = "--out";
    rargv[n++] = dir;
    rargv[n] = NULL;
    int rc = cmd_run(n, rargv);
    server_free(srv);
    if (rc != 0 && rc != 130)
        return rc;

    char results_path[600];
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
