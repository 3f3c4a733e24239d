/* Tests for net/addr: URL parsing (schemes, default ports, IPv6 brackets,
 * Host header form, paths), rejection of malformed URLs with the flag named,
 * and numeric host:port resolution, formatting and loopback detection.
 * Only numeric addresses: unit tests must not depend on DNS. */
#include "net/addr.h"

#include <criterion/criterion.h>
#include <string.h>

static url parse_ok(const char *s)
{
    url u;
    err e = {0};
    cr_assert_eq(addr_parse_url(s, "URL", &u, &e), 0, "'%s': %s", s, e.msg);
    return u;
}

Test(addr, url_with_port_path_and_query)
{
    url u = parse_ok("http://127.0.0.1:8080/x?y");
    cr_assert_str_eq(u.scheme, "http");
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 8080);
    cr_assert_str_eq(u.hostport, "127.0.0.1:8080");
    cr_assert_str_eq(u.path, "/x?y");
    cr_assert(!u.tls);
}

Test(addr, https_defaults_to_port_443_with_tls)
{
    url u = parse_ok("https://example.com/api");
    cr_assert_eq(u.port, 443);
    cr_assert(u.tls);
    cr_assert_str_eq(u.hostport, "example.com");
    cr_assert_str_eq(u.path, "/api");
}

Test(addr, websocket_schemes_have_http_defaults)
{
    url u = parse_ok("ws://h/chat");
    cr_assert_eq(u.port, 80);
    cr_assert(!u.tls);
    u = parse_ok("wss://h/chat");
    cr_assert_eq(u.port, 443);
    cr_assert(u.tls);
}

Test(addr, ipv6_host_in_brackets)
{
    url u = parse_ok("http://[::1]:9000/x");
    cr_assert_str_eq(u.host, "::1", "brackets are not part of the host");
    cr_assert_eq(u.port, 9000);
    cr_assert_str_eq(u.hostport, "[::1]:9000");
    u = parse_ok("http://[2001:db8::7]/");
    cr_assert_eq(u.port, 80);
    cr_assert_str_eq(u.hostport, "[2001:db8::7]", "brackets kept in the Host header");
}

Test(addr, host_header_omits_only_the_default_port)
{
    cr_assert_str_eq(parse_ok("http://h:80/").hostport, "h");
    cr_assert_str_eq(parse_ok("https://h:443/").hostport, "h");
    cr_assert_str_eq(parse_ok("https://h:80/").hostport, "h:80");
    cr_assert_str_eq(parse_ok("http://h:443/").hostport, "h:443");
    cr_assert_str_eq(parse_ok("http://h:8080/").hostport, "h:8080");
}

Test(addr, path_defaults_to_slash_and_drops_the_fragment)
{
    cr_assert_str_eq(parse_ok("http://h").path, "/");
    cr_assert_str_eq(parse_ok("http://h:81").path, "/");
    cr_assert_str_eq(parse_ok("http://h?q=1").path, "/?q=1");
    cr_assert_str_eq(parse_ok("http://h/p#frag").path, "/p");
    cr_assert_str_eq(parse_ok("http://h#frag").path, "/");
    cr_assert_str_eq(parse_ok("http://h/a/b/?c=d&e=f").path, "/a/b/?c=d&e=f");
}

Test(addr, scheme_is_case_insensitive)
{
    url u = parse_ok("HTTPS://h/");
    cr_assert_str_eq(u.scheme, "https");
    cr_assert(u.tls);
}

static void assert_url_rejected(const char *s, const char *why)
{
    url u;
    err e = {0};
    int rc = addr_parse_url(s, "--endpoint", &u, &e);
    cr_assert_lt(rc, 0, "'%s' accepted (%s)", s, why);
    cr_assert_eq(e.code, rc);
    cr_assert_neq(strstr(e.msg, "--endpoint"), NULL, "'%s': '%s' lacks the flag", s, e.msg);
}

Test(addr, malformed_urls_are_rejected_naming_the_flag)
{
    assert_url_rejected("", "empty");
    assert_url_rejected("127.0.0.1:8080/x", "no scheme");
    assert_url_rejected("http:/h/", "one slash");
    assert_url_rejected("http:///x", "missing host");
    assert_url_rejected("http://", "missing host at end");
    assert_url_rejected("http://:8080/", "port without host");
    assert_url_rejected("http://h:99999/", "port too big");
    assert_url_rejected("http://h:65536/", "port just too big");
    assert_url_rejected("http://h:0/", "port 0");
    assert_url_rejected("http://h:/", "empty port");
    assert_url_rejected("http://h:8o/", "letter in port");
    assert_url_rejected("http://h:-1/", "negative port");
    assert_url_rejected("ftp://h/", "unknown scheme");
    assert_url_rejected("httpsx://h/", "long unknown scheme");
    assert_url_rejected("gopher://h/", "scheme longer than the field");
    assert_url_rejected("http://[::1/", "unclosed bracket");
    assert_url_rejected("http://[::1]x/", "text after bracket");
    assert_url_rejected("http://::1/", "IPv6 without brackets");
    assert_url_rejected("http://user:%zz@h/", "bad escape in userinfo");
    assert_url_rejected("http://h/a b", "space in path");
    assert_url_rejected("http://h/a\tb", "tab in path");
    assert_url_rejected("http://h/a\r\nX: y", "CRLF in path");
    assert_url_rejected("http://h:80 /", "space after port");
}

/* The host goes into the Host header and to getaddrinfo verbatim, so a
 * space or CR/LF there would inject header text. */
Test(addr, spaces_and_control_characters_in_host_are_rejected)
{
    assert_url_rejected("http://exa mple.com/", "space in host");
    assert_url_rejected("http://h\r\nX-Injected/", "CRLF in host");
    assert_url_rejected("http://[::1 ]/", "space inside brackets");
}

Test(addr, port_65535_is_the_largest_accepted)
{
    cr_assert_eq(parse_ok("http://h:65535/").port, 65535);
    cr_assert_eq(parse_ok("http://h:1/").port, 1);
}

Test(addr, too_long_host_or_path_is_an_error_not_an_overflow)
{
    char s[6000];
    strcpy(s, "http://");
    memset(s + 7, 'a', 400);
    strcpy(s + 407, "/");
    assert_url_rejected(s, "host longer than 255");
    strcpy(s, "http://h/");
    memset(s + 9, 'p', 5000);
    s[5009] = 0;
    assert_url_rejected(s, "path longer than 4 KiB");
}

static addr hostport_ok(const char *s)
{
    addr a;
    err e = {0};
    cr_assert_eq(addr_parse_hostport(s, "--listen", &a, &e), 0, "'%s': %s", s, e.msg);
    return a;
}

Test(addr, numeric_hostport_resolves_and_formats_back)
{
    char out[64];
    addr a = hostport_ok("127.0.0.1:8080");
    cr_assert_eq(addr_port(&a), 8080);
    addr_format(&a, out, sizeof out);
    cr_assert_str_eq(out, "127.0.0.1:8080");
    a = hostport_ok("[::1]:9000");
    cr_assert_eq(addr_port(&a), 9000);
    addr_format(&a, out, sizeof out);
    cr_assert_str_eq(out, "[::1]:9000");
}

Test(addr, malformed_hostport_is_rejected_naming_the_flag)
{
    static const char *bad[] = {"127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:70000",
                                "[::1]", "[::1", "::1:80", "1.2.3.4:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        addr a;
        err e = {0};
        cr_assert_lt(addr_parse_hostport(bad[i], "--listen", &a, &e), 0, "'%s'", bad[i]);
        cr_assert_neq(strstr(e.msg, "--listen"), NULL, "'%s': %s", bad[i], e.msg);
    }
}

Test(addr, loopback_detection)
{
    static const struct {
        const char *hp;
        bool loop;
    } cases[] = {
        {"127.0.0.1:1", true},         {"127.9.8.7:1", true},
        {"[::1]:1", true},             {"[::ffff:127.0.0.1]:1", true},
        {"10.0.0.1:1", false},         {"128.0.0.1:1", false},
        {"[::ffff:10.0.0.1]:1", false}, {"[2001:db8::1]:1", false},
        {"0.0.0.0:1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        addr a = hostport_ok(cases[i].hp);
        cr_assert_eq(addr_is_loopback(&a), cases[i].loop, "%s", cases[i].hp);
    }
}

Test(addr, resolve_of_a_numeric_url_gives_its_port)
{
    url u = parse_ok("http://127.0.0.1:8081/");
    addr a;
    err e = {0};
    cr_assert_eq(addr_resolve(&u, "URL", &a, &e), 0, "%s", e.msg);
    cr_assert_eq(addr_port(&a), 8081);
    cr_assert(addr_is_loopback(&a));
}

/* user:password@ is Basic auth (RFC 7617), percent-escapes decoded. */
Test(addr, userinfo_is_basic_auth)
{
    url u;
    err e = {0};
    cr_assert_eq(addr_parse_url("http://Aladdin:open%20sesame@h:81/x", "URL", &u, &e), 0, "%s", e.msg);
    cr_assert_str_eq(u.host, "h");
    cr_assert_eq(u.port, 81);
    cr_assert_str_eq(u.path, "/x");
    cr_assert_str_eq(u.userinfo, "Aladdin:open sesame");
    char b[64];
    cr_assert(addr_basic_auth(&u, b, sizeof b));
    cr_assert_str_eq(b, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    cr_assert_eq(addr_parse_url("http://h/", "URL", &u, &e), 0);
    cr_assert_not(addr_basic_auth(&u, b, sizeof b));
}
