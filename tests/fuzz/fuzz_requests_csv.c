/* libFuzzer target for the requests.csv reader (results/csv), which reads
 * files beside any results.json a user points `volley report` at: never
 * crash or leak; an error names the file; rows that read are sane; the
 * file read in parts gives the same rows as in one pass. */
#include "results/csv.h"

#include "memfile.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Counts sane rows; an endpoint is always NUL-terminated. */
static int check_row(const csv_request_row *row, void *ctx)
{
    if (memchr(row->endpoint, 0, sizeof row->endpoint) == NULL)
        abort();
    ++*(size_t *)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char path[64];
    int fd = memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    err e = {0};
    size_t n = 0, parts_n = 0;
    int rc = csv_scan_requests(path, false, check_row, &n, &e);
    if (rc && (rc != e.code || !strstr(e.msg, path)))
        abort();
    for (unsigned k = 0; !rc && k < 3; k++)
        if (csv_scan_requests_part(path, false, k, 3, check_row, &parts_n, &e))
            abort(); /* a file that reads whole reads in parts */
    if (!rc && parts_n != n)
        abort();
    close(fd);
    return 0;
}
