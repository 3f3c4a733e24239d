/* lua_util: the script API's utilities (docs/scripting.md): encoding.*
 * (base64 in k6's four variants, URL encoding), crypto.* (md5, sha1,
 * sha256, sha512, any OpenSSL digest by name, HMAC), uuid(), rand() (a
 * per-VU stream seeded from --seed, so data-driven runs are reproducible),
 * now() (monotonic ms) and wallclock() (ms since the epoch). */
#ifndef VOLLEY_LUA_UTIL_H
#define VOLLEY_LUA_UTIL_H

#include <lua.h>

/* Sets the globals encoding, crypto, uuid, rand, now and wallclock. */
void lua_util_install(lua_State *L);

#endif
