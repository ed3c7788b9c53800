/*
** digest.c: regsh.core.digest, content digests with OpenSSL's libcrypto
** (SHA-256 and SHA-512, as OCI descriptors use them). Built as a shared
** object loaded on first require, like http.c, so start-up stays lean.
*/
#include <errno.h>
#include <stdio.h>

#include <lauxlib.h>
#include <openssl/evp.h>

#include "util.h"

#define HASHER_TYPE "regsh.digest.hasher"

typedef struct {
  EVP_MD_CTX *ctx;       /* NULL once finished or collected */
  const char *algorithm; /* "sha256" or "sha512" (static strings) */
} Hasher;

static const EVP_MD *checkalgorithm (lua_State *L, int idx, const char **name) {
  static const char *const names[] = {"sha256", "sha512", NULL};
  int which = luaL_checkoption(L, idx, "sha256", names);
  *name = names[which];
  return which == 0 ? EVP_sha256() : EVP_sha512();
}

/* [-0, +1, m] "algorithm:hex" of the finished context */
static void pushdigest (lua_State *L, EVP_MD_CTX *ctx, const char *name) {
  static const char hexdigits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  char hex[2 * EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  for (unsigned int i = 0; i < len; i++) {
    hex[2 * i] = hexdigits[md[i] >> 4];
    hex[2 * i + 1] = hexdigits[md[i] & 15];
  }
  lua_pushfstring(L, "%s:", name);
  lua_pushlstring(L, hex, 2 * len);
  lua_concat(L, 2);
}

static Hasher *checkhasher (lua_State *L) {
  Hasher *h = (Hasher *)luaL_checkudata(L, 1, HASHER_TYPE);
  if (h->ctx == NULL) luaL_error(L, "attempt to use a finished hasher");
  return h;
}

static void hasher_free (Hasher *h) {
  if (h->ctx) {
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
  }
}

static int hasher_gc (lua_State *L) {
  hasher_free((Hasher *)luaL_checkudata(L, 1, HASHER_TYPE));
  return 0;
}

/* hasher:update(data) -> hasher */
static int hasher_update (lua_State *L) {
  Hasher *h = checkhasher(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  EVP_DigestUpdate(h->ctx, data, len);
  lua_settop(L, 1);
  return 1;
}

/* hasher:digest() -> "sha256:<hex>"; the hasher is finished afterwards */
static int hasher_digest (lua_State *L) {
  Hasher *h = checkhasher(L);
  pushdigest(L, h->ctx, h->algorithm);
  hasher_free(h);
  return 1;
}

/* new([algorithm]) -> hasher, for data that arrives in pieces */
static int digest_new (lua_State *L) {
  const char *name;
  const EVP_MD *md = checkalgorithm(L, 1, &name);
  Hasher *h = (Hasher *)lua_newuserdatauv(L, sizeof(*h), 0);
  h->ctx = NULL;  /* born finished: consistent if what follows fails */
  h->algorithm = name;
  luaL_setmetatable(L, HASHER_TYPE);
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL || !EVP_DigestInit_ex(h->ctx, md, NULL))
    return luaL_error(L, "cannot initialise %s", name);
  return 1;
}

/* string(data [, algorithm]) -> "sha256:<hex>" */
static int digest_string (lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  lua_settop(L, 2);
  lua_pushcfunction(L, digest_new);
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);  /* stack: data, algorithm, hasher */
  {
    Hasher *h = (Hasher *)lua_touserdata(L, 3);
    EVP_DigestUpdate(h->ctx, data, len);
    pushdigest(L, h->ctx, h->algorithm);
    hasher_free(h);  /* now rather than at the next collection */
  }
  return 1;
}

/* file(path [, algorithm]) -> digest, size | fail */
static int digest_file (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char buf[65536];
  size_t n;
  lua_Integer size = 0;
  FILE *f;
  lua_settop(L, 2);
  lua_pushcfunction(L, digest_new);
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);  /* stack: path, algorithm, hasher */
  f = fopen(path, "rb");
  if (f == NULL) return regsh_fail_errno(L, errno, "%s", path);
  {
    Hasher *h = (Hasher *)lua_touserdata(L, 3);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
      EVP_DigestUpdate(h->ctx, buf, n);
      size += (lua_Integer)n;
    }
    if (ferror(f)) {
      int err = errno;
      fclose(f);
      return regsh_fail_errno(L, err, "%s", path);
    }
    fclose(f);
    pushdigest(L, h->ctx, h->algorithm);
    hasher_free(h);
    lua_pushinteger(L, size);
  }
  return 2;
}

static const luaL_Reg hasher_methods[] = {
  {"digest", hasher_digest},
  {"update", hasher_update},
  {NULL, NULL}
};

static const luaL_Reg digest_funcs[] = {
  {"file", digest_file},
  {"new", digest_new},
  {"string", digest_string},
  {NULL, NULL}
};

int luaopen_regsh_core_digest(lua_State *L);

int luaopen_regsh_core_digest (lua_State *L) {
  regsh_newclass(L, HASHER_TYPE, hasher_gc, NULL, hasher_methods, 0);
  lua_pop(L, 1);
  luaL_newlib(L, digest_funcs);
  return 1;
}
