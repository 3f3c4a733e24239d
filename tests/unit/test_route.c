/* Tests for net/route (--resolve, --connect-to, --unix-socket, --proxy):
 * tables of inputs and where connections go. Only numeric addresses: no
 * DNS. */
#include "net/route.h"

#include <criterion/criterion.h>
#include <string.h>
#include <sys/un.h>

static url U(const char *s)
{
    url u;
    err e = {0};
    cr_assert_eq(addr_parse_url(s, "URL", &u, &e), 0, "%s", e.msg);
    return u;
}

static void where(const route_opts *o, const char *urlt, const char *want, const char *tunnel)
{
    addr a[ADDR_MAX];
    char tun[300], got[128];
    err e = {0};
    url u = U(urlt);
    int n = route_resolve(o, &u, "URL", a, ADDR_MAX, tun, sizeof tun, &e);
    cr_assert_geq(n, 1, "%s: %s", urlt, e.msg);
    addr_format(&a[0], got, sizeof got);
    cr_assert_str_eq(got, want, "%s", urlt);
    cr_assert_str_eq(tun, tunnel, "%s", urlt);
}

Test(route, resolve_maps_a_made_up_name_and_port)
{
    route_opts o = {0};
    err e = {0};
    cr_assert_eq(route_add_resolve(&o, "api.test:8080:127.0.0.2,[::1]", &e), 0, "%s", e.msg);
    where(&o, "http://api.test:8080/x", "127.0.0.2:8080", "");
    addr a[ADDR_MAX];
    url u = U("http://api.test:8080/");
    cr_assert_eq(route_resolve(&o, &u, "URL", a, ADDR_MAX, NULL, 0, &e), 2);
}

Test(route, connect_to_moves_name_and_port_then_resolve_applies)
{
    route_opts o = {0};
    err e = {0};
    cr_assert_eq(route_add_connect_to(&o, "api.test:443:backend.test:8443", &e), 0, "%s", e.msg);
    cr_assert_eq(route_add_resolve(&o, "backend.test:8443:127.0.0.3", &e), 0, "%s", e.msg);
    where(&o, "https://api.test/", "127.0.0.3:8443", "");
    /* empty parts: any host, keep the host */
    route_opts o2 = {0};
    cr_assert_eq(route_add_connect_to(&o2, ":80:127.0.0.4:", &e), 0, "%s", e.msg);
    where(&o2, "http://127.0.0.9/", "127.0.0.4:80", "");
    where(&o2, "http://127.0.0.9:81/", "127.0.0.9:81", "");
}

Test(route, unix_socket_wins_and_keeps_no_port)
{
    route_opts o = {0};
    err e = {0};
    cr_assert_eq(route_set_unix(&o, "/tmp/x.sock", &e), 0);
    where(&o, "https://api.test/", "unix:/tmp/x.sock", "");
}

Test(route, proxy_absolute_form_for_http_connect_for_https)
{
    route_opts o = {0};
    err e = {0};
    cr_assert_eq(route_set_proxy(&o, "127.0.0.1:3128", &e), 0, "%s", e.msg);
    where(&o, "http://api.test/a", "127.0.0.1:3128", "");
    where(&o, "https://api.test/a", "127.0.0.1:3128", "api.test:443");
    where(&o, "wss://[::1]:9/a", "127.0.0.1:3128", "[::1]:9");
    char abs[512];
    url u = U("http://api.test:81/a?b");
    cr_assert(route_absolute_form(&o, &u, abs, sizeof abs));
    cr_assert_str_eq(abs, "http://api.test:81/a?b");
    u = U("https://api.test/a");
    cr_assert(!route_absolute_form(&o, &u, abs, sizeof abs));
}

Test(route, bad_specs_name_the_flag)
{
    static const struct { int kind; const char *spec; } bad[] = {
        {0, "api.test:80"}, {0, "api.test:x:127.0.0.1"}, {0, "api.test:80:name.test"},
        {0, ":80:127.0.0.1"}, {1, "a:1:b"}, {1, "a:99999:b:1"}, {2, "https://127.0.0.1:1"},
        {2, "http://u:p@127.0.0.1:1"}, {3, ""},
    };
    static const char *const flag[] = {"--resolve", "--connect-to", "--proxy", "--unix-socket"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        route_opts o = {0};
        err e = {0};
        int rc = bad[i].kind == 0   ? route_add_resolve(&o, bad[i].spec, &e)
                 : bad[i].kind == 1 ? route_add_connect_to(&o, bad[i].spec, &e)
                 : bad[i].kind == 2 ? route_set_proxy(&o, bad[i].spec, &e)
                                    : route_set_unix(&o, bad[i].spec, &e);
        cr_assert_neq(rc, 0, "'%s' accepted", bad[i].spec);
        cr_assert(strstr(e.msg, flag[bad[i].kind]), "'%s': %s", bad[i].spec, e.msg);
    }
}
