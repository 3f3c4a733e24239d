/* libFuzzer target for the vegeta-style targets file parser
 * (load/plan: --targets): never crash or leak; an error names the file;
 * every endpoint it adds has a URL and a name. */
#include "load/plan.h"

#include "memfile.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 14)
        return 0;
    char path[64];
    int fd = memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    static plan p; /* large: not on the stack */
    plan_init(&p);
    err e = {0};
    int rc = plan_load_targets(&p, path, &e);
    if (rc && (rc != e.code || !strstr(e.msg, path)))
        abort();
    for (size_t i = 0; !rc && i < p.neps; i++)
        if (!p.eps[i].url_text[0] || !p.eps[i].name[0])
            abort();
    plan_free(&p);
    close(fd);
    return 0;
}
