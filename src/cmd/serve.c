/* serve: placeholder until server lands (replaced by the server work). */
#include "cmd/cmd.h"
int cmd_serve(int argc, char **argv) { (void)argc; (void)argv; return 1; }
