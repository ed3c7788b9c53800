/*
** util.h: helpers shared by the C modules: the fail tuple, option-table
** readers and signal names. Everything a module needs beyond the Lua API lives here or in loop.h.
*/
#ifndef REGSH_UTIL_H
#define REGSH_UTIL_H

#include <lua.h>
#include <lauxlib.h>

/* [-0, +3, m] push fail, "CODE: detail", "CODE"; returns 3 (luv's fail tuple) */
int regsh_fail(lua_State *L, const char *code, const char *fmt, ...);

/* Option-table readers for the table at index t. A missing or nil field gives
** the default; a field of the wrong type raises naming the field. */
const char *regsh_opt_string(lua_State *L, int t, const char *key,
                             const char *def, size_t *len);
lua_Number regsh_opt_number(lua_State *L, int t, const char *key, lua_Number def);
lua_Integer regsh_opt_integer(lua_State *L, int t, const char *key, lua_Integer def);
int regsh_opt_boolean(lua_State *L, int t, const char *key, int def);

/* [-0, +0, m] raise unless every key of table t is in the NULL-ended list:
** a misspelt option is a programming error, not something to ignore. */
void regsh_check_keys(lua_State *L, int t, const char *const keys[]);

/* "SIGTERM" -> SIGTERM, 0 for a name regsh does not know; and back (NULL) */
int regsh_signal_number(const char *name);
const char *regsh_signal_name(int sig);

#endif
