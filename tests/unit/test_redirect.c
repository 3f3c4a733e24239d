/* Tests for proto/redirect: which statuses are followed, the next hop's
 * method (and whether its body goes along), and the Location resolved
 * against the request's URL, as tables. */
#include "proto/redirect.h"

#include <criterion/criterion.h>
#include <string.h>

Test(redirect, location_resolved_against_the_base)
{
    static const char *const t[][3] = {
        {"http://h:1/a/b?q", "http://o/x#f", "http://o/x"},
        {"http://h:1/a/b?q", "//o:2/y", "http://o:2/y"},
        {"https://h/a/b?q", "/c?d", "https://h/c?d"},
        {"http://h/a/b?q", "c", "http://h/a/c"},
        {"http://h", "c", "http://h/c"},
        {"http://h/a/", "../c", "http://h/a/../c"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char out[256];
        cr_assert_eq(redirect_resolve(t[i][0], t[i][1], out, sizeof out), 0);
        cr_assert_str_eq(out, t[i][2], "%s + %s", t[i][0], t[i][1]);
    }
    char small[8];
    cr_assert_eq(redirect_resolve("http://h/", "/long/path", small, sizeof small), -1);
}

Test(redirect, method_of_the_next_hop)
{
    static const struct { int st; const char *m, *want; bool body; } t[] = {
        {301, "GET", "GET", true},   {301, "POST", "GET", false}, {302, "POST", "GET", false},
        {302, "PUT", "PUT", true},   {303, "PUT", "GET", false},  {303, "HEAD", "HEAD", false},
        {307, "POST", "POST", true}, {308, "PATCH", "PATCH", true},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char out[32];
        bool keep;
        redirect_method(t[i].st, t[i].m, out, &keep);
        cr_assert_str_eq(out, t[i].want, "%d %s", t[i].st, t[i].m);
        cr_assert_eq(keep, t[i].body, "%d %s", t[i].st, t[i].m);
    }
    cr_assert(redirect_status(308) && !redirect_status(304) && !redirect_status(300));
}
