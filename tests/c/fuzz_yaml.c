/*
** fuzz_yaml.c: libFuzzer harness for regsh.core.yaml. Any bytes must decode
** or fail (never crash); what decodes must encode (unless it holds what YAML
** cannot write) and that text must decode again. Not part of the CMake build:
**   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/c/fuzz_yaml.c \
**     src/yaml_decode.c src/yaml_encode.c src/util.c \
**     $(pkg-config --cflags --libs lua5.4 yaml-0.1 libuv) -o fuzz_yaml
**   ./fuzz_yaml -max_total_time=60 ../shared/testdata/acr-tasks
** Built with -DFUZZ_STANDALONE (no -fsanitize=fuzzer) it runs each file named
** on its command line once.
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
  lua_call(L, 3, 1);
  if (lua_isnil(L, -1)) return 0;  /* a failure tuple: fine */
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

#ifdef FUZZ_STANDALONE
int main (int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    char *buf;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) return 1;
    rewind(f);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    LLVMFuzzerTestOneInput((const unsigned char *)buf, (size_t)n);
    free(buf);
  }
  return 0;
}
#endif
