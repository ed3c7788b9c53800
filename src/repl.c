/*
** repl.c: the interactive loop (lua.c's, with libedit when it was found at
** build time): an input line is first tried as `return <line>` so that
** expressions print their value; an incomplete chunk (a syntax error at
** <eof>) asks for more lines. Results print through regsh.repl's printer.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "host.h"

#define MAXINPUT 512

#ifdef REGSH_USE_LIBEDIT
#include <editline/readline.h>
static int readline_line (char *buf, size_t size, const char *prompt) {
  char *line = readline(prompt);
  if (line == NULL) return 0;
  snprintf(buf, size, "%s", line);
  if (*line) add_history(line);
  free(line);
  return 1;
}
#endif

static int plain_line (char *buf, size_t size, const char *prompt) {
  fputs(prompt, stdout);
  fflush(stdout);
  if (fgets(buf, (int)size, stdin) == NULL) return 0;
  buf[strcspn(buf, "\n")] = '\0';
  return 1;
}

/* [-0, +1, -] the line read, or nothing and 0 at end of input */
static int pushline (lua_State *L, int first) {
  char buf[MAXINPUT * 8];
  const char *prompt = first ? "> " : ">> ";
  int ok;
  if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") == LUA_TSTRING)
    prompt = lua_tostring(L, -1);
#ifdef REGSH_USE_LIBEDIT
  ok = isatty(0) ? readline_line(buf, sizeof(buf), prompt)
                 : plain_line(buf, sizeof(buf), prompt);
#else
  ok = plain_line(buf, sizeof(buf), prompt);
#endif
  lua_pop(L, 1);
  if (!ok) return 0;
  if (first && buf[0] == '=')  /* Lua 5.2 habit: '=x' prints x */
    lua_pushfstring(L, "return %s", buf + 1);
  else
    lua_pushstring(L, buf);
  return 1;
}

/* try `return <line>`; on success leave the chunk, else nothing */
static int addreturn (lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *retline = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
  if (status == LUA_OK) lua_remove(L, -2);
  else lua_pop(L, 2);
  return status;
}

/* a syntax error ending in <eof> means the chunk is not finished yet */
static int incomplete (lua_State *L, int status) {
  static const char eof[] = "<eof>";
  if (status == LUA_ERRSYNTAX) {
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    if (len >= sizeof(eof) - 1 &&
        strcmp(msg + len - (sizeof(eof) - 1), eof) == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

static int multiline (lua_State *L) {
  for (;;) {
    size_t len;
    const char *line = lua_tolstring(L, 1, &len);
    int status = luaL_loadbuffer(L, line, len, "=stdin");
    if (!incomplete(L, status) || !pushline(L, 0)) return status;
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
}

/* -1 at end of input, else the load status with the chunk or error on top */
static int loadline (lua_State *L) {
  int status;
  lua_settop(L, 0);
  if (!pushline(L, 1)) return -1;
  if ((status = addreturn(L)) != LUA_OK) status = multiline(L);
  lua_remove(L, 1);
  return status;
}

/* print the results through regsh.repl.print when there is one */
static void print_results (lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh.repl");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    lua_getfield(L, -1, "print");
    lua_remove(L, -2);
  }
  else {
    lua_pop(L, 1);
    lua_getglobal(L, "print");
  }
  lua_insert(L, 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK)
    regsh_report(L, LUA_ERRRUN);
}

void regsh_repl (lua_State *L) {
  int status;
  while ((status = loadline(L)) != -1) {
    if (status == LUA_OK) status = regsh_docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) print_results(L);
    else regsh_report(L, status);
  }
  lua_settop(L, 0);
  if (isatty(0)) fputs("\n", stdout);
  fflush(stdout);
}

int luaopen_regsh_core_repl(lua_State *L);

/* regsh.core.repl.run(): the same loop, for `regsh repl` */
static int repl_run (lua_State *L) {
  regsh_repl(L);
  return 0;
}

int luaopen_regsh_core_repl (lua_State *L) {
  static const luaL_Reg funcs[] = {{"run", repl_run}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
