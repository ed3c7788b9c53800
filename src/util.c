/*
** util.c: what every C module shares (see util.h): fail tuples, option
** readers, classes, libuv handle closing, byte buffers, signal names. luv's
** util.c and constants.c play this part there.
*/
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "util.h"

/* [-0, +3, m] fail, "CODE: detail[: reason]", "CODE" */
static int pushfail (lua_State *L, const char *code, const char *reason,
                     const char *fmt, va_list ap) {
  luaL_pushfail(L);
  lua_pushstring(L, code);
  lua_pushliteral(L, ": ");
  lua_pushvfstring(L, fmt, ap);
  if (reason) lua_pushfstring(L, ": %s", reason);
  lua_concat(L, reason ? 4 : 3);
  lua_pushstring(L, code);
  return 3;
}

int regsh_fail (lua_State *L, const char *code, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = pushfail(L, code, NULL, fmt, ap);
  va_end(ap);
  return n;
}

const char *regsh_errno_code (int err) {
  char name[64];
  int uverr = uv_translate_sys_error(err);  /* a libuv error stays as it is */
  /* uv_err_name leaks a string for a code it does not know: ask _r first */
  uv_err_name_r(uverr, name, sizeof(name));
  if (strncmp(name, "Unknown", 7) == 0) return "EIO";
  return uv_err_name(uverr);
}

int regsh_fail_errno (lua_State *L, int err, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = pushfail(L, regsh_errno_code(err),
               uv_strerror(uv_translate_sys_error(err)), fmt, ap);
  va_end(ap);
  return n;
}

int regsh_errno_name (lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n > 0 && n < 1000, 1, "not an errno value");
  lua_pushstring(L, regsh_errno_code((int)n));
  return 1;
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

void regsh_check_header_text (lua_State *L, const char *header, const char *s,
                              size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
      luaL_error(L, "header '%s' has a line break or NUL in its value", header);
}


/*
** {===============================================
** Classes and libuv handles
** =======================================================
*/

void regsh_newclass (lua_State *L, const char *name, lua_CFunction gc,
                     const luaL_Reg *meta, const luaL_Reg *methods, int flags) {
  if (!luaL_newmetatable(L, name)) return;  /* made already */
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
  }
  if (meta) luaL_setfuncs(L, meta, 0);
  if (methods) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
  }
  if (flags & REGSH_CLASS_OP) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, REGSH_OP_MARKER);
  }
}

static void free_handle (uv_handle_t *h) {
  free(h);
}

void regsh_close_handle (void *handle) {
  uv_handle_t *h = (uv_handle_t *)handle;
  if (h && !uv_is_closing(h)) uv_close(h, free_handle);
}

/* }====================================================== */


/*
** {======================================================
** Byte buffers
** =======================================================
*/

#define BUFFER_MIN 256

int regsh_buffer_resize (regsh_buffer *b, size_t cap) {
  char *p;
  if (cap < b->len) return 0;
  if (cap == b->cap) return 1;
  p = (char *)realloc(b->data, cap ? cap : 1);
  if (p == NULL) return 0;
  b->data = p;
  b->cap = cap;
  return 1;
}

int regsh_buffer_reserve (regsh_buffer *b, size_t n) {
  size_t cap = b->cap ? b->cap : BUFFER_MIN;
  if (b->cap - b->len >= n) return 1;
  while (cap - b->len < n) {
    if (cap > ((size_t)-1) / 2) return 0;
    cap *= 2;
  }
  return regsh_buffer_resize(b, cap);
}

int regsh_buffer_append (regsh_buffer *b, const void *data, size_t n) {
  if (!regsh_buffer_reserve(b, n)) return 0;
  if (n) memcpy(b->data + b->len, data, n);
  b->len += n;
  return 1;
}

void regsh_buffer_free (regsh_buffer *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* }====================================================== */

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
