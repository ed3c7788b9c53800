/*
** loop.h: the one libuv loop of a Lua state, and the "op" every waiting call
** is built on. C callbacks never call Lua: an op that makes progress is put on
** the loop's ready list, and regsh.core.loop.run() hands the ready ops to the
** Lua scheduler (lua/regsh/async.lua) after uv_run has returned. So no Lua
** error can unwind through libuv's or libcurl's frames, and a coroutine is
** only ever resumed from Lua.
**
** Rules for a module that defines an op type:
** - the op struct is the first member-or-prefix of a userdata made with
**   lua_newuserdatauv, its metatable has __gc that stops the work;
** - uv handles it owns are malloc'd and freed by their close callback, which
**   touches nothing else (the userdata may be gone by then);
** - regsh_op_begin pins the userdata while libuv or curl still uses it;
** - progress (a chunk, a line) calls regsh_op_notify, the end regsh_op_finish;
** - cancel() stops the work and must lead to regsh_op_finish.
*/
#ifndef REGSH_LOOP_H
#define REGSH_LOOP_H

#include <lua.h>
#include <uv.h>

typedef struct regsh_loop regsh_loop;
typedef struct regsh_op regsh_op;

struct regsh_op {
  regsh_loop *loop;
  regsh_op *next_ready;             /* link in the loop's ready list */
  void (*cancel)(regsh_op *op);     /* stop the work; NULL: not cancellable */
  int ref;                          /* registry ref pinning the userdata */
  unsigned char queued;             /* on the ready list */
  unsigned char active;             /* begun and not finished */
};

/* [-0, +0, m] the loop of this state, created on first use */
regsh_loop *regsh_loop_of(lua_State *L);
uv_loop_t *regsh_loop_uv(regsh_loop *loop);

/* [-0, +0, m] start op (the userdata at idx): pin it and mark it active */
void regsh_op_begin(lua_State *L, int idx, regsh_op *op,
                    void (*cancel)(regsh_op *op));
/* [-0, +0, -] the op has news for Lua. Calls no Lua: safe in C callbacks,
** and in C functions called from Lua (cancel, close). Inside uv_run it
** stops the loop, so that run() returns without waiting for more events */
void regsh_op_notify(regsh_op *op);
/* [-0, +0, -] the op is done; unpinned once handed to Lua. Same rules */
void regsh_op_finish(regsh_op *op);

/* async-signal-safe: wake the loop and make the current run() return */
void regsh_loop_interrupt(regsh_loop *loop);

/* the signal (SIGINT, SIGTERM) of the interrupt last raised in Lua, or 0;
** forget: clear it. main.c turns it into the exit status 128+signal */
int regsh_loop_raised(regsh_loop *loop, int forget);

int luaopen_regsh_core_loop(lua_State *L);

#endif
