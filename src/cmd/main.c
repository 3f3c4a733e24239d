/* main: the volley binary; dispatches to one file per subcommand in cmd/. */
#include "cmd/cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifndef VOLLEY_VERSION
#define VOLLEY_VERSION "0.1.0"
#endif

typedef struct subcommand {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} subcommand;

static const subcommand commands[] = {
    {"run", cmd_run, "generate load against a URL and report the results"},
    {"serve", cmd_serve, "run the built-in target server (loopback only)"},
    {"report", cmd_report, "make reports (HTML, PNG/SVG charts, CSV, text) from results.json"},
    {"compare", cmd_compare, "compare two results files: better, worse or within noise"},
    {"find-max", cmd_find_max, "search the highest rate that meets an SLO (open model)"},
    {"merge", cmd_merge, "merge the results of the segments of one run (--segment K/N)"},
    {"demo", cmd_demo, "serve + run + report on loopback, in one command"},
    {"convert", cmd_convert, "turn a HAR recording into a targets file or a Lua script"},
};

static void usage(FILE *f)
{
    fprintf(f, "volley %s - HTTP load generator and benchmark reporter\n\n"
               "usage: volley <command> [options]\n\ncommands:\n",
            VOLLEY_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'volley <command> --help' shows a command's options.\n");
}

int main(int argc, char **argv)
{
    /* A peer that closes while we write must be an error code, not a death. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "-V") || !strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("volley %s\n", VOLLEY_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "volley: unknown command '%s'\n\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
