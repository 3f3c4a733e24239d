/* cmd: one function per subcommand. Each takes the arguments after the
 * subcommand name (argv[0] is the subcommand) and returns the process exit
 * code: 0 success, 1 runtime failure, 2 bad usage or input, 99 thresholds
 * failed (as k6), 128+N stopped by signal N. Only cmd/ may exit or print
 * to stdout directly; the work is in the library (session/ and below). */
#ifndef VOLLEY_CMD_H
#define VOLLEY_CMD_H

#include "session/session.h"

#define EXIT_USAGE SESSION_EXIT_USAGE
#define EXIT_THRESHOLDS SESSION_EXIT_THRESHOLDS
#define EXIT_GENERATOR SESSION_EXIT_GENERATOR /* also find-max's "at least" */

int cmd_serve(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_find_max(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
