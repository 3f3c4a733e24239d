/* run: placeholder until the engine lands. */
#include "cmd/cmd.h"
int cmd_run(int argc, char **argv) { (void)argc; (void)argv; return 1; }
