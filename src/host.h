/*
** host.h: the embedding API that main.c and repl.c use: make a Lua state with
** regsh's modules preloaded, run chunks under a traceback handler, report.
*/
#ifndef REGSH_HOST_H
#define REGSH_HOST_H

#include <stddef.h>
#include <lua.h>

/* one file of lua/ compiled into the binary (embedded_lua.c, generated) */
typedef struct {
  const char *name;       /* module name: "regsh.registry.client" */
  const char *chunkname;  /* "@lua/regsh/registry/client.lua" */
  const char *data;
  size_t size;
} regsh_embedded;

extern const regsh_embedded regsh_embedded_modules[];

/* a new state with the standard libraries, the C modules and lua/ preloaded,
** or NULL when out of memory; ignore_env: LUA_PATH and LUA_CPATH are not
** read (-E) */
lua_State *regsh_host_new(int ignore_env);
void regsh_host_close(lua_State *L);

/* [-(narg+1), +(nres|0), -] lua_pcall with a traceback handler (lua.c's
** docall); SIGINT and SIGTERM interrupt it (see loop.c) */
int regsh_docall(lua_State *L, int narg, int nres);
/* after a failed regsh_docall: SIGINT or SIGTERM if the error was the
** interrupt they raised, else 0 */
int regsh_interrupted(lua_State *L);
/* print the error on top of the stack as "regsh: msg" if status != LUA_OK */
int regsh_report(lua_State *L, int status);

/* flush and close stdout; on a write error print one line and return -1
** (a full disk must not pass for success) */
int regsh_flush_stdout(void);

/* the REPL of repl.c: read-eval-print on stdin until end of file. Returns
** LUA_OK, or an error status with the error on the stack when reading failed
** (SIGTERM at the prompt) */
int regsh_repl(lua_State *L);

#endif
