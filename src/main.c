/*
** main.c: the regsh command line. It reads like lua.c (script [args], -e,
** -l, -i, -v, -, --) so regsh can stand in for lua5.4, busted included; a
** first argument naming a subcommand goes to lua/regsh/cli/<name>.lua.
** Exit status: 0 success, 1 runtime error, 2 usage error, 128+signal when
** SIGINT or SIGTERM interrupted the run (130, 143), as a shell reports it.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "config.h"
#include "host.h"
#include "trace.h"

#define EXIT_USAGE 2

static const char *progname = "regsh";

/* the exit status of a failed run: 130 or 143 when the interrupt ended it */
static int failure_status (lua_State *L) {
  int sig = regsh_interrupted(L);
  return sig ? 128 + sig : EXIT_FAILURE;
}

static void print_usage (const char *badoption) {
  if (badoption) {
    if (badoption[1] == 'e' || badoption[1] == 'l')
      fprintf(stderr, "%s: '%s' needs an argument\n", progname, badoption);
    else
      fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badoption);
  }
  fprintf(badoption ? stderr : stdout,
    "usage: %s [options] [script [args]]\n"
    "       %s COMMAND [args]      (regsh help lists the commands)\n"
    "Available options are:\n"
    "  -e stat   execute string 'stat'\n"
    "  -i        enter interactive mode after executing 'script'\n"
    "  -l mod    require library 'mod' into global 'mod'\n"
    "  -l g=mod  require library 'mod' into global 'g'\n"
    "  -v        show version information\n"
    "  -E        ignore environment variables (LUA_INIT, LUA_PATH...)\n"
    "  -W        turn warnings on\n"
    "  --help    show this help\n"
    "  --        stop handling options\n"
    "  -         stop handling options and execute stdin\n",
    progname, progname);
}

/* status of a chunk run: report the error, keep the status */
static int dochunk (lua_State *L, int status) {
  if (status == LUA_OK) status = regsh_docall(L, 0, 0);
  return regsh_report(L, status);
}

static int dostring (lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l g=mod: global g = require "mod" */
static int dolibrary (lua_State *L, char *spec) {
  int status;
  char *eq = strchr(spec, '=');
  const char *global = spec;
  if (eq) {
    *eq = '\0';
    spec = eq + 1;
  }
  lua_getglobal(L, "require");
  lua_pushstring(L, spec);
  status = regsh_docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, global);
  return regsh_report(L, status);
}

/* the global 'arg' as lua.c makes it: script at 0, options below, args above */
static void createargtable (lua_State *L, char **argv, int argc, int script) {
  if (script == argc) script = 0;  /* no script: the program name goes at 0 */
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int pushargs (lua_State *L) {
  int n;
  if (lua_getglobal(L, "arg") != LUA_TTABLE)
    luaL_error(L, "'arg' is not a table");
  n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -n - 1);
  return n;
}

static int runscript (lua_State *L, const char *fname) {
  int status, n;
  if (strcmp(fname, "-") == 0) fname = NULL;  /* stdin */
  status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    n = pushargs(L);
    status = regsh_docall(L, n, LUA_MULTRET);
  }
  return regsh_report(L, status);
}

/* After the main chunk: let tasks it spawned run to their end (only when the
** scheduler was loaded at all, so `regsh -e ''` stays a bare Lua start-up).
** Returns the status with the error on the stack, unreported. */
static int finish_tasks (lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) != LUA_TTABLE ||
      lua_getfield(L, -1, "regsh.async") != LUA_TTABLE) {
    lua_pop(L, 2);
    return LUA_OK;
  }
  lua_getfield(L, -1, "finish");
  lua_remove(L, -2);
  lua_remove(L, -2);
  return regsh_docall(L, 0, 0);
}

#define has_error  1  /* bad option */
#define has_i      2
#define has_v      4
#define has_e      8
#define has_E     16
#define has_help  32

/* lua.c's collectargs: returns flags; *first is the script's index (or argc) */
static int collectargs (char **argv, int *first) {
  int args = 0;
  int i;
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args;  /* the script */
    switch (argv[i][1]) {
      case '-':
        if (strcmp(argv[i], "--help") == 0) { args |= has_help; break; }
        if (strcmp(argv[i], "--version") == 0) { args |= has_v; break; }
        if (argv[i][2] != '\0') return has_error;
        *first = i + 1;
        return args;
      case '\0':
        return args;  /* '-': stdin is the script */
      case 'E':
        if (argv[i][2] != '\0') return has_error;
        args |= has_E;
        break;
      case 'W':
        if (argv[i][2] != '\0') return has_error;
        break;
      case 'i':
        args |= has_i;  /* -i implies -v, as in lua.c */
        /* FALLTHROUGH */
      case 'v':
        if (argv[i][2] != '\0') return has_error;
        args |= has_v;
        break;
      case 'e':
        args |= has_e;
        /* FALLTHROUGH */
      case 'l':
        if (argv[i][2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-') return has_error;
        }
        break;
      default:
        return has_error;
    }
  }
  *first = i;
  return args;
}

/* run -e and -l in order, and -W */
static int runargs (lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    int option = argv[i][1];
    if (argv[i][0] != '-' || option == '-') continue;
    switch (option) {
      case 'e':
      case 'l': {
        char *extra = argv[i] + 2;
        int status;
        if (*extra == '\0') extra = argv[++i];
        status = option == 'e' ? dostring(L, extra, "=(command line)")
                               : dolibrary(L, extra);
        if (status != LUA_OK) return 0;
        break;
      }
      case 'W':
        lua_warning(L, "@on", 0);
        break;
    }
  }
  return 1;
}

static int handle_luainit (lua_State *L) {
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dochunk(L, luaL_loadfile(L, init + 1));
  return dostring(L, init, name);
}

/* [-0, +0, e] global 'regsh' = require "regsh", the facade scripts use */
static int openfacade (lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh");
  lua_call(L, 1, 1);
  lua_setglobal(L, "regsh");
  return 0;
}

static void print_version (lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh.version");
  if (regsh_report(L, regsh_docall(L, 1, 1)) != LUA_OK) return;
  lua_getfield(L, -1, "describe");
  if (regsh_report(L, regsh_docall(L, 0, 1)) == LUA_OK) {
    fprintf(stdout, "%s\n", lua_tostring(L, -1));
    fflush(stdout);
  }
  lua_settop(L, 0);
}

/*
** A subcommand's error: an interrupt is one line (a user who pressed Ctrl-C
** wants no traceback), anything else the message and its traceback.
*/
static int command_failed (lua_State *L, const char *command, int status) {
  int sig = regsh_interrupted(L);
  if (sig == 0) {
    regsh_report(L, status);
    return EXIT_FAILURE;
  }
  lua_pop(L, 1);
  fprintf(stderr, "%s %s: %s\n", progname, command,
          sig == SIGTERM ? "terminated" : "interrupted");
  fflush(stderr);
  return 128 + sig;
}

/*
** regsh COMMAND args: lua/regsh/cli/init.lua decides whether the first word
** is a command; returns -1 when it is not, else the command's exit status.
*/
static int dispatch (lua_State *L, int argc, char **argv) {
  int status, failed;
  if (argc < 2 || argv[1][0] == '-' || strchr(argv[1], '/') ||
      strchr(argv[1], '.'))
    return -1;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh.cli");
  status = regsh_docall(L, 1, 1);
  if (regsh_report(L, status) != LUA_OK) return EXIT_FAILURE;
  lua_getfield(L, -1, "is_command");
  lua_pushstring(L, argv[1]);
  lua_call(L, 1, 1);
  if (!lua_toboolean(L, -1)) {
    lua_settop(L, 0);
    return -1;
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc - 1, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  status = regsh_docall(L, 1, 1);
  if (status != LUA_OK) return command_failed(L, argv[1], status);
  status = (int)luaL_optinteger(L, -1, 0);
  lua_settop(L, 0);
  if ((failed = finish_tasks(L)) != LUA_OK) {
    failed = command_failed(L, argv[1], failed);
    if (status == 0 || failed > EXIT_FAILURE) status = failed;
  }
  return status;
}

/* The REPL (src/repl.c, a shared object with libedit, loaded only when
** needed): its status, with the error on the stack when reading failed. */
static int dorepl (lua_State *L) {
  int status;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh.core.repl");
  if ((status = regsh_docall(L, 1, 1)) != LUA_OK) return status;
  lua_getfield(L, -1, "main");
  lua_remove(L, -2);
  if ((status = regsh_docall(L, 0, 2)) != LUA_OK) return status;
  if (lua_toboolean(L, -2)) {
    lua_pop(L, 2);
    return LUA_OK;
  }
  lua_remove(L, -2);
  return LUA_ERRRUN;
}

/* the whole program, under a protected call: returns the exit status */
static int pmain (lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script = argc;
  int args, status;
  luaL_checkversion(L);
  openfacade(L);
  status = dispatch(L, argc, argv);
  if (status >= 0) {
    lua_pushinteger(L, status);
    return 1;
  }
  args = collectargs(argv, &script);
  if (args == has_error) {
    print_usage(argv[script]);
    lua_pushinteger(L, EXIT_USAGE);
    return 1;
  }
  if (args & has_help) {
    print_usage(NULL);
    lua_pushinteger(L, EXIT_SUCCESS);
    return 1;
  }
  if (args & has_v) print_version(L);
  if (args & has_E) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  createargtable(L, argv, argc, script);
  lua_gc(L, LUA_GCGEN, 0, 0);  /* generational mode, as lua.c */
  if (!(args & has_E) && handle_luainit(L) != LUA_OK) goto failed;
  if (!runargs(L, argv, script)) goto failed;
  if (script < argc && runscript(L, argv[script]) != LUA_OK) goto failed;
  if (regsh_report(L, finish_tasks(L)) != LUA_OK) goto failed;
  if (args & has_i) {
    if (regsh_report(L, dorepl(L)) != LUA_OK) goto failed;
    if (regsh_report(L, finish_tasks(L)) != LUA_OK) goto failed;
  }
  else if (script == argc && !(args & (has_e | has_v))) {
    if (isatty(0)) {
      if (regsh_report(L, dorepl(L)) != LUA_OK) goto failed;
    }
    else if (runscript(L, "-") != LUA_OK) goto failed;
    if (regsh_report(L, finish_tasks(L)) != LUA_OK) goto failed;
  }
  lua_pushinteger(L, EXIT_SUCCESS);
  return 1;
failed:
  lua_pushinteger(L, failure_status(L));
  return 1;
}

int main (int argc, char **argv) {
  int script = argc;
  int status;
  lua_State *L;
  regsh_trace_start();
  regsh_trace_enter();
  /* -E must be known before the libraries open: package reads LUA_PATH then */
  L = regsh_host_new(collectargs(argv, &script) & has_E);
  regsh_trace_leave("state", "the Lua state and its preloads");
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", argv[0]);
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = regsh_docall(L, 2, 1);
  if (regsh_report(L, status) == LUA_OK) status = (int)lua_tointeger(L, -1);
  else status = EXIT_FAILURE;
  regsh_trace_report(L);
  regsh_host_close(L);
  if (regsh_flush_stdout() != 0 && status == EXIT_SUCCESS) status = EXIT_FAILURE;
  return status;
}
