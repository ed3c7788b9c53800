/*
** yaml.c: libFuzzer target of regsh.core.yaml (src/yaml_decode.c and
** yaml_encode.c), in a bare Lua state per input. Any bytes must decode or
** fail (never crash, never raise); what decodes must encode (unless it holds
** what YAML cannot write) and that text must decode again.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

int luaopen_regsh_core_yaml(lua_State *L);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* [yaml] -> [yaml]: decode_all, then encode and decode_all again */
static int one_input (lua_State *L) {
  size_t size;
  const char *data = lua_tolstring(L, 1, &size);
  lua_getfield(L, 2, "decode_all");
  lua_pushlstring(L, data, size);
  lua_pushliteral(L, "fuzz");
  lua_newtable(L);  /* an array marker, as regsh.yaml passes */
  lua_call(L, 3, 3);
  if (lua_isnil(L, -3)) {  /* a failure tuple: fine when it is EYAML's */
    const char *err = lua_tostring(L, -2), *code = lua_tostring(L, -1);
    if (err == NULL || code == NULL || strcmp(code, "EYAML") != 0
        || strncmp(err, "EYAML: fuzz:", 12) != 0) {
      fprintf(stderr, "bad failure: %s, %s\n", err ? err : "(none)", code ? code : "(none)");
      abort();
    }
    return 0;
  }
  lua_pop(L, 2);
  lua_getfield(L, 2, "encode");
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return 0;  /* e.g. a table key */
  lua_getfield(L, 2, "decode_all");
  lua_insert(L, -2);
  lua_call(L, 1, 2);
  if (lua_isnil(L, -2)) {
    fprintf(stderr, "encoded text does not decode: %s\n", lua_tostring(L, -1));
    abort();
  }
  return 0;
}

int LLVMFuzzerTestOneInput (const unsigned char *data, size_t size) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return 0;
  lua_pushcfunction(L, one_input);
  lua_pushlstring(L, (const char *)data, size);
  luaL_requiref(L, "regsh.core.yaml", luaopen_regsh_core_yaml, 0);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    /* only memory errors may raise out of decode */
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL || strcmp(msg, "not enough memory") != 0) {
      fprintf(stderr, "raised: %s\n", msg ? msg : "(not a string)");
      abort();
    }
  }
  lua_close(L);
  return 0;
}
