/* lua_util: the utility part of the script API (see lua_util.h): encoding
 * (base64, URL), crypto digests and HMAC through OpenSSL, uuid(), a
 * per-VU random stream seeded from --seed, and time (now(), wallclock()).
 * A leaf of the script layer: it calls only lua_args and lua_vu fields. */
#include "script/lua_util.h"

#include "core/clock.h"
#include "script/lua_args.h"
#include "script/lua_worker.h"

#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

/* ---- random: one xorshift64* stream per VU, seeded from the run's seed
 * and the VU id, so a data-driven run is reproducible with --seed ---- */

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t next_u64(lua_State *L)
{
    lua_vu *vu = lua_vu_of(L);
    static _Thread_local uint64_t top; /* outside a VU: the thread's own stream */
    uint64_t *s = vu ? &vu->rng : &top;
    if (!*s) {
        uint64_t seed = vu && vu->w ? lua_worker_context(vu->w)->plan->seed : (uint64_t)clock_now_ns();
        *s = splitmix(seed ^ splitmix(vu ? vu->id : 0)) | 1;
    }
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* rand() in [0, 1); rand(n) in 1..n; rand(m, n) in m..n (math.random's). */
static int l_rand(lua_State *L)
{
    double u = (double)(next_u64(L) >> 11) / 9007199254740992.0;
    int n = lua_gettop(L);
    if (n == 0) {
        lua_pushnumber(L, u);
        return 1;
    }
    lua_Integer lo = n == 1 ? 1 : luaL_checkinteger(L, 1);
    lua_Integer hi = luaL_checkinteger(L, n == 1 ? 1 : 2);
    luaL_argcheck(L, lo <= hi, n, "interval is empty");
    lua_pushinteger(L, lo + (lua_Integer)(u * (double)(hi - lo + 1)));
    return 1;
}

/* uuid(): an RFC 9562 version 4 UUID from the VU's stream. */
static int l_uuid(lua_State *L)
{
    uint8_t b[16];
    uint64_t a = next_u64(L), c = next_u64(L);
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char s[37];
    snprintf(s, sizeof s,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    lua_pushstring(L, s);
    return 1;
}

/* ---- time ---- */

/* now(): monotonic milliseconds (with fraction), for measuring steps. */
static int l_now_ms(lua_State *L)
{
    lua_pushnumber(L, (double)clock_now_ns() / 1e6);
    return 1;
}

/* wallclock(): milliseconds since the Unix epoch (with fraction). */
static int l_wallclock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
    return 1;
}

/* ---- encoding ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* k6's variants: "std" (default), "rawstd" (no padding), "url", "rawurl". */
static void b64_variant(lua_State *L, int arg, const char **alpha, bool *pad)
{
    const char *v = luaL_optstring(L, arg, "std");
    *alpha = strstr(v, "url") ? B64URL : B64;
    *pad = strncmp(v, "raw", 3) != 0;
    if (strcmp(v, "std") && strcmp(v, "rawstd") && strcmp(v, "url") && strcmp(v, "rawurl"))
        luaL_argerror(L, arg, "encoding must be std, rawstd, url or rawurl");
}

static int l_b64encode(lua_State *L)
{
    size_t n;
    const unsigned char *in = (const unsigned char *)luaL_checklstring(L, 1, &n);
    const char *alpha;
    bool pad;
    b64_variant(L, 2, &alpha, &pad);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        luaL_addchar(&b, alpha[v >> 18 & 63]);
        luaL_addchar(&b, alpha[v >> 12 & 63]);
        if (i + 1 < n)
            luaL_addchar(&b, alpha[v >> 6 & 63]);
        else if (pad)
            luaL_addchar(&b, '=');
        if (i + 2 < n)
            luaL_addchar(&b, alpha[v & 63]);
        else if (pad)
            luaL_addchar(&b, '=');
    }
    luaL_pushresult(&b);
    return 1;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Any variant decodes (padding optional); a bad character is an error. */
static int l_b64decode(lua_State *L)
{
    size_t n;
    const char *in = luaL_checklstring(L, 1, &n);
    while (n && in[n - 1] == '=')
        n--;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return luaL_error(L, "encoding.b64decode: '%c' at byte %d is not base64", in[i],
                              (int)i + 1);
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            luaL_addchar(&b, (char)(acc >> bits & 0xff));
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* RFC 3986: unreserved characters as they are, the rest %XX. */
static int l_urlencode(lua_State *L)
{
    size_t n;
    const unsigned char *in = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            luaL_addchar(&b, (char)c);
        } else {
            char esc[4];
            snprintf(esc, sizeof esc, "%%%02X", c);
            luaL_addlstring(&b, esc, 3);
        }
    }
    luaL_pushresult(&b);
    return 1;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* %XX decoded and '+' as a space (form encoding); a bad escape is an error. */
static int l_urldecode(lua_State *L)
{
    size_t n;
    const char *in = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '%') {
            int h = i + 2 < n ? hexval(in[i + 1]) : -1, l = h >= 0 ? hexval(in[i + 2]) : -1;
            if (l < 0)
                return luaL_error(L, "encoding.urldecode: bad %%-escape at byte %d", (int)i + 1);
            luaL_addchar(&b, (char)(h << 4 | l));
            i += 2;
        } else {
            luaL_addchar(&b, in[i] == '+' ? ' ' : in[i]);
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* ---- crypto ---- */

static const EVP_MD *digest_named(lua_State *L, const char *name)
{
    const EVP_MD *md = EVP_get_digestbyname(name);
    if (!md)
        luaL_error(L, "crypto: unknown algorithm '%s' (md5, sha1, sha256, sha384, sha512)", name);
    return md;
}

/* The digest as "hex" (default), "base64" or "binary". */
static int push_digest(lua_State *L, const unsigned char *d, unsigned n, const char *enc)
{
    if (!strcmp(enc, "binary")) {
        lua_pushlstring(L, (const char *)d, n);
        return 1;
    }
    if (!strcmp(enc, "base64")) {
        lua_pushcfunction(L, l_b64encode);
        lua_pushlstring(L, (const char *)d, n);
        lua_call(L, 1, 1);
        return 1;
    }
    if (strcmp(enc, "hex"))
        return luaL_error(L, "crypto: output must be hex, base64 or binary");
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    lua_pushlstring(L, hex, 2 * n);
    return 1;
}

/* crypto.hash(alg, data[, enc]); crypto.sha256(data[, enc]) and friends. */
static int hash_with(lua_State *L, const char *alg, int data_arg)
{
    size_t n;
    const char *data = luaL_checklstring(L, data_arg, &n);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    if (!EVP_Digest(data, n, d, &dn, digest_named(L, alg), NULL))
        return luaL_error(L, "crypto: %s failed", alg);
    return push_digest(L, d, dn, luaL_optstring(L, data_arg + 1, "hex"));
}

static int l_hash(lua_State *L) { return hash_with(L, luaL_checkstring(L, 1), 2); }
static int l_md5(lua_State *L) { return hash_with(L, "md5", 1); }
static int l_sha1(lua_State *L) { return hash_with(L, "sha1", 1); }
static int l_sha256(lua_State *L) { return hash_with(L, "sha256", 1); }
static int l_sha512(lua_State *L) { return hash_with(L, "sha512", 1); }

/* crypto.hmac(alg, secret, data[, enc]) */
static int l_hmac(lua_State *L)
{
    const EVP_MD *md = digest_named(L, luaL_checkstring(L, 1));
    size_t kn, dn;
    const char *key = luaL_checklstring(L, 2, &kn);
    const unsigned char *data = (const unsigned char *)luaL_checklstring(L, 3, &dn);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!HMAC(md, key, (int)kn, data, dn, d, &n))
        return luaL_error(L, "crypto.hmac failed");
    return push_digest(L, d, n, luaL_optstring(L, 4, "hex"));
}

void lua_util_install(lua_State *L)
{
    static const luaL_Reg encoding[] = {{"b64encode", l_b64encode}, {"b64decode", l_b64decode},
                                        {"urlencode", l_urlencode}, {"urldecode", l_urldecode},
                                        {NULL, NULL}};
    static const luaL_Reg crypto[] = {{"hash", l_hash},     {"md5", l_md5},
                                      {"sha1", l_sha1},     {"sha256", l_sha256},
                                      {"sha512", l_sha512}, {"hmac", l_hmac},
                                      {NULL, NULL}};
    luaL_newlib(L, encoding);
    lua_setglobal(L, "encoding");
    luaL_newlib(L, crypto);
    lua_setglobal(L, "crypto");
    lua_register(L, "uuid", l_uuid);
    lua_register(L, "rand", l_rand);
    lua_register(L, "now", l_now_ms);
    lua_register(L, "wallclock", l_wallclock);
}
