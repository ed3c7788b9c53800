/*
** util.c: the fail tuple, option-table readers and signal names used by
** every C module.
*/
#include <signal.h>
#include <stdarg.h>
#include <string.h>

#include "util.h"

int regsh_fail (lua_State *L, const char *code, const char *fmt, ...) {
  va_list ap;
  luaL_pushfail(L);
  lua_pushstring(L, code);
  lua_pushliteral(L, ": ");
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 3);
  lua_pushstring(L, code);
  return 3;
}

static int optfield (lua_State *L, int t, const char *key, int type,
                     const char *tname) {
  int got = lua_getfield(L, t, key);
  if (got == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (got != type && !(type == LUA_TNUMBER && got == LUA_TSTRING &&
                       lua_isnumber(L, -1)))
    luaL_error(L, "option '%s' must be a %s, got %s", key, tname,
               luaL_typename(L, -1));
  return 1;
}

const char *regsh_opt_string (lua_State *L, int t, const char *key,
                              const char *def, size_t *len) {
  const char *s;
  if (!optfield(L, t, key, LUA_TSTRING, "string")) {
    if (len) *len = def ? strlen(def) : 0;
    return def;
  }
  /* the string stays alive: it is referenced by the table at t */
  s = lua_tolstring(L, -1, len);
  lua_pop(L, 1);
  return s;
}

lua_Number regsh_opt_number (lua_State *L, int t, const char *key,
                             lua_Number def) {
  lua_Number n;
  if (!optfield(L, t, key, LUA_TNUMBER, "number")) return def;
  n = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return n;
}

lua_Integer regsh_opt_integer (lua_State *L, int t, const char *key,
                               lua_Integer def) {
  int isint;
  lua_Integer n;
  if (!optfield(L, t, key, LUA_TNUMBER, "number")) return def;
  n = lua_tointegerx(L, -1, &isint);
  if (!isint) luaL_error(L, "option '%s' must be an integer", key);
  lua_pop(L, 1);
  return n;
}

int regsh_opt_boolean (lua_State *L, int t, const char *key, int def) {
  int b;
  if (!optfield(L, t, key, LUA_TBOOLEAN, "boolean")) return def;
  b = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return b;
}

void regsh_check_keys (lua_State *L, int t, const char *const keys[]) {
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int known = 0;
    lua_pop(L, 1);  /* stack: key */
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; keys[i] && !known; i++) known = strcmp(keys[i], k) == 0;
      if (!known) luaL_error(L, "unknown option '%s'", k);
    }
    else luaL_error(L, "option names must be strings");
  }
}


/* the one table of signal names: proc.c's kill() and results, loop.c's
** watchers */
static const struct { const char *name; int num; } signal_names[] = {
  {"SIGABRT", SIGABRT}, {"SIGALRM", SIGALRM}, {"SIGBUS", SIGBUS},
  {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT}, {"SIGFPE", SIGFPE},
  {"SIGHUP", SIGHUP}, {"SIGILL", SIGILL}, {"SIGINT", SIGINT},
  {"SIGKILL", SIGKILL}, {"SIGPIPE", SIGPIPE}, {"SIGQUIT", SIGQUIT},
  {"SIGSEGV", SIGSEGV}, {"SIGSTOP", SIGSTOP}, {"SIGTERM", SIGTERM},
  {"SIGTSTP", SIGTSTP}, {"SIGTTIN", SIGTTIN}, {"SIGTTOU", SIGTTOU},
  {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGWINCH", SIGWINCH},
  {NULL, 0}
};

int regsh_signal_number (const char *name) {
  for (int i = 0; signal_names[i].name; i++)
    if (strcmp(signal_names[i].name, name) == 0) return signal_names[i].num;
  return 0;
}

const char *regsh_signal_name (int sig) {
  for (int i = 0; signal_names[i].name; i++)
    if (signal_names[i].num == sig) return signal_names[i].name;
  return NULL;
}
