/* http.c: regsh.core.http (being written). */
#include <lauxlib.h>
#include <curl/curl.h>
int luaopen_regsh_core_http(lua_State *L);
int luaopen_regsh_core_http (lua_State *L) {
  lua_newtable(L);
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  return 1;
}
