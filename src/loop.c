/*
** loop.c: regsh.core.loop, the libuv loop of a Lua state and the ready list
** that carries progress from C callbacks to the Lua scheduler. Also the two
** ops that need nothing but libuv: timers (sleep) and signal watchers.
** See loop.h for the contract; lua/regsh/async.lua is the other half.
*/
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "loop.h"
#include "util.h"

#define LOOP_TYPE   "regsh.loop"
#define TIMER_TYPE  "regsh.timer"
#define SIGNAL_TYPE "regsh.signal"

/* the signals that interrupt the running code unless a script takes them
** over with regsh.on_signal; index 0 is SIGINT, 1 SIGTERM */
#define NINTERRUPTS 2
static const int interrupt_signals[NINTERRUPTS] = {SIGINT, SIGTERM};

struct regsh_loop {
  uv_loop_t uv;
  uv_async_t *wake;           /* malloc'd: woken by regsh_loop_interrupt */
  regsh_op *ready_head, *ready_tail;
  volatile sig_atomic_t interrupted;
  lua_State *main;            /* the state's main thread: computing code runs there */
  uv_signal_t *interrupt_watchers[NINTERRUPTS];  /* malloc'd, for the whole run */
  volatile sig_atomic_t taken[NINTERRUPTS];  /* Lua watchers of each signal */
  volatile sig_atomic_t pending;  /* interrupt signal not raised in Lua yet */
  int raised;                 /* the signal of the last interrupt raised */
  struct sigaction libuv_handlers[NINTERRUPTS];  /* what ours replaced */
  int open;
  int running;                /* inside run()'s uv_run */
};

static const char LOOP_KEY = 'L';  /* registry key: the address */

static void wake_cb (uv_async_t *h) {
  (void)h;  /* waking uv_run up is all it is for */
}

/*
** {======================================================
** The interrupt: SIGINT and SIGTERM raise "interrupted!" / "terminated!" in
** the running code, so that <close> variables and __gc run as the error
** unwinds (children are killed, files flushed).
**
** Every signal is a libuv watcher on this loop: SIGINT and SIGTERM get one
** each when the loop is made, kept for the whole run (the REPL and the
** end-of-script phase included), and regsh.on_signal adds its own watchers
** beside them. A signal that a Lua watcher has taken is only delivered to
** Lua; otherwise it is the interrupt.
**
** A watcher's callback runs only inside uv_run, and code that computes
** (`while true do end`) or blocks in C (io.open of a FIFO, io.read) never
** gets there. Letting watchers be the only handlers was tried (bench/interrupt
** measures it) and rejected:
** - a count hook that runs uv_run(UV_RUN_NOWAIT) and raises the pending
**   interrupt: any count hook makes Lua 5.4's VM call luaG_traceexec before
**   every instruction ('trap' in lvm.c's vmfetch), whatever the count, so
**   pure-Lua arithmetic ran 2.2x as slow as lua5.4 (this handler: 1.0x) and
**   string work 1.09x (0.85x), with counts from 1e3 to 1e8 alike, though it
**   would have reached computing coroutines too (they inherit the hook);
** - and a process blocked in a C call runs no hook, so not even a second
**   SIGINT could end it: Ctrl-C could not stop `regsh -e 'io.read()'`
**   while it waits (signals_spec's FIFO test hung).
** A helper thread is no way out either: it would need a second loop to see
** signals, and may not call lua_sethook on a lua_State another thread runs.
** So, like lua.c, the interrupt keeps a small handler: installed over
** libuv's own (which it calls first, so libuv's watchers still see every
** delivery), it only marks the loop's pending interrupt and sets a hook on
** the main thread; the hook, or the next run(), raises the error. A second
** signal of the same kind before the first was raised ends the process at
** once, by that signal. POSIX gives a handler no argument to find its loop
** by, so the loop it serves is the one process-wide pointer, interrupt_owner;
** everything else, libuv's saved handlers included, lives in the loop.
** Limit: hooks are per thread, and the handler knows only the main one, so
** a coroutine that computes without ever yielding is not interrupted by the
** first signal (the second still ends the process) unless it calls
** check_interrupt(), as the purge engine's policy hook does.
** =======================================================
*/

static regsh_loop *volatile interrupt_owner = NULL;

static int interrupt_index (int sig) {
  for (int i = 0; i < NINTERRUPTS; i++)
    if (interrupt_signals[i] == sig) return i;
  return -1;
}

/* [-0, +0, v] raise the pending interrupt in L (its hook on the main thread
** goes: whoever raises first consumes it) */
static int raise_interrupt (lua_State *L, regsh_loop *loop);

static void interrupt_hook (lua_State *L, lua_Debug *ar) {
  regsh_loop *loop;
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  loop = lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOP_KEY) == LUA_TUSERDATA
         ? (regsh_loop *)lua_touserdata(L, -1) : NULL;
  lua_pop(L, 1);
  if (loop && loop->pending) raise_interrupt(L, loop);
}

static int raise_interrupt (lua_State *L, regsh_loop *loop) {
  int sig;
  if (lua_gethook(loop->main) == interrupt_hook)
    lua_sethook(loop->main, NULL, 0, 0);
  sig = loop->pending;
  loop->pending = 0;
  loop->raised = sig;
  lua_pushstring(L, sig == SIGTERM ? "terminated!" : "interrupted!");
  return lua_error(L);
}

/* async-signal-safe: marks the interrupt, touches nothing else */
static void interrupt_handler (int sig, siginfo_t *info, void *context) {
  int saved_errno = errno;
  int i = interrupt_index(sig);
  regsh_loop *loop = interrupt_owner;  /* never NULL while installed */
  const struct sigaction *next = &loop->libuv_handlers[i];
  if (next->sa_flags & SA_SIGINFO) next->sa_sigaction(sig, info, context);
  else if (next->sa_handler != SIG_DFL && next->sa_handler != SIG_IGN)
    next->sa_handler(sig);
  if (!loop->taken[i]) {
    if (loop->pending == sig) {  /* the second one: stop at once */
      signal(sig, SIG_DFL);
      raise(sig);
    }
    else if (loop->pending != SIGTERM) {
      loop->pending = sig;
      lua_sethook(loop->main, interrupt_hook,
                  LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
    }
  }
  errno = saved_errno;
}

/* in uv_run: a waiting loop stops so that run() can raise the interrupt */
static void interrupt_cb (uv_signal_t *h, int signum) {
  regsh_loop *loop = (regsh_loop *)h->data;
  int i = interrupt_index(signum);
  /* a loop without the handler (a second state in the process) marks it here */
  if (loop != interrupt_owner && !loop->taken[i] && loop->pending != SIGTERM)
    loop->pending = signum;
  if (loop->pending) uv_stop(&loop->uv);
}

static void interrupts_install (lua_State *L, regsh_loop *loop) {
  int owner = interrupt_owner == NULL;
  for (int i = 0; i < NINTERRUPTS; i++) {
    uv_signal_t *h = (uv_signal_t *)malloc(sizeof(uv_signal_t));
    if (h == NULL) luaL_error(L, "out of memory");
    uv_signal_init(&loop->uv, h);
    h->data = loop;
    uv_signal_start(h, interrupt_cb, interrupt_signals[i]);
    uv_unref((uv_handle_t *)h);  /* it must not keep the loop alive */
    loop->interrupt_watchers[i] = h;
  }
  if (!owner) return;
  interrupt_owner = loop;
  for (int i = 0; i < NINTERRUPTS; i++) {
    struct sigaction sa;
    sigaction(interrupt_signals[i], NULL, &loop->libuv_handlers[i]);
    sa = loop->libuv_handlers[i];
    sa.sa_sigaction = interrupt_handler;
    sa.sa_flags |= SA_SIGINFO;
    sigaction(interrupt_signals[i], &sa, NULL);
  }
}

/* at lua_close: libuv's handler back, then its watchers go with the loop
** (closing the last watcher of a signal restores the default action) */
static void interrupts_release (regsh_loop *loop) {
  if (interrupt_owner != loop) return;
  for (int i = 0; i < NINTERRUPTS; i++)
    sigaction(interrupt_signals[i], &loop->libuv_handlers[i], NULL);
  interrupt_owner = NULL;
  if (lua_gethook(loop->main) == interrupt_hook)
    lua_sethook(loop->main, NULL, 0, 0);
}

int regsh_loop_raised (regsh_loop *loop, int forget) {
  int sig = loop->raised;
  if (forget) loop->raised = 0;
  return sig;
}

/* }====================================================== */


static void close_walk (uv_handle_t *h, void *arg) {
  (void)arg;
  regsh_close_handle(h);
}

/* Runs last at lua_close (the loop is older than every op), after each op's
** own __gc has closed its handles: let the close callbacks run, then close. */
static int loop_gc (lua_State *L) {
  regsh_loop *loop = (regsh_loop *)luaL_checkudata(L, 1, LOOP_TYPE);
  if (loop->open) {
    loop->open = 0;
    interrupts_release(loop);
    uv_walk(&loop->uv, close_walk, NULL);
    while (uv_run(&loop->uv, UV_RUN_NOWAIT) != 0) {}
    uv_loop_close(&loop->uv);
  }
  return 0;
}

regsh_loop *regsh_loop_of (lua_State *L) {
  regsh_loop *loop;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOP_KEY) == LUA_TUSERDATA) {
    loop = (regsh_loop *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return loop;
  }
  lua_pop(L, 1);
  loop = (regsh_loop *)lua_newuserdatauv(L, sizeof(*loop), 0);
  memset(loop, 0, sizeof(*loop));
  regsh_newclass(L, LOOP_TYPE, loop_gc, NULL, NULL, 0);
  lua_setmetatable(L, -2);
  if (uv_loop_init(&loop->uv) != 0) luaL_error(L, "cannot create event loop");
  loop->open = 1;
  loop->wake = (uv_async_t *)malloc(sizeof(uv_async_t));
  if (loop->wake == NULL || uv_async_init(&loop->uv, loop->wake, wake_cb) != 0)
    luaL_error(L, "cannot create event loop wake-up handle");
  uv_unref((uv_handle_t *)loop->wake);  /* it must not keep the loop alive */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &LOOP_KEY);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  loop->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  interrupts_install(L, loop);
  return loop;
}

uv_loop_t *regsh_loop_uv (regsh_loop *loop) {
  return &loop->uv;
}

void regsh_loop_interrupt (regsh_loop *loop) {
  loop->interrupted = 1;
  if (loop->open) uv_async_send(loop->wake);
}

void regsh_op_begin (lua_State *L, int idx, regsh_op *op,
                     void (*cancel)(regsh_op *op)) {
  lua_pushvalue(L, idx);
  op->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  op->loop = regsh_loop_of(L);
  op->cancel = cancel;
  op->active = 1;
  op->queued = 0;
  op->next_ready = NULL;
}

void regsh_op_notify (regsh_op *op) {
  regsh_loop *loop = op->loop;
  if (op->queued || loop == NULL) return;
  op->queued = 1;
  op->next_ready = NULL;
  if (loop->ready_tail) loop->ready_tail->next_ready = op;
  else loop->ready_head = op;
  loop->ready_tail = op;
  /* uv_run calls due timers (curl's among them) before it polls for I/O,
  ** and that poll would block with this op ready until some other event:
  ** for a paused transfer, whose socket nobody watches, its timeout. A
  ** stopped loop polls without waiting, so run() returns and hands it over. */
  if (loop->running) uv_stop(&loop->uv);
}

void regsh_op_finish (regsh_op *op) {
  if (!op->active) return;
  op->active = 0;
  regsh_op_notify(op);
}

/*
** run([mode [, buf]]) -> n, alive, buf
** One turn of the loop ("once" blocks until something happens, "nowait" does
** not), then the ready ops go into buf[1..n] (a new table if none is given;
** a reused buf saves garbage on hot paths). Finished ops are unpinned here,
** on the Lua side, which is why callbacks only queue them.
*/
static int loop_run (lua_State *L) {
  static const char *const modes[] = {"once", "nowait", NULL};
  regsh_loop *loop = regsh_loop_of(L);
  int mode = luaL_checkoption(L, 1, "once", modes);
  int n = 0;
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  else luaL_checktype(L, 2, LUA_TTABLE);
  if (loop->ready_head == NULL && !loop->interrupted && !loop->pending) {
    loop->running = 1;
    uv_run(&loop->uv, mode == 0 ? UV_RUN_ONCE : UV_RUN_NOWAIT);
    loop->running = 0;
  }
  loop->interrupted = 0;
  if (loop->pending) return raise_interrupt(L, loop);  /* ready ops stay queued */
  while (loop->ready_head) {
    regsh_op *op = loop->ready_head;
    loop->ready_head = op->next_ready;
    if (loop->ready_head == NULL) loop->ready_tail = NULL;
    op->queued = 0;
    op->next_ready = NULL;
    lua_rawgeti(L, LUA_REGISTRYINDEX, op->ref);
    lua_rawseti(L, 2, ++n);
    if (!op->active) {
      luaL_unref(L, LUA_REGISTRYINDEX, op->ref);
      op->ref = LUA_NOREF;
    }
  }
  lua_pushinteger(L, n);
  lua_pushboolean(L, uv_loop_alive(&loop->uv));
  lua_pushvalue(L, 2);
  return 3;
}

/* alive() -> whether anything that keeps the loop running is still active */
static int loop_alive (lua_State *L) {
  lua_pushboolean(L, uv_loop_alive(&regsh_loop_of(L)->uv));
  return 1;
}

static regsh_op *checkop (lua_State *L, int idx) {
  luaL_checktype(L, idx, LUA_TUSERDATA);
  if (luaL_getmetafield(L, idx, REGSH_OP_MARKER) == LUA_TNIL)
    luaL_argerror(L, idx, "regsh op expected");
  lua_pop(L, 1);
  return (regsh_op *)lua_touserdata(L, idx);
}

/* cancel(op) -> true if the op was active and is now being stopped */
static int loop_cancel (lua_State *L) {
  regsh_op *op = checkop(L, 1);
  int was = op->active && op->cancel != NULL;
  if (was) op->cancel(op);
  lua_pushboolean(L, was);
  return 1;
}

/* active(op) -> whether the op has not finished yet */
static int loop_active (lua_State *L) {
  lua_pushboolean(L, checkop(L, 1)->active);
  return 1;
}

/* now() -> wall-clock seconds since the epoch, with sub-second precision */
/*
** check_interrupt(): raise a pending SIGINT/SIGTERM interrupt here, in the
** running thread, or again the one raised already. For code that computes in a coroutine of its own for long
** (a purge policy, under its CPU-time hook): the signal's hook is set on
** the main thread only, so that code would not notice it otherwise.
*/
static int loop_check_interrupt (lua_State *L) {
  regsh_loop *loop = regsh_loop_of(L);
  if (loop->pending) return raise_interrupt(L, loop);
  if (loop->raised) {  /* raised already, in another task: this code stops too */
    lua_pushstring(L, loop->raised == SIGTERM ? "terminated!" : "interrupted!");
    return lua_error(L);
  }
  return 0;
}

static int loop_now (lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* monotonic() -> seconds from an arbitrary start, never going backwards */
static int loop_monotonic (lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
  return 1;
}


/*
** {======================================================
** Timers: a one-shot op that finishes after a delay
** =======================================================
*/

typedef struct {
  regsh_op op;
  uv_timer_t *handle;
} TimerOp;

static void timer_stop (TimerOp *t) {
  if (t->handle) {
    uv_timer_stop(t->handle);
    regsh_close_handle(t->handle);
    t->handle = NULL;
  }
}

static void timer_cb (uv_timer_t *h) {
  TimerOp *t = (TimerOp *)h->data;
  timer_stop(t);
  regsh_op_finish(&t->op);
}

static void timer_cancel (regsh_op *op) {
  timer_stop((TimerOp *)op);
  regsh_op_finish(op);
}

static int timer_gc (lua_State *L) {
  timer_stop((TimerOp *)luaL_checkudata(L, 1, TIMER_TYPE));
  return 0;
}

/* timer(seconds) -> op that finishes when the delay has passed */
static int loop_timer (lua_State *L) {
  lua_Number secs = luaL_checknumber(L, 1);
  regsh_loop *loop = regsh_loop_of(L);
  TimerOp *t;
  luaL_argcheck(L, secs >= 0 && secs < 1e9, 1, "delay out of range");
  t = (TimerOp *)lua_newuserdatauv(L, sizeof(*t), 0);
  memset(t, 0, sizeof(*t));
  luaL_setmetatable(L, TIMER_TYPE);
  t->handle = (uv_timer_t *)malloc(sizeof(uv_timer_t));
  if (t->handle == NULL) return luaL_error(L, "out of memory");
  uv_timer_init(&loop->uv, t->handle);
  t->handle->data = t;
  regsh_op_begin(L, -1, &t->op, timer_cancel);
  uv_timer_start(t->handle, timer_cb, (uint64_t)(secs * 1000.0 + 0.5), 0);
  return 1;
}

/* }====================================================== */


/*
** {======================================================
** Signal watchers: a repeating op, notified on each delivery; they do not
** keep the loop alive on their own (like node's process.on)
** =======================================================
*/

typedef struct {
  regsh_op op;
  uv_signal_t *handle;
  int signum;
  int count;                  /* deliveries not yet taken by Lua */
} SignalOp;

/* the signals a script may watch */
static const int watchable[] = {
  SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, 0
};

static void signal_stop (SignalOp *s) {
  if (s->handle) {
    int i = interrupt_index(s->signum);
    if (i >= 0) s->op.loop->taken[i]--;  /* the interrupt again, once none is left */
    uv_signal_stop(s->handle);
    regsh_close_handle(s->handle);
    s->handle = NULL;
  }
}

static void signal_cb (uv_signal_t *h, int signum) {
  SignalOp *s = (SignalOp *)h->data;
  (void)signum;
  s->count++;
  regsh_op_notify(&s->op);
}

static void signal_cancel (regsh_op *op) {
  signal_stop((SignalOp *)op);
  regsh_op_finish(op);
}

static int signal_gc (lua_State *L) {
  signal_stop((SignalOp *)luaL_checkudata(L, 1, SIGNAL_TYPE));
  return 0;
}

/* op:take() -> number of deliveries since the last take */
static int signal_take (lua_State *L) {
  SignalOp *s = (SignalOp *)luaL_checkudata(L, 1, SIGNAL_TYPE);
  lua_pushinteger(L, s->count);
  s->count = 0;
  return 1;
}

/* op:close(): stop watching; idempotent */
static int signal_close (lua_State *L) {
  SignalOp *s = (SignalOp *)luaL_checkudata(L, 1, SIGNAL_TYPE);
  if (s->op.active) signal_cancel(&s->op);
  return 0;
}

/* signal(name) -> op notified on each delivery of the named signal */
static int loop_signal (lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  regsh_loop *loop = regsh_loop_of(L);
  int signum = regsh_signal_number(name);
  int known = 0, i;
  SignalOp *s;
  for (int k = 0; watchable[k] && !known; k++) known = watchable[k] == signum;
  if (!known)
    return luaL_argerror(L, 1, lua_pushfstring(L,
      "unknown signal '%s' (expected SIGHUP, SIGINT, SIGQUIT, SIGTERM, "
      "SIGUSR1, SIGUSR2 or SIGWINCH)", name));
  s = (SignalOp *)lua_newuserdatauv(L, sizeof(*s), 0);
  memset(s, 0, sizeof(*s));
  luaL_setmetatable(L, SIGNAL_TYPE);
  s->signum = signum;
  s->handle = (uv_signal_t *)malloc(sizeof(uv_signal_t));
  if (s->handle == NULL) return luaL_error(L, "out of memory");
  uv_signal_init(&loop->uv, s->handle);
  s->handle->data = s;
  regsh_op_begin(L, -1, &s->op, signal_cancel);
  uv_signal_start(s->handle, signal_cb, signum);
  uv_unref((uv_handle_t *)s->handle);
  if ((i = interrupt_index(signum)) >= 0) loop->taken[i]++;
  return 1;
}

/* }====================================================== */


static const luaL_Reg signal_methods[] = {
  {"close", signal_close},
  {"take", signal_take},
  {NULL, NULL}
};

static const luaL_Reg loop_funcs[] = {
  {"active", loop_active},
  {"alive", loop_alive},
  {"cancel", loop_cancel},
  {"check_interrupt", loop_check_interrupt},
  {"monotonic", loop_monotonic},
  {"now", loop_now},
  {"run", loop_run},
  {"signal", loop_signal},
  {"timer", loop_timer},
  {NULL, NULL}
};

int luaopen_regsh_core_loop (lua_State *L) {
  regsh_loop_of(L);
  regsh_newclass(L, TIMER_TYPE, timer_gc, NULL, NULL, REGSH_CLASS_OP);
  regsh_newclass(L, SIGNAL_TYPE, signal_gc, NULL, signal_methods, REGSH_CLASS_OP);
  lua_pop(L, 2);
  luaL_newlib(L, loop_funcs);
  lua_pushstring(L, uv_version_string());
  lua_setfield(L, -2, "libuv_version");
  return 1;
}
