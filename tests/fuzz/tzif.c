/*
** tzif.c: libFuzzer target of the TZif reader (src/cron_zone.c: the file's
** tables and its footer's POSIX TZ rule). The input is a zone file: written
** as "Fuzz" in a private TZDIR, then used through regsh.core.cron in a bare
** Lua state, as a schedule with that zone uses it. parse must return a cron
** or nil, "ECRON: ..."; offset, next and prev must never raise, and next(t)
** > t, prev(next(t)) <= t for instants before, inside and past the table.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

int luaopen_regsh_core_cron(lua_State *L);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char zone_dir[64], zone_file[512];

static void remove_zone_dir (void) {
  remove(zone_file);
  remove(zone_dir);
}

/* fixed-time (cronie's DST rules), wildcard, and a rare day */
static const char *const exprs[] = {"30 2 * * *", "*/20 * * * *", "0 0 29 2 *"};
static const int64_t instants[] = {
  -2208988800LL, 0, 1000000000LL, 1700000000LL, 4102444800LL, 32503680000LL,
};

int LLVMFuzzerInitialize (int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  strcpy(zone_dir, "/tmp/regsh-fuzz-tzif-XXXXXX");
  if (mkdtemp(zone_dir) == NULL) abort();
  setenv("TZDIR", zone_dir, 1);
  snprintf(zone_file, sizeof(zone_file), "%s/Fuzz", zone_dir);
  atexit(remove_zone_dir);
  return 0;
}

static void die (lua_State *L, const char *what) {
  fprintf(stderr, "tzif: %s (%s)\n", what, lua_tostring(L, -1));
  abort();
}

static int64_t call_time (lua_State *L, const char *method, int64_t t) {
  lua_getfield(L, -1, method);
  lua_pushvalue(L, -2);
  lua_pushinteger(L, (lua_Integer)t);
  lua_call(L, 2, 2);
  int64_t out = INT64_MIN;
  if (lua_isinteger(L, -2)) out = (int64_t)lua_tointeger(L, -2);
  else if (!lua_isnil(L, -2) || lua_tostring(L, -1) == NULL
           || strncmp(lua_tostring(L, -1), "ECRON: ", 7) != 0)
    die(L, method);
  lua_pop(L, 2);
  return out;
}

static int one_input (lua_State *L) {
  luaL_requiref(L, "regsh.core.cron", luaopen_regsh_core_cron, 0);
  for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
    lua_getfield(L, 1, "parse");
    lua_pushstring(L, exprs[e]);
    lua_newtable(L);
    lua_pushliteral(L, "Fuzz");
    lua_setfield(L, -2, "tz");
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2)) {
      const char *err = lua_tostring(L, -1);
      if (err == NULL || strncmp(err, "ECRON: ", 7) != 0) die(L, "parse failed oddly");
      return 0;
    }
    lua_pop(L, 1);                        /* [module, cron] */
    for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
      int64_t t = instants[i];
      lua_getfield(L, -1, "offset");
      lua_pushvalue(L, -2);
      lua_pushinteger(L, (lua_Integer)t);
      lua_call(L, 2, 1);
      if (!lua_isinteger(L, -1)) die(L, "offset");
      lua_pop(L, 1);
      int64_t next = call_time(L, "next", t);
      if (next != INT64_MIN && next <= t) die(L, "next(t) <= t");
      if (next != INT64_MIN) {
        int64_t back = call_time(L, "prev", next);
        if (back == INT64_MIN || back > t) die(L, "prev(next(t)) > t");
      }
    }
    lua_pop(L, 1);
  }
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  FILE *f = fopen(zone_file, "wb");
  if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
  lua_State *L = luaL_newstate();
  if (L == NULL) return 0;
  lua_pushcfunction(L, one_input);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_close(L);
  return 0;
}
