/*
** host.c: creates the Lua state regsh runs in. Preloads the C modules (the
** HTTP and digest ones are shared objects loaded on first require) and
** every lua/ file compiled into the binary, or points package.path at
** $REGSH_LUA_PATH instead. Runs chunks under a traceback handler. Signals
** are not handled here: the state's loop (loop.c) owns them for the whole run.
*/
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>

#include "config.h"
#include "host.h"
#include "loop.h"
#include "trace.h"
#include "util.h"

int luaopen_cjson_safe(lua_State *L);  /* in liblua5.4-cjson, not in its header */
int luaopen_regsh_core_cron(lua_State *L);
int luaopen_regsh_core_fs(lua_State *L);
int luaopen_regsh_core_proc(lua_State *L);

/* message handler: a traceback under the message, __tostring for objects */
static int msghandler (lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int regsh_docall (lua_State *L, int narg, int nres) {
  int status;
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  regsh_loop_raised(regsh_loop_of(L), 1);  /* forget one caught earlier */
  status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

int regsh_interrupted (lua_State *L) {
  return regsh_loop_raised(regsh_loop_of(L), 0);
}

int regsh_report (lua_State *L, int status) {
  if (status != LUA_OK) {
    /* the message handler made it a string; errors raised outside a
    ** handled call (while loading) may still be other values */
    const char *msg = luaL_tolstring(L, -1, NULL);
    fprintf(stderr, "regsh: %s\n", msg);
    fflush(stderr);
    lua_pop(L, 2);
  }
  return status;
}


/*
** {======================================================
** Module loading
** =======================================================
*/

/* the loader of an embedded file: upvalue 1 is its index. lua/ files are
** bytecode (src/embedlua.c), policies/ files source */
static int embedded_loader (lua_State *L) {
  const regsh_embedded *m =
    &regsh_embedded_modules[lua_tointeger(L, lua_upvalueindex(1))];
  if (luaL_loadbufferx(L, m->data, m->size, m->chunkname, "bt") != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);  /* errors propagate to require's caller */
  return 1;
}

/* Where the shared-object modules are: next to the binary in a build tree
** (lib/regsh/), or in the install's libdir. $REGSH_LIBDIR comes first. */
static int dir_of_executable (char *buf, size_t size) {
  ssize_t n = readlink("/proc/self/exe", buf, size - 1);
  char *slash;
  if (n <= 0) return 0;
  buf[n] = '\0';
  slash = strrchr(buf, '/');
  if (slash == NULL) return 0;
  *slash = '\0';
  return 1;
}

#define MODULE_DIRS  4
#define MODULE_DIR_SIZE  (PATH_MAX + 32)

/* the directories a shared-object module may be in, in the order they are
** tried; returns how many */
static int module_dirs (char dirs[MODULE_DIRS][MODULE_DIR_SIZE]) {
  char exedir[PATH_MAX];
  const char *env = getenv("REGSH_LIBDIR");
  int n = 0;
  if (env && *env) snprintf(dirs[n++], MODULE_DIR_SIZE, "%s", env);
  if (dir_of_executable(exedir, sizeof(exedir))) {
    snprintf(dirs[n++], MODULE_DIR_SIZE, "%s/lib/regsh", exedir);
    snprintf(dirs[n++], MODULE_DIR_SIZE, "%s/../lib/regsh", exedir);
  }
  snprintf(dirs[n++], MODULE_DIR_SIZE, "%s", REGSH_INSTALL_LIBDIR);
  return n;
}

/* Lazy binding: the libraries' symbols are bound when first called, not all
** at load (libcurl's ~40 libraries hold ~12,000 relocations; those not
** linked -z now, nghttp2 and a few more, bind ~2,000 of them this way). */
#define MODULE_DLOPEN_MODE  (RTLD_LAZY | RTLD_LOCAL)

/*
** package.preload entry of a module built as a shared object (upvalue 1:
** its file name without .so). Modules that link heavy libraries (libcurl,
** libcrypto) are kept out of the executable so that start-up does not pay
** for loading them; they link back to the executable's exported API.
*/
static int shared_loader (lua_State *L) {
  const char *file = lua_tostring(L, lua_upvalueindex(1));
  const char *modname = luaL_checkstring(L, 1);
  char dirs[MODULE_DIRS][MODULE_DIR_SIZE], path[MODULE_DIR_SIZE + 64], symbol[128];
  int n = module_dirs(dirs);
  luaL_Buffer tried;
  snprintf(symbol, sizeof(symbol), "luaopen_%s", modname);
  for (char *p = symbol; *p; p++) if (*p == '.') *p = '_';
  luaL_buffinit(L, &tried);
  for (int i = 0; i < n; i++) {
    void *lib;
    lua_CFunction open;
    snprintf(path, sizeof(path), "%.*s/%s.so", MODULE_DIR_SIZE, dirs[i], file);
    regsh_trace_enter();
    lib = dlopen(path, MODULE_DLOPEN_MODE);
    regsh_trace_leave("dlopen", path);
    if (lib == NULL) {
      luaL_addstring(&tried, "\n\t");
      luaL_addstring(&tried, dlerror());
      continue;
    }
    open = (lua_CFunction)(uintptr_t)dlsym(lib, symbol);
    if (open == NULL) return luaL_error(L, "%s has no %s", path, symbol);
    lua_pushcfunction(L, open);
    lua_pushstring(L, modname);
    lua_call(L, 1, 1);
    return 1;  /* the library stays loaded for the life of the process */
  }
  luaL_pushresult(&tried);
  return luaL_error(L, "cannot load module '%s' (%s.so):%s", modname, file,
                    lua_tostring(L, -1));
}

/* the prefetch thread: load the first module file that loads, keep it */
static void *prefetch_module (void *arg) {
  char dirs[MODULE_DIRS][MODULE_DIR_SIZE], path[MODULE_DIR_SIZE + 64];
  int n = module_dirs(dirs);
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof(path), "%.*s/%s.so", MODULE_DIR_SIZE, dirs[i], (const char *)arg);
    if (dlopen(path, MODULE_DLOPEN_MODE) != NULL) break;
  }
  free(arg);
  return NULL;
}

/*
** prefetch(file): start loading the shared-object module file ("http") and
** its libraries in a thread of its own, so that the dynamic loader's work
** (libcurl's: milliseconds) overlaps with what the main thread does until it
** requires the module; that require's dlopen then waits for the thread, or
** finds the module loaded. Only the loading happens there: the module's
** luaopen (curl_global_init) still runs on the main thread. Best effort:
** false when no thread could start (the require then loads it as ever).
*/
static int host_prefetch (lua_State *L) {
  const char *file = luaL_checkstring(L, 1);
  char *arg;
  pthread_attr_t attr;
  pthread_t thread;
  int ok = 0;
  luaL_argcheck(L, strchr(file, '/') == NULL, 1, "a module file name, no '/'");
  arg = strdup(file);
  if (arg && pthread_attr_init(&attr) == 0) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    ok = pthread_create(&thread, &attr, prefetch_module, arg) == 0;
    pthread_attr_destroy(&attr);
  }
  if (!ok) free(arg);
  lua_pushboolean(L, ok);
  return 1;
}

static void preload_shared (lua_State *L, const char *name, const char *file) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushstring(L, file);
  lua_pushcclosure(L, shared_loader, 1);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static void preload (lua_State *L, const char *name, lua_CFunction f) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, f);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

/*
** REGSH_TRACE: require timed. Upvalue 1 is the real require; a module
** already loaded costs nothing and is not recorded. Errors are caught to
** close the span and raised again.
*/
static int traced_require (lua_State *L) {
  char name[128];
  int status, loaded;
  snprintf(name, sizeof(name), "%s", luaL_checkstring(L, 1));
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  loaded = lua_getfield(L, -1, name) != LUA_TNIL;
  lua_pop(L, 2);
  if (!loaded) regsh_trace_enter();
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  if (!loaded) regsh_trace_leave("require", name);
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

static void trace_require (lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushcclosure(L, traced_require, 1);
  lua_setglobal(L, "require");
}

/* $REGSH_LUA_PATH: read lua/ from disk (edits apply without a rebuild) */
static void use_lua_dir (lua_State *L, const char *dir) {
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

static int by_module_name (const void *name, const void *entry) {
  return strcmp((const char *)name, ((const regsh_embedded *)entry)->name);
}

/* package.preload's __index: the loader of the embedded module called name
** (found by binary search: src/embedlua.c sorts the index by name), or
** nothing. Reference pages (.md, text for help()) are not modules. So a
** start registers no module, and a require costs one lookup. */
static int embedded_index (lua_State *L) {
  const char *name = lua_tostring(L, 2);
  const regsh_embedded *m = name == NULL ? NULL
    : bsearch(name, regsh_embedded_modules, regsh_embedded_count,
              sizeof(regsh_embedded), by_module_name);
  size_t len = m ? strlen(m->chunkname) : 0;
  if (m == NULL || (len > 3 && strcmp(m->chunkname + len - 3, ".md") == 0)) return 0;
  lua_pushinteger(L, m - regsh_embedded_modules);
  lua_pushcclosure(L, embedded_loader, 1);
  return 1;
}

static void preload_embedded (lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, embedded_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

/* }====================================================== */


/* regsh.core.host: facts fixed at build time, and errno_name(n) */
/* embedded(name) -> the source of an embedded policies/ file, or nil (also
** when lua/ comes from disk): the purge engine loads shipped policies from it
** into its own sandbox rather than through require. lua/ files are
** bytecode, not source: nil for them. */
static int host_embedded (lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *dir = getenv("REGSH_LUA_PATH");
  if (dir == NULL || *dir == '\0') {
    for (int i = 0; regsh_embedded_modules[i].name; i++) {
      const regsh_embedded *m = &regsh_embedded_modules[i];
      if (strcmp(m->name, name) == 0 && strncmp(m->chunkname, "@lua/", 5) != 0) {
        lua_pushlstring(L, m->data, m->size);
        lua_pushstring(L, m->chunkname);
        return 2;
      }
    }
  }
  luaL_pushfail(L);
  return 1;
}

/*
** The Lua allocator with a ceiling a caller may set for a while: the purge
** engine runs a policy under one, so that a string.rep or s .. s memory
** bomb fails with "not enough memory" (after an emergency collection)
** instead of taking the machine's memory. One host state per process.
*/
typedef struct {
  size_t used;   /* bytes Lua holds now */
  size_t limit;  /* 0: none */
} HostMemory;

static HostMemory host_memory;

static void *limited_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  HostMemory *m = (HostMemory *)ud;
  size_t old = ptr ? osize : 0;  /* without ptr, osize is a type tag */
  void *p;
  if (nsize == 0) {
    free(ptr);
    m->used -= old;
    return NULL;
  }
  /* growing past the ceiling fails; shrinking never does */
  if (m->limit != 0 && nsize > old && m->used - old + nsize > m->limit)
    return NULL;
  p = realloc(ptr, nsize);
  if (p != NULL) m->used = m->used - old + nsize;
  return p;
}

/* memory_limit([bytes]) -> previous limit, bytes in use: with bytes (0 or
** false: none), Lua's allocations past that total fail until it changes */
static int host_memory_limit (lua_State *L) {
  size_t previous = host_memory.limit;
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer limit = lua_toboolean(L, 1) ? luaL_checkinteger(L, 1) : 0;
    luaL_argcheck(L, limit >= 0, 1, "limit must be >= 0");
    host_memory.limit = (size_t)limit;
  }
  lua_pushinteger(L, (lua_Integer)previous);
  lua_pushinteger(L, (lua_Integer)host_memory.used);
  return 2;
}

static int luaopen_regsh_core_host (lua_State *L) {
  lua_newtable(L);
  lua_pushliteral(L, REGSH_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushliteral(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua_release");
  lua_pushliteral(L, REGSH_INSTALL_DATADIR);
  lua_setfield(L, -2, "datadir");
  lua_pushcfunction(L, regsh_errno_name);
  lua_setfield(L, -2, "errno_name");
  lua_pushcfunction(L, host_embedded);
  lua_setfield(L, -2, "embedded");
  lua_pushcfunction(L, host_prefetch);
  lua_setfield(L, -2, "prefetch");
  lua_pushcfunction(L, host_memory_limit);
  lua_setfield(L, -2, "memory_limit");
  return 1;
}

int regsh_flush_stdout (void) {
  int failed = fflush(stdout) != 0 || ferror(stdout);
  int err = errno;
  if (!failed && fclose(stdout) != 0) {
    failed = 1;
    err = errno;
  }
  if (!failed) return 0;
  if (err) fprintf(stderr, "regsh: error writing standard output: %s\n",
                   strerror(err));
  else fputs("regsh: error writing standard output\n", stderr);
  fflush(stderr);
  return -1;
}

/*
** os.exit that closes the state unless told otherwise (Lua's own does not by
** default): closing runs __gc, which kills child processes and cancels what
** is in flight, instead of leaving children running after regsh is gone.
*/
static int os_exit (lua_State *L) {
  int status;
  if (lua_isboolean(L, 1))
    status = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
  else
    status = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
  if (lua_isnone(L, 2) || lua_toboolean(L, 2)) lua_close(L);
  if (regsh_flush_stdout() != 0 && status == EXIT_SUCCESS) status = EXIT_FAILURE;
  fflush(stderr);
  exit(status);
  return 0;
}

static int panic (lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "regsh: PANIC: %s\n", msg ? msg : "(no message)");
  return 0;
}

/* runs protected: everything here may raise (out of memory). Argument 1:
** ignore LUA_PATH and LUA_CPATH (-E), which package reads when it opens */
static int setup (lua_State *L) {
  const char *dir = getenv("REGSH_LUA_PATH");
  if (lua_toboolean(L, 1)) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  lua_getglobal(L, "os");
  lua_pushcfunction(L, os_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  preload(L, "cjson", luaopen_cjson);
  preload(L, "cjson.safe", luaopen_cjson_safe);
  preload(L, "regsh.core.cron", luaopen_regsh_core_cron);
  preload(L, "regsh.core.fs", luaopen_regsh_core_fs);
  preload(L, "regsh.core.host", luaopen_regsh_core_host);
  preload(L, "regsh.core.loop", luaopen_regsh_core_loop);
  preload(L, "regsh.core.proc", luaopen_regsh_core_proc);
  preload_shared(L, "regsh.core.archive", "archive");
  preload_shared(L, "regsh.core.digest", "digest");
  preload_shared(L, "regsh.core.http", "http");
  preload_shared(L, "regsh.core.httpd", "httpd");
  preload_shared(L, "regsh.core.regex", "regex");
  preload_shared(L, "regsh.core.repl", "repl");
  preload_shared(L, "regsh.core.store", "store");
  preload_shared(L, "regsh.core.yaml", "yaml");
  if (dir && *dir) use_lua_dir(L, dir);
  else preload_embedded(L);
  if (regsh_tracing()) trace_require(L);
  regsh_loop_of(L);  /* made now, so that it owns the signals from the start */
  return 0;
}

lua_State *regsh_host_new (int ignore_env) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return NULL;
  /* from here on Lua's blocks are counted: start from what it holds */
  host_memory.used = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024
                     + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
  host_memory.limit = 0;
  lua_setallocf(L, limited_alloc, &host_memory);
  lua_atpanic(L, panic);
  lua_pushcfunction(L, setup);
  lua_pushboolean(L, ignore_env);
  if (regsh_report(L, lua_pcall(L, 1, 0, 0)) != LUA_OK) {
    lua_close(L);
    return NULL;
  }
  return L;
}

void regsh_host_close (lua_State *L) {
  lua_close(L);
}
