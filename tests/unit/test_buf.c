/* Tests for core/buf: the read/write offsets, compaction before growth,
 * growth by doubling, printf appends, and reuse after reset and free. */
#include "core/buf.h"

#include "core/err.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

Test(buf, zero_initialised_buffer_is_empty_and_freeable)
{
    buf b = {0};
    cr_assert_eq(buf_unread(&b), 0);
    cr_assert_eq(buf_room(&b), 0);
    buf_free(&b);
    buf_reset(&b);
    buf_compact(&b);
    cr_assert_eq(buf_append(&b, "", 0), 0, "empty append needs no storage");
    cr_assert_null(b.data);
}

Test(buf, append_then_consume_reads_in_order)
{
    buf b = {0};
    cr_assert_eq(buf_append(&b, "hello ", 6), 0);
    cr_assert_eq(buf_append(&b, "world", 5), 0);
    cr_assert_eq(buf_unread(&b), 11);
    cr_assert_eq(memcmp(buf_rpos(&b), "hello world", 11), 0);
    buf_consume(&b, 6);
    cr_assert_eq(buf_unread(&b), 5);
    cr_assert_eq(memcmp(buf_rpos(&b), "world", 5), 0);
    buf_free(&b);
}

Test(buf, consuming_everything_rewinds_to_the_start)
{
    buf b = {0};
    buf_append(&b, "abcdef", 6);
    buf_consume(&b, 2);
    cr_assert_eq(b.off, 2);
    buf_consume(&b, 4);
    cr_assert_eq(b.off, 0);
    cr_assert_eq(b.len, 0);
    /* Over-consuming is clamped to empty, never past the end. */
    buf_append(&b, "xy", 2);
    buf_consume(&b, 100);
    cr_assert_eq(buf_unread(&b), 0);
    cr_assert_eq(b.off, 0);
    buf_free(&b);
}

Test(buf, compact_moves_unread_bytes_to_the_start)
{
    buf b = {0};
    buf_append(&b, "0123456789", 10);
    buf_consume(&b, 7);
    buf_compact(&b);
    cr_assert_eq(b.off, 0);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "789", 3), 0);
    buf_free(&b);
}

Test(buf, reserve_compacts_instead_of_growing_when_enough_is_read)
{
    buf b = {0};
    cr_assert_eq(buf_reserve(&b, 100), 0);
    size_t cap = b.cap;
    cr_assert_geq(cap, 100);
    char fill[512];
    memset(fill, 'a', sizeof fill);
    buf_append(&b, fill, cap - 10);
    buf_consume(&b, cap - 20); /* 10 unread, 10 room */
    char *before = b.data;
    cr_assert_eq(buf_reserve(&b, cap / 2), 0);
    cr_assert_eq(b.cap, cap, "no growth");
    cr_assert_eq(b.data, before);
    cr_assert_eq(b.off, 0, "compacted");
    cr_assert_eq(buf_unread(&b), 10);
    cr_assert_geq(buf_room(&b), cap / 2);
    buf_free(&b);
}

Test(buf, reserve_grows_by_doubling_and_keeps_unread_data)
{
    buf b = {0};
    buf_append(&b, "keep", 4);
    size_t cap0 = b.cap;
    buf_append(&b, "xxxx", 4);
    buf_consume(&b, 4); /* "xxxx" unread at off 4 */
    cr_assert_eq(buf_reserve(&b, cap0 * 3), 0);
    cr_assert_geq(buf_room(&b), cap0 * 3);
    cr_assert_eq(b.cap & (b.cap - 1), 0, "capacity stays a power of two: %zu", b.cap);
    cr_assert_eq(b.cap, cap0 * 4);
    cr_assert_eq(buf_unread(&b), 4);
    cr_assert_eq(memcmp(buf_rpos(&b), "xxxx", 4), 0);
    buf_free(&b);
}

Test(buf, many_appends_grow_and_keep_every_byte)
{
    buf b = {0};
    for (unsigned i = 0; i < 100000; i++) {
        unsigned char c = (unsigned char)(i * 7);
        cr_assert_eq(buf_append(&b, &c, 1), 0);
    }
    cr_assert_eq(buf_unread(&b), 100000);
    for (unsigned i = 0; i < 100000; i++)
        cr_assert_eq((unsigned char)b.data[i], (unsigned char)(i * 7), "byte %u", i);
    buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.cap, 0);
}

Test(buf, printf_appends_formatted_text_nul_terminated)
{
    buf b = {0};
    cr_assert_eq(buf_printf(&b, "%s=%d", "a", 1), 0);
    cr_assert_eq(buf_printf(&b, ";%s=%llu", "b", (unsigned long long)UINT64_MAX), 0);
    const char *want = "a=1;b=18446744073709551615";
    cr_assert_eq(b.len, strlen(want), "the NUL is not counted");
    cr_assert_str_eq(b.data, want);
    cr_assert_eq(buf_printf(&b, "%s", ""), 0);
    cr_assert_eq(b.len, strlen(want));
    buf_free(&b);
}

Test(buf, printf_of_long_text_grows_the_buffer)
{
    buf b = {0};
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cr_assert_eq(buf_printf(&b, "<%s>", big), 0);
    cr_assert_eq(b.len, sizeof big + 1);
    cr_assert_eq(b.data[0], '<');
    cr_assert_eq(b.data[b.len - 1], '>');
    cr_assert_eq(b.data[b.len], 0);
    buf_free(&b);
}

Test(buf, reset_keeps_storage_and_free_allows_reuse)
{
    buf b = {0};
    buf_append(&b, "data", 4);
    char *p = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    cr_assert_eq(buf_unread(&b), 0);
    cr_assert_eq(b.data, p);
    cr_assert_eq(b.cap, cap);
    buf_free(&b);
    cr_assert_eq(buf_append(&b, "again", 5), 0);
    cr_assert_eq(memcmp(buf_rpos(&b), "again", 5), 0);
    buf_free(&b);
}

Test(buf, wpos_and_room_allow_direct_writes)
{
    buf b = {0};
    cr_assert_eq(buf_reserve(&b, 16), 0);
    memcpy(buf_wpos(&b), "direct", 6);
    b.len += 6; /* as a read(2) into buf_wpos would */
    cr_assert_eq(memcmp(buf_rpos(&b), "direct", 6), 0);
    cr_assert_eq(buf_room(&b), b.cap - 6);
    buf_free(&b);
}

/* Decision 9: a hostile peer may announce an absurd size. Reserving it
 * must fail with VOLLEY_ENOMEM. Without the overflow check
 * `len - off + extra` wraps, so buf_reserve(SIZE_MAX) returned 0 with 253
 * bytes of room, and for extra > SIZE_MAX / 2 the doubling loop never ended. */
Test(buf, reserve_of_impossible_size_fails_cleanly)
{
    alarm(5); /* the wrapping loop hangs; Criterion's .timeout leaks under ASan */
    buf b = {0};
    buf_append(&b, "abc", 3);
    cr_assert_eq(buf_reserve(&b, SIZE_MAX), VOLLEY_ENOMEM);
    cr_assert_eq(buf_reserve(&b, SIZE_MAX - 2), VOLLEY_ENOMEM);
    cr_assert_eq(buf_reserve(&b, SIZE_MAX / 2 + 1), VOLLEY_ENOMEM);
    cr_assert_eq(buf_unread(&b), 3, "data kept");
    cr_assert_eq(memcmp(buf_rpos(&b), "abc", 3), 0);
    buf_free(&b);
}
