/* libFuzzer target for the requests.csv reader (results/csv), which reads
 * files beside any results.json a user points `volley report` at: never
 * crash or leak; an error names the file; rows that read are sane. */
#include "results/csv.h"

#include "memfile.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char path[64];
    int fd = memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    csv_request_row *rows = NULL;
    size_t n = 0;
    err e = {0};
    int rc = csv_read_requests(path, &rows, &n, &e);
    if (rc && (rc != e.code || !strstr(e.msg, path)))
        abort();
    if (!rc && n > CSV_REQUESTS_MAX_ROWS)
        abort();
    for (size_t i = 0; !rc && i < n; i++)
        if (memchr(rows[i].endpoint, 0, sizeof rows[i].endpoint) == NULL)
            abort();
    free(rows);
    close(fd);
    return 0;
}
