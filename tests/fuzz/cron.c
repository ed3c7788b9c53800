/*
** cron.c: libFuzzer target of regsh.core.cron (src/cron.c, cron_zone.c), in a
** bare Lua state per input. Byte 0 picks the dialect and a time zone, bytes
** 1-8 an instant, the rest is the expression. parse must return a cron or
** nil, "ECRON: ..."; next, prev, fields and offset must never raise, and
** next(t) > t, prev(t) < t, next(prev(t)) >= t, prev(next(t)) <= t.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

int luaopen_regsh_core_cron(lua_State *L);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MIN_TIME (-62135596800LL)       /* years 1 to 9999, as cron.c takes */
#define MAX_TIME 253402300799LL

/* zones with DST (north and south), half hours, a 30-minute DST, none */
static const char *const zones[] = {
  NULL, "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
  "Asia/Kolkata", "Pacific/Chatham", "America/Sao_Paulo",
};

static void die (lua_State *L, const char *what) {
  fprintf(stderr, "cron: %s (%s)\n", what, lua_tostring(L, -1));
  abort();
}

/* c:method(t) with a fail tuple allowed: the time, or INT64_MIN for "never" */
static int64_t call_time (lua_State *L, const char *method, int64_t t) {
  lua_getfield(L, 1, method);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, (lua_Integer)t);
  lua_call(L, 2, 3);
  int64_t out = INT64_MIN;
  if (lua_isinteger(L, -3)) out = (int64_t)lua_tointeger(L, -3);
  else if (!lua_isnil(L, -3) || lua_tostring(L, -2) == NULL
           || strncmp(lua_tostring(L, -2), "ECRON: ", 7) != 0)
    die(L, method);
  lua_pop(L, 3);
  return out;
}

static int in_range (int64_t t) { return t >= MIN_TIME && t <= MAX_TIME; }

/* [data] -> []: raises only when a method raised (a bug) */
static int one_input (lua_State *L) {
  size_t size;
  const unsigned char *data = (const unsigned char *)lua_tolstring(L, 1, &size);
  if (size < 9) return 0;
  uint64_t raw = 0;
  for (int i = 1; i <= 8; i++) raw = raw << 8 | data[i];
  int64_t t = MIN_TIME + (int64_t)(raw % (uint64_t)(MAX_TIME - MIN_TIME));
  lua_settop(L, 0);
  luaL_requiref(L, "regsh.core.cron", luaopen_regsh_core_cron, 0);
  lua_getfield(L, -1, "parse");
  lua_pushlstring(L, (const char *)data + 9, size - 9);
  lua_newtable(L);
  lua_pushstring(L, data[0] & 1 ? "acr" : "vixie");
  lua_setfield(L, -2, "dialect");
  const char *zone = zones[(data[0] >> 1) % (sizeof(zones) / sizeof(zones[0]))];
  if (zone) {
    lua_pushstring(L, zone);
    lua_setfield(L, -2, "tz");
  }
  lua_call(L, 2, 2);
  if (lua_isnil(L, -2)) {
    const char *err = lua_tostring(L, -1);
    if (err == NULL || strncmp(err, "ECRON: ", 7) != 0) die(L, "parse failed oddly");
    return 0;
  }
  lua_pop(L, 1);
  lua_replace(L, 1);                      /* [cron, module] */
  lua_settop(L, 1);
  int64_t next = call_time(L, "next", t), prev = call_time(L, "prev", t);
  if (next != INT64_MIN && next <= t) die(L, "next(t) <= t");
  if (prev != INT64_MIN && prev >= t) die(L, "prev(t) >= t");
  if (next != INT64_MIN && in_range(next)) {
    int64_t back = call_time(L, "prev", next);
    if (back == INT64_MIN || back > t) die(L, "prev(next(t)) > t");
  }
  if (prev != INT64_MIN && in_range(prev)) {
    int64_t again = call_time(L, "next", prev);
    if (again == INT64_MIN || again < t) die(L, "next(prev(t)) < t");
  }
  lua_getfield(L, 1, "fields");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  lua_getfield(L, 1, "offset");
  lua_pushvalue(L, 1);
  lua_pushinteger(L, (lua_Integer)t);
  lua_call(L, 2, 1);
  luaL_tolstring(L, 1, NULL);
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return 0;
  lua_pushcfunction(L, one_input);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_close(L);
  return 0;
}
