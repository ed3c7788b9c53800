/* proc.c: regsh.core.proc (being written). */
#include <lauxlib.h>
int luaopen_regsh_core_proc(lua_State *L);
int luaopen_regsh_core_proc (lua_State *L) {
  lua_newtable(L);
  return 1;
}
