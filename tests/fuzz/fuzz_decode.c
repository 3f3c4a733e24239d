/* libFuzzer target for proto/decode: the first byte picks the
 * Content-Encoding and a split point, the rest is the body as a server
 * might send it. Any bytes must end in a result or an error code, with no
 * crash, no leak and no more output than the cap. */
#include "proto/decode.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 2)
        return 0;
    static decoder *dec;
    if (!dec)
        dec = decoder_new(8u << 20);
    decode_kind k = (decode_kind)(d[0] % 5);
    size_t split = 1 + (d[1] % (n - 1));
    if (decoder_reset(dec, k))
        return 0;
    int rc = decoder_feed(dec, d + 1, split - 1, NULL, NULL);
    if (!rc)
        rc = decoder_feed(dec, d + split, n - split, NULL, NULL);
    if (!rc)
        rc = decoder_finish(dec);
    if (decoder_out_bytes(dec) > (8u << 20) + 65536)
        abort();
    (void)rc;
    return 0;
}
