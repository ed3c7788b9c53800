/*
** lua_target.c: the libFuzzer harness of a Lua parser. One regsh Lua state
** (regsh_host_new: the embedded library, as the binary makes it) is built
** once; the driver FUZZ_DRIVER (tests/fuzz/<name>.lua) returns a function
** that is called with each input under a protected call. The driver raises
** when the parser breaks its contract, so any error out of it is a crash.
** libFuzzer sees only C coverage, and the Lua interpreter is not built with
** it: a line hook counts the Lua edges (previous line, this line) into
** libFuzzer's extra counters, so it can tell which inputs reach new Lua code.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "host.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libFuzzer reads this section as more coverage counters, after its own */
#define NCOUNTERS (1 << 16)
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t lua_edges[NCOUNTERS];
static uintptr_t previous_line;

/* an edge from the previous line run to this one: a chunk's source string
** lives as long as its function, so its address names the chunk */
static void line_hook (lua_State *L, lua_Debug *ar) {
  if (!lua_getinfo(L, "S", ar)) return;
  uintptr_t here = (uintptr_t)ar->source * 2654435761u + (uintptr_t)ar->currentline;
  here ^= here >> 15;
  uint8_t *counter = &lua_edges[(here ^ previous_line) % NCOUNTERS];
  if (*counter < 255) (*counter)++;
  previous_line = here >> 1;
}

static lua_State *L;
static int driver;   /* registry reference of the driver's function */

static void die (const char *what) {
  fprintf(stderr, "fuzz %s: %s\n", FUZZ_DRIVER, what);
  fflush(stderr);
  abort();
}

int LLVMFuzzerInitialize (int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* digest.so and friends: the build tree's, wherever the target runs */
  setenv("REGSH_LIBDIR", FUZZ_LIBDIR, 0);
  L = regsh_host_new(1);
  if (L == NULL) die("cannot make a Lua state");
  /* the drivers share tests/fuzz/contract.lua */
  lua_getglobal(L, "package");
  lua_pushliteral(L, FUZZ_DIR "/?.lua;");
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  if (luaL_loadfile(L, FUZZ_DRIVER) != LUA_OK || regsh_docall(L, 0, 1) != LUA_OK)
    die(lua_tostring(L, -1));
  if (lua_type(L, -1) != LUA_TFUNCTION) die("the driver must return a function");
  driver = luaL_ref(L, LUA_REGISTRYINDEX);
  /* coroutines made from here on inherit it (lua_newthread copies hooks) */
  lua_sethook(L, line_hook, LUA_MASKLINE, 0);
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  previous_line = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, driver);
  lua_pushlstring(L, (const char *)data, size);
  if (regsh_docall(L, 1, 0) != LUA_OK) die(lua_tostring(L, -1));
  /* what the input made is garbage now: freed before the next input, so
  ** libFuzzer's malloc/free balance (its leak check) sees no growth */
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
