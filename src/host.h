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
** or NULL when out of memory */
lua_State *regsh_host_new(void);
void regsh_host_close(lua_State *L);

/* [-(narg+1), +(nres|0), -] lua_pcall with a traceback handler; SIGINT
** interrupts the call (lua.c's docall) */
int regsh_docall(lua_State *L, int narg, int nres);
/* print the error on top of the stack as "regsh: msg" if status != LUA_OK */
int regsh_report(lua_State *L, int status);

/* the REPL of repl.c: read-eval-print on stdin until end of file */
void regsh_repl(lua_State *L);

#endif
