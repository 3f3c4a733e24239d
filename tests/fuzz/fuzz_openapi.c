/* libFuzzer target for OpenAPI documents (load/openapi: --openapi): never
 * crash or leak; an error names the document; every endpoint found has an
 * http URL on the given base and a name. */
#include "load/openapi.h"

#include "memfile.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every skipped operation comes with a method, a path and a reason. */
static void on_skip(void *ctx, const char *method, const char *path, const char *why)
{
    (void)ctx;
    if (!method || !path || !why || !*why)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char path[64];
    int fd = memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    static plan p; /* large: not on the stack */
    plan_init(&p);
    err e = {0};
    static const char *const params[] = {"id=1"};
    openapi_options o = {.path_params = params, .npath_params = 1, .on_skip = on_skip};
    int rc = openapi_load(&p, path, "http://127.0.0.1:9", &o, &e);
    if (rc < 0 && (rc != e.code || !strstr(e.msg, path)))
        abort();
    for (size_t i = 0; rc >= 0 && i < p.neps; i++)
        if (strncmp(p.eps[i].url_text, "http://127.0.0.1:9", 18) ||
            !p.eps[i].name[0])
            abort();
    plan_free(&p);
    close(fd);
    return 0;
}
