/*
** repl.c: the interactive loop (lua.c's, with libedit when it was found at
** build time): an input line is first tried as `return <line>` so that
** expressions print their value; an incomplete chunk (a syntax error at
** <eof>) asks for more lines. Results print through regsh.repl's printer.
** On a terminal a line is read through the loop (regsh.repl.read and the
** reader op here), so spawned tasks, timers and signal handlers go on while
** the prompt waits. History, completion candidates and `:commands` are
** policy, in regsh.repl: this file only hands libedit what Lua decides.
*/
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "host.h"
#include "loop.h"

#define MAXINPUT 512
#define READER_TYPE "regsh.repl.reader"
#define READ_FAILED (-2)

#ifdef REGSH_USE_LIBEDIT
#include <editline/readline.h>

/*
** {======================================================
** The reader: an op that is notified when the terminal has input, and
** feeds it to libedit's callback interface one character at a time.
** libedit's line callback takes no context argument and there is one
** terminal, so the finished line waits in this one static.
** =======================================================
*/

typedef struct {
  regsh_op op;
  uv_poll_t *poll;            /* malloc'd; NULL once closed */
  int editing;                /* a prompt is installed in libedit */
} Reader;

static struct {
  int done;                   /* the line callback ran */
  char *line;                 /* what it got: NULL at end of input */
} finished;

static void on_line (char *line) {
  finished.done = 1;
  finished.line = line;
}

static void reader_poll_cb (uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  regsh_op_notify(&((Reader *)h->data)->op);  /* an error shows as input too */
}

static void reader_stop (Reader *r) {
  if (r->poll) uv_poll_stop(r->poll);
  if (r->editing) {
    rl_callback_handler_remove();
    rl_deprep_terminal();  /* the terminal back in its normal mode */
    r->editing = 0;
  }
}

static void free_handle (uv_handle_t *h) {
  free(h);
}

static void reader_cancel (regsh_op *op) {
  reader_stop((Reader *)op);
  regsh_op_finish(op);
}

static int reader_gc (lua_State *L) {
  Reader *r = (Reader *)luaL_checkudata(L, 1, READER_TYPE);
  reader_stop(r);
  if (r->poll) {
    uv_close((uv_handle_t *)r->poll, free_handle);
    r->poll = NULL;
  }
  return 0;
}

/* reader:start(prompt): show the prompt and watch the terminal */
static int reader_start (lua_State *L) {
  Reader *r = (Reader *)luaL_checkudata(L, 1, READER_TYPE);
  const char *prompt = luaL_checkstring(L, 2);
  reader_stop(r);
  finished.done = 0;
  rl_callback_handler_install(prompt, on_line);
  rl_prep_terminal(1);  /* raw now: keys arrive one by one, not at Enter */
  r->editing = 1;
  uv_poll_start(r->poll, UV_READABLE, reader_poll_cb);
  return 0;
}

/* reader:feed() -> the line once it is complete, false at end of input,
** nil while it is not complete yet */
static int reader_feed (lua_State *L) {
  Reader *r = (Reader *)luaL_checkudata(L, 1, READER_TYPE);
  if (!r->editing) return luaL_error(L, "the reader has no prompt");
  rl_callback_read_char();
  if (!finished.done) return 0;
  finished.done = 0;
  reader_stop(r);
  if (finished.line == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushstring(L, finished.line);
  free(finished.line);
  finished.line = NULL;
  return 1;
}

/* reader:abandon(): drop the line being edited (Ctrl-C at the prompt) */
static int reader_abandon (lua_State *L) {
  Reader *r = (Reader *)luaL_checkudata(L, 1, READER_TYPE);
  if (r->editing) {
    rl_replace_line("", 0);
    reader_stop(r);
    fputs("\n", stdout);
    fflush(stdout);
  }
  return 0;
}

/* reader:remember(line): add a line to the history (regsh.repl decides
** which lines may be kept) */
static int reader_remember (lua_State *L) {
  luaL_checkudata(L, 1, READER_TYPE);
  add_history(luaL_checkstring(L, 2));
  return 0;
}

/* reader:load_history(path, max): read a history file, keep the last max */
static int reader_load_history (lua_State *L) {
  const char *path;
  luaL_checkudata(L, 1, READER_TYPE);
  path = luaL_checkstring(L, 2);
  stifle_history((int)luaL_checkinteger(L, 3));
  lua_pushboolean(L, read_history(path) == 0);
  return 1;
}

/* reader:save_history(path) -> true | nil, message: the file is created
** 0600 (and made 0600 if it was not) before libedit writes it, since its
** lines are the user's commands */
static int reader_save_history (lua_State *L) {
  const char *path;
  int fd;
  luaL_checkudata(L, 1, READER_TYPE);
  path = luaL_checkstring(L, 2);
  fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || fchmod(fd, 0600) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(err));
    return 2;
  }
  close(fd);
  if (write_history(path) != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: cannot write the history", path);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/*
** Completion: libedit calls back with the word under the cursor; the
** candidates come from regsh.repl.complete(line before the cursor, word),
** run protected (no Lua error may cross libedit's frames). The callback has
** no context argument, so the state waits in this static while a prompt is
** installed (one terminal).
*/
static lua_State *completing;

static char *dup_string (lua_State *L, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  char *copy = (char *)malloc(len + 1);
  if (copy) memcpy(copy, s, len + 1);
  return copy;
}

static int complete_lua (lua_State *L) {
  const char *text = (const char *)lua_touserdata(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh.repl");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "complete");
  lua_pushlstring(L, rl_line_buffer, (size_t)rl_point);
  lua_pushstring(L, text);
  lua_call(L, 2, 1);
  return 1;
}

/* the candidates as libedit wants them: [0] the common prefix, then each
** candidate, then NULL; NULL when there is none */
static char **on_complete (const char *text, int start, int end) {
  lua_State *L = completing;
  char **matches = NULL;
  lua_Integer n, i;
  int top;
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1;  /* no file name fallback */
  if (L == NULL || !lua_checkstack(L, 8)) return NULL;
  top = lua_gettop(L);
  lua_pushcfunction(L, complete_lua);
  lua_pushlightuserdata(L, (void *)text);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) goto done;
  n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0 || n > 100000) goto done;
  matches = (char **)calloc((size_t)n + 2, sizeof(char *));
  if (matches == NULL) goto done;
  lua_getfield(L, -1, "prefix");  /* regsh.repl gives the common prefix */
  matches[0] = lua_type(L, -1) == LUA_TSTRING ? dup_string(L, -1) : NULL;
  lua_pop(L, 1);
  for (i = 1; n > 1 && i <= n; i++) {  /* one candidate: [0] alone */
    lua_rawgeti(L, -1, i);
    if (lua_type(L, -1) == LUA_TSTRING) matches[i] = dup_string(L, -1);
    lua_pop(L, 1);
  }
  if (matches[0] == NULL) {  /* out of memory or no prefix: no completion */
    for (i = 1; i <= n; i++) free(matches[i]);
    free(matches);
    matches = NULL;
  }
done:
  lua_settop(L, top);
  return matches;
}

static const char READER_KEY = 'R';

/* reader() -> the terminal's reader (one per state, made on first use) */
static int repl_reader (lua_State *L) {
  Reader *r;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &READER_KEY) == LUA_TUSERDATA)
    return 1;
  lua_pop(L, 1);
  r = (Reader *)lua_newuserdatauv(L, sizeof(*r), 0);
  memset(r, 0, sizeof(*r));
  if (luaL_newmetatable(L, READER_TYPE)) {
    static const luaL_Reg methods[] = {
      {"abandon", reader_abandon}, {"feed", reader_feed},
      {"load_history", reader_load_history}, {"remember", reader_remember},
      {"save_history", reader_save_history}, {"start", reader_start},
      {NULL, NULL}
    };
    lua_pushcfunction(L, reader_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__regsh_op");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
  lua_setmetatable(L, -2);
  r->poll = (uv_poll_t *)malloc(sizeof(uv_poll_t));
  if (r->poll == NULL) return luaL_error(L, "out of memory");
  if (uv_poll_init(regsh_loop_uv(regsh_loop_of(L)), r->poll, 0) != 0) {
    free(r->poll);
    r->poll = NULL;
    return luaL_error(L, "cannot watch standard input");
  }
  r->poll->data = r;
  rl_catch_signals = 0;  /* the loop owns the signals, libedit must not */
  rl_attempted_completion_function = on_complete;
  /* '.', ':', '/' and '-' stay in the word: `reg:ta` completes as a
  ** whole, and so do `app/web-1` and `tests/spec` inside strings */
  rl_basic_word_break_characters = " \t\n\"'`=;,(){}[]<>#&|";
  rl_completion_append_character = '\0';
  /* Ctrl-R: libedit's incremental search (em-inc-search-prev) reads the
  ** terminal itself, which a reader fed one character at a time by the loop
  ** cannot host; ed-search-prev-history searches with the typed text instead
  ** (type part of a line, then Ctrl-R; again for older ones) */
  rl_initialize();  /* once per process: binding needs the editor made */
  rl_parse_and_bind("bind ^R ed-search-prev-history");
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  completing = lua_tothread(L, -1);  /* the registry keeps it alive */
  lua_pop(L, 1);
  regsh_op_begin(L, -1, &r->op, reader_cancel);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &READER_KEY);
  return 1;
}

/* [-0, +1, -] a line read through the loop by regsh.repl.read: 1 with the
** line, 0 at end of input, -1 with the error on the stack */
static int loop_line (lua_State *L, const char *prompt) {
  int status;
again:
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh.repl");
  status = regsh_docall(L, 1, 1);
  if (status == LUA_OK) {
    lua_getfield(L, -1, "read");
    lua_remove(L, -2);
    lua_pushstring(L, prompt);
    status = regsh_docall(L, 1, 1);
  }
  if (status != LUA_OK) {
    /* Ctrl-C that came between two characters: a fresh prompt, as in read */
    if (regsh_interrupted(L) != SIGINT) return -1;
    lua_pop(L, 1);
    goto again;
  }
  if (lua_type(L, -1) == LUA_TSTRING) return 1;
  lua_pop(L, 1);
  return 0;
}

/* }====================================================== */
#endif

/* [-nargs, +(nres|1), -] regsh.repl[name](args) protected: LUA_OK with
** its results, else the error */
static int repl_call (lua_State *L, const char *name, int nargs, int nres) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh.repl");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
    lua_pop(L, 1 + nargs);
    lua_pushliteral(L, "regsh.repl is missing");
    return LUA_ERRRUN;
  }
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  lua_insert(L, -1 - nargs);
  return regsh_docall(L, nargs, nres);
}

static int plain_line (char *buf, size_t size, const char *prompt) {
  fputs(prompt, stdout);
  fflush(stdout);
  if (fgets(buf, (int)size, stdin) == NULL) return 0;
  buf[strcspn(buf, "\n")] = '\0';
  return 1;
}

/* [-0, +1, -] the line read: 1; at end of input nothing and 0; on an error
** while reading (SIGTERM at the prompt) the error and -1 */
static int pushline (lua_State *L, int first) {
  char buf[MAXINPUT * 8];
  const char *prompt = first ? "> " : ">> ";
  int ok;
  if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") == LUA_TSTRING)
    prompt = lua_tostring(L, -1);
#ifdef REGSH_USE_LIBEDIT
  if (isatty(0)) {
    ok = loop_line(L, prompt);
    lua_remove(L, -1 - (ok != 0));  /* the prompt */
    if (ok != 1) return ok;
  }
  else
#endif
  {
    ok = plain_line(buf, sizeof(buf), prompt);
    lua_pop(L, 1);
    if (!ok) return 0;
    lua_pushstring(L, buf);
  }
  if (first) {  /* '=x' and ':commands' are rewritten by regsh.repl */
    lua_pushvalue(L, -1);
    if (repl_call(L, "rewrite", 1, 1) != LUA_OK)
      lua_pop(L, 1);  /* kept as typed */
    else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
      lua_pop(L, 2);  /* :quit */
      return 0;
    }
    else if (!lua_isstring(L, -1)) lua_pop(L, 1);
    else lua_remove(L, -2);
  }
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
    int more;
    if (!incomplete(L, status)) return status;
    if ((more = pushline(L, 0)) == 0)  /* input ended mid-chunk: its error */
      return luaL_loadbuffer(L, line, len, "=stdin");
    if (more != 1) return READ_FAILED;
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
}

/* -1 at end of input, READ_FAILED with the error on top when reading failed,
** else the load status with the chunk or error on top */
static int loadline (lua_State *L) {
  int status;
  lua_settop(L, 0);
  if ((status = pushline(L, 1)) != 1) return status == 0 ? -1 : READ_FAILED;
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

/* regsh.repl[name]() for its effect (history, the spinner): its failure is
** reported and the session goes on */
static void repl_notify (lua_State *L, const char *name) {
  if (repl_call(L, name, 0, 0) != LUA_OK) regsh_report(L, LUA_ERRRUN);
}

int regsh_repl (lua_State *L) {
  int status;
  repl_notify(L, "begin");
  while ((status = loadline(L)) != -1 && status != READ_FAILED) {
    if (status == LUA_OK) {
      repl_notify(L, "running");  /* the chunk stays on top */
      status = regsh_docall(L, 0, LUA_MULTRET);
      repl_notify(L, "idle");
    }
    if (status == LUA_OK) print_results(L);
    else if (regsh_interrupted(L) == SIGTERM) {
      status = READ_FAILED;  /* SIGTERM ends the session, Ctrl-C only the line */
      break;
    }
    else regsh_report(L, status);
  }
  if (status == READ_FAILED) {  /* SIGTERM: the error goes up */
    lua_insert(L, 1);
    lua_settop(L, 1);
    return LUA_ERRRUN;
  }
  lua_settop(L, 0);
  if (isatty(0)) fputs("\n", stdout);
  fflush(stdout);
  return LUA_OK;
}

int luaopen_regsh_core_repl(lua_State *L);

/* regsh.core.repl.run(): the same loop, for `regsh repl` */
static int repl_run (lua_State *L) {
  if (regsh_repl(L) != LUA_OK) return lua_error(L);
  return 0;
}

/* regsh.core.repl.main() -> true | false, err: the loop for main.c, which
** reports the error itself (this module is a shared object: main.c reaches
** regsh_repl through it) */
static int repl_main (lua_State *L) {
  if (regsh_repl(L) == LUA_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

int luaopen_regsh_core_repl (lua_State *L) {
  static const luaL_Reg funcs[] = {
#ifdef REGSH_USE_LIBEDIT
    {"reader", repl_reader},
#endif
    {"main", repl_main},
    {"run", repl_run},
    {NULL, NULL}
  };
  luaL_newlib(L, funcs);
  return 1;
}
