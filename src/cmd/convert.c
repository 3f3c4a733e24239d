/* convert: `volley convert har FILE` - a browser recording as a file to edit
 * and run: a targets file (vegeta's format, one target per distinct
 * request) or a Lua script that replays the recording in order as one
 * virtual user's iteration. The HAR reading is load/har's. */
#include "cmd/cmd.h"

#include "core/buf.h"
#include "core/fileio.h"
#include "load/har.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fputs("usage: volley convert har FILE [--to targets|lua] [--out FILE] [--filter X]\n"
          "\n"
          "Turns a HAR recording (browser developer tools: \"Save all as HAR\") into\n"
          "  targets  a targets file for `volley run --targets` (default): one target per\n"
          "           distinct request, with its recorded headers and how often it was sent;\n"
          "           bodies go into FILE.bodies/ beside --out\n"
          "  lua      a script for `volley run SCRIPT.lua`: every request in recorded\n"
          "           order, as one iteration, each with a check for a 2xx/3xx status\n"
          "\n"
          "  --to FORMAT      targets or lua\n"
          "  --out FILE       write there (default: standard output)\n"
          "  --filter X       keep URLs whose path starts with X, or whose host[:port] is X\n"
          "                   (optionally followed by a path prefix)\n"
          "  -h, --help       this help\n",
          f);
}

static void skipped(void *ctx, const char *method, const char *u, const char *why)
{
    (void)ctx;
    fprintf(stderr, "volley convert: skipped %s %s: %s\n", method, u, why);
}

/* A Lua string literal: printable ASCII as is, the rest as \ddd. */
static void lua_quote(buf *b, const char *s, size_t n)
{
    buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            buf_printf(b, "\\%03u", c);
        else
            buf_append(b, (const char *)&c, 1);
    }
    buf_append(b, "\"", 1);
}

static void lua_request(buf *b, const har_request *r)
{
    buf_printf(b, "  r = http.request(");
    lua_quote(b, r->method, strlen(r->method));
    buf_printf(b, ", ");
    lua_quote(b, r->url, strlen(r->url));
    buf_printf(b, ", ");
    if (r->body)
        lua_quote(b, r->body, r->body_len);
    else
        buf_printf(b, "nil");
    buf_printf(b, ", { headers = {");
    for (size_t h = 0; h < r->nheaders; h++) {
        const char *line = r->headers[h], *colon = strchr(line, ':');
        const char *v = colon + 1 + (colon[1] == ' ');
        buf_printf(b, "%s\n      [", h ? "," : "");
        lua_quote(b, line, (size_t)(colon - line));
        buf_printf(b, "] = ");
        lua_quote(b, v, strlen(v));
    }
    buf_printf(b, " } })\n  check(r, { [");
    char label[160];
    snprintf(label, sizeof label, "%s %s is 2xx/3xx", r->method, r->url);
    lua_quote(b, label, strlen(label));
    buf_printf(b, "] = ok })\n");
}

static int to_lua(const char *har_path, har_request *reqs, size_t n, buf *b)
{
    buf_printf(b, "-- Made by `volley convert har %s --to lua`: %zu requests, in the order\n"
                  "-- the browser sent them, as one iteration of a virtual user. Edit freely.\n"
                  "-- Run: volley run THIS.lua -c VUS -d DURATION\n"
                  "options = { vus = 1, iterations = 1 }\n\n"
                  "local function ok(r) return r.status >= 200 and r.status < 400 end\n\n"
                  "function default()\n  local r\n",
               har_path, n);
    for (size_t i = 0; i < n; i++)
        lua_request(b, &reqs[i]);
    buf_printf(b, "end\n");
    return 0;
}

static int to_targets(const char *har_path, const char *out, har_request *reqs, size_t n, buf *b,
                      err *e)
{
    buf_printf(b, "# Made by `volley convert har %s`: %zu distinct requests.\n"
                  "# Run: volley run --targets THIS [--mode mixed]\n",
               har_path, n);
    for (size_t i = 0; i < n; i++) {
        const har_request *r = &reqs[i];
        buf_printf(b, "\n# recorded %u time%s\n# name: %s\n%s %s\n", r->count,
                   r->count == 1 ? "" : "s", r->name, r->method, r->url);
        for (size_t h = 0; h < r->nheaders; h++)
            buf_printf(b, "%s\n", r->headers[h]);
        if (!r->body_len)
            continue;
        if (!out)
            return err_set(e, VOLLEY_EINVAL,
                           "%s %s has a body: targets files keep bodies in files, so give --out FILE",
                           r->method, r->url);
        char dir[4200], path[4300];
        snprintf(dir, sizeof dir, "%s.bodies", out);
        if (mkdir(dir, 0755) && errno != EEXIST)
            return err_sys(e, "cannot create %s", dir);
        snprintf(path, sizeof path, "%s/%zu.body", dir, i + 1);
        int rc = file_write_atomic(path, r->body, r->body_len, e);
        if (rc)
            return rc;
        buf_printf(b, "@%s\n", path);
    }
    return 0;
}

static int convert_har(const char *path, const char *to, const char *out, const char *filter)
{
    bool lua = !strcmp(to, "lua");
    if (!lua && strcmp(to, "targets")) {
        fprintf(stderr, "volley convert: --to: unknown '%s' (targets or lua)\n", to);
        return EXIT_USAGE;
    }
    /* A script replays every request in order; targets are the distinct ones. */
    har_options o = {.filter = filter, .on_skip = skipped, .every = lua};
    har_request *reqs;
    size_t n;
    err e = {0};
    buf b = {0};
    int rc = har_read(path, &o, &reqs, &n, &e);
    if (!rc && !n)
        rc = err_set(&e, VOLLEY_EINVAL, "--har %s: no request to convert%s", path,
                     filter ? " (none passes --filter)" : "");
    if (!rc)
        rc = lua ? to_lua(path, reqs, n, &b) : to_targets(path, out, reqs, n, &b, &e);
    if (!rc && out)
        rc = file_write_atomic(out, b.data, b.len, &e);
    else if (!rc)
        fwrite(b.data, 1, b.len, stdout);
    har_requests_free(reqs, n);
    buf_free(&b);
    if (rc) {
        fprintf(stderr, "volley convert: %s\n", e.msg);
        return rc == VOLLEY_EIO ? 1 : EXIT_USAGE;
    }
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {{"to", required_argument, NULL, 'T'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"filter", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *to = "targets", *out = NULL, *filter = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'T': to = optarg; break;
        case 'o': out = optarg; break;
        case 'f': filter = optarg; break;
        case 'h': usage(stdout); return 0;
        case ':':
            fprintf(stderr, "volley convert: %s needs a value\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "volley convert: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "har")) {
        usage(stderr);
        return EXIT_USAGE;
    }
    return convert_har(argv[optind + 1], to, out, filter);
}
