/*
** proc_options.c: what regsh.core.proc's spawn(argv, opts) asks for, read and
** checked into a SpawnOptions (proc_options.h): argv or a shell line, the
** environment, the output modes, durations. Only Lua values here; proc.c
** acquires the pipes and the child with what this returns.
*/
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "proc_options.h"
#include "util.h"

#define DEFAULT_MAX_OUTPUT (16 * 1024 * 1024)
#define DEFAULT_GRACE 2.0

extern char **environ;  /* POSIX has it, but no header declares it */

/* [-0, +0, v] a string of the argv table at idx, anchored in table anchor */
static const char *argstring (lua_State *L, int idx, lua_Integer i, int anchor) {
  size_t len;
  const char *s;
  lua_rawgeti(L, idx, i);
  if (!lua_isstring(L, -1))
    luaL_error(L, "argv[%d] must be a string, got %s", (int)i,
               luaL_typename(L, -1));
  s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len) luaL_error(L, "argv[%d] contains a zero byte", (int)i);
  lua_rawseti(L, anchor, (lua_Integer)luaL_len(L, anchor) + 1);
  return s;
}

/* [-0, +0, v] the length of the argv table: a non-empty list of strings */
static lua_Integer checkargv (lua_State *L, int idx) {
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_Integer i = lua_tointeger(L, -2);
    if (!lua_isinteger(L, -2) || i < 1)
      luaL_error(L, "argv must be a list of strings (found key '%s')",
                 luaL_tolstring(L, -2, NULL));
    count++;
    if (i > max) max = i;
    lua_pop(L, 1);
  }
  if (count != max) luaL_error(L, "argv must be a list without holes");
  if (count == 0) luaL_error(L, "argv must not be empty");
  return count;
}

/* [-0, +1, m] a NULL-ended char * array (a userdata) for uv_spawn: argv as
** given, or /bin/sh -c argv[1] with the rest as $1... when shell is set */
static void pushargs (lua_State *L, int argv, int shell, int anchor) {
  lua_Integer n = checkargv(L, argv);
  lua_Integer extra = shell ? 2 + (n > 1) : 0;
  const char **args =
    (const char **)lua_newuserdatauv(L, (size_t)(n + extra + 1) * sizeof(char *), 0);
  int k = 0;
  if (shell) {
    args[k++] = "/bin/sh";
    args[k++] = "-c";
  }
  for (lua_Integer i = 1; i <= n; i++) {
    args[k++] = argstring(L, argv, i, anchor);
    if (shell && i == 1 && n > 1) args[k++] = "sh";  /* $0 of the script */
  }
  args[k] = NULL;
}

/* [-0, +1, v] "NAME=value" anchored for variable name, unless value is false */
static const char *envstring (lua_State *L, int anchor) {
  /* stack: ..., name, value */
  const char *name, *value;
  size_t len;
  if (lua_type(L, -2) != LUA_TSTRING)
    luaL_error(L, "env names must be strings, got %s", luaL_typename(L, -2));
  name = lua_tolstring(L, -2, &len);
  if (len == 0 || strchr(name, '=') || strlen(name) != len)
    luaL_error(L, "bad env name '%s'", name);
  if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) return NULL;
  if (!lua_isstring(L, -1))
    luaL_error(L, "env value of '%s' must be a string or false, got %s", name,
               luaL_typename(L, -1));
  value = lua_tolstring(L, -1, &len);
  if (strlen(value) != len)
    luaL_error(L, "env value of '%s' contains a zero byte", name);
  lua_pushfstring(L, "%s=%s", name, value);
  value = lua_tostring(L, -1);
  lua_rawseti(L, anchor, (lua_Integer)luaL_len(L, anchor) + 1);
  return value;
}

/* [-0, +1, v] the environment for uv_spawn (NULL-ended char * array), or
** nil to inherit ours: env replaces it, or with merge is laid over it */
static void pushenv (lua_State *L, int opts, int anchor) {
  int env, merge;
  size_t n = 0, count = 0;
  const char **vars;
  merge = regsh_opt_boolean(L, opts, "env_merge", 0);
  if (lua_getfield(L, opts, "env") == LUA_TNIL) return;  /* leaves the nil */
  if (!lua_istable(L, -1))
    luaL_error(L, "option 'env' must be a table, got %s", luaL_typename(L, -1));
  env = lua_gettop(L);
  if (merge) while (environ[count]) count++;
  lua_pushnil(L);
  while (lua_next(L, env)) {
    count++;
    lua_pop(L, 1);
  }
  vars = (const char **)lua_newuserdatauv(L, (count + 1) * sizeof(char *), 0);
  /* stack: env, vars */
  for (size_t i = 0; merge && environ[i]; i++) {
    const char *eq = strchr(environ[i], '=');
    if (eq == NULL) continue;
    lua_pushlstring(L, environ[i], (size_t)(eq - environ[i]));
    if (lua_rawget(L, env) == LUA_TNIL) vars[n++] = environ[i];
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, env)) {
    const char *s = envstring(L, anchor);
    if (s) vars[n++] = s;
    lua_pop(L, 1);
  }
  vars[n] = NULL;
  lua_remove(L, env);
}

/* an output mode option; MODE_LINES when a callback asks for lines */
static int checkmode (lua_State *L, int opts, const char *key,
                      const char *callback, int allow_stdout) {
  static const char *const names[] = {"capture", "inherit", "null", "stdout", NULL};
  static const int modes[] = {MODE_CAPTURE, MODE_INHERIT, MODE_NULL, MODE_STDOUT};
  const char *name = regsh_opt_string(L, opts, key, NULL, NULL);
  int mode = MODE_CAPTURE, type = lua_getfield(L, opts, callback);
  lua_pop(L, 1);
  if (type != LUA_TNIL && type != LUA_TFUNCTION)
    luaL_error(L, "option '%s' must be a function, got %s", callback,
               lua_typename(L, type));
  if (name) {
    int i = 0;
    while (names[i] && strcmp(names[i], name) != 0) i++;
    if (names[i] == NULL || (modes[i] == MODE_STDOUT && !allow_stdout))
      luaL_error(L, "option '%s' must be 'capture', 'inherit' or 'null'%s, "
                 "got '%s'", key, allow_stdout ? " or 'stdout'" : "", name);
    mode = modes[i];
  }
  if (type == LUA_TFUNCTION) {
    if (mode != MODE_CAPTURE)
      luaL_error(L, "option '%s' needs %s = 'capture' (the default), got '%s'",
                 callback, key, name);
    mode = MODE_LINES;
  }
  return mode;
}

static uint64_t checkseconds (lua_State *L, int opts, const char *key,
                              lua_Number def, int allow_zero) {
  lua_Number secs = regsh_opt_number(L, opts, key, def);
  uint64_t ms;
  if (!(secs >= 0 && secs < 1e9) || (secs == 0 && !allow_zero))
    luaL_error(L, "option '%s' must be a %s number of seconds", key,
               allow_zero ? "non-negative" : "positive");
  ms = (uint64_t)(secs * 1000.0 + 0.5);
  return ms == 0 && secs > 0 ? 1 : ms;  /* a tiny timeout is still one */
}

/* the keys are checked first: a misspelt option raises before its
** neighbours' values are judged */
void proc_read_spawn_options (lua_State *L, SpawnOptions *o) {
  static const char *const keys[] = {
    "cwd", "detached", "env", "env_merge", "grace", "max_output", "on_stderr",
    "on_stdout", "shell", "stderr", "stdin", "stdout", "timeout", NULL
  };
  lua_Integer max_output;
  int shell;
  regsh_check_keys(L, 2, keys);
  shell = regsh_opt_boolean(L, 2, "shell", 0);
  o->detached = regsh_opt_boolean(L, 2, "detached", 0);
  o->cwd = regsh_opt_string(L, 2, "cwd", NULL, NULL);
  o->input = regsh_opt_string(L, 2, "stdin", NULL, &o->input_len);
  o->out_mode = checkmode(L, 2, "stdout", "on_stdout", 0);
  o->err_mode = checkmode(L, 2, "stderr", "on_stderr", 1);
  o->timeout_ms = lua_getfield(L, 2, "timeout") == LUA_TNIL ? 0
                  : checkseconds(L, 2, "timeout", 0, 0);
  lua_pop(L, 1);
  o->grace_ms = checkseconds(L, 2, "grace", DEFAULT_GRACE, 1);
  max_output = regsh_opt_integer(L, 2, "max_output", DEFAULT_MAX_OUTPUT);
  if (max_output < 0) luaL_error(L, "option 'max_output' must not be negative");
  o->max_output = (size_t)max_output;
  lua_newtable(L);                   /* 3: anchors the strings below */
  pushargs(L, 1, shell, 3);          /* 4: args */
  pushenv(L, 2, 3);                  /* 5: env or nil */
  o->args = (char **)lua_touserdata(L, 4);
  o->env = (char **)lua_touserdata(L, 5);
}
