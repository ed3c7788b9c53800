/*
** util.h: helpers shared by the C modules: fail tuples (errno ones too),
** option-table readers, class (metatable) creation, closing libuv handles,
** a growable byte buffer and signal names. A new module should need nothing
** beyond the Lua API, this file and loop.h.
*/
#ifndef REGSH_UTIL_H
#define REGSH_UTIL_H

#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>

/* [-0, +3, m] push fail, "CODE: detail", "CODE"; returns 3 (luv's fail tuple) */
int regsh_fail(lua_State *L, const char *code, const char *fmt, ...);

/* [-0, +3, m] the fail tuple of a system error: err is an errno value (or a
** negative libuv error); the code is its name as libuv spells it ("ENOENT",
** "EMFILE"; "EIO" for one libuv has no name for) and the message is
** "CODE: detail: reason" */
int regsh_fail_errno(lua_State *L, int err, const char *fmt, ...);
/* the code regsh_fail_errno gives err (a static string) */
const char *regsh_errno_code(int err);
/* errno_name(n) -> "ENOENT": the same code for Lua, which gets errno
** numbers from io.open (regsh.core.host.errno_name) */
int regsh_errno_name(lua_State *L);

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

/* [-0, +0, v] raise unless the string s has no CR, LF or NUL: a value that
** goes into a header line must not be able to start another one */
void regsh_check_header_text(lua_State *L, const char *header, const char *s,
                             size_t len);

/*
** [-0, +1, m] the metatable of a userdata class: gc as both __gc and
** __close (one idempotent function, as liolib does), other metamethods from
** meta (may be NULL), an __index table of methods (none when NULL) and, with
** REGSH_CLASS_OP, the marker loop.cancel/loop.active look for
** (REGSH_OP_MARKER). Made once: a later call just pushes it.
*/
#define REGSH_CLASS_OP   1
#define REGSH_OP_MARKER  "__regsh_op"
void regsh_newclass(lua_State *L, const char *name, lua_CFunction gc,
                    const luaL_Reg *meta, const luaL_Reg *methods, int flags);

/* Close a malloc'd libuv handle (any uv_*_t, or a struct that starts with
** one) and free it in the close callback, which touches nothing else: its
** owner may be gone by then. NULL and handles already closing are ignored. */
void regsh_close_handle(void *handle);

/* A growable byte buffer in plain C (no Lua), for libuv and curl callbacks.
** Zero-initialise it; the functions return 0 when out of memory. */
typedef struct regsh_buffer {
  char *data;
  size_t len, cap;
} regsh_buffer;

/* room for n more bytes, growing by doubling */
int regsh_buffer_reserve(regsh_buffer *b, size_t n);
int regsh_buffer_append(regsh_buffer *b, const void *data, size_t n);
/* capacity exactly cap (at least len): one allocation for a known size */
int regsh_buffer_resize(regsh_buffer *b, size_t cap);
void regsh_buffer_free(regsh_buffer *b);

/* "SIGTERM" -> SIGTERM, 0 for a name regsh does not know; and back (NULL) */
int regsh_signal_number(const char *name);
const char *regsh_signal_name(int sig);

#endif
