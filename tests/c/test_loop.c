/*
** test_loop.c: C-level checks of the op ready list in src/loop.c, the part
** of the loop contract that Lua cannot observe directly: a notified op is
** queued once however often it is notified, stays pinned while active, and
** is unpinned once a finished op has been handed to Lua.
*/
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "host.h"
#include "loop.h"
#include "util.h"

/* assert() vanishes under NDEBUG (release builds): this check never does */
#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    return 1; } } while (0)

typedef struct {
  regsh_op op;
  int cancelled;
} TestOp;

static void test_cancel (regsh_op *op) {
  ((TestOp *)op)->cancelled = 1;
  regsh_op_finish(op);
}

static TestOp *newop (lua_State *L) {
  TestOp *t = (TestOp *)lua_newuserdatauv(L, sizeof(*t), 0);
  memset(t, 0, sizeof(*t));
  regsh_newclass(L, "test.op", NULL, NULL, NULL, REGSH_CLASS_OP);
  lua_setmetatable(L, -2);
  regsh_op_begin(L, -1, &t->op, test_cancel);
  return t;
}

/* run the loop once without blocking; returns how many ops came back */
static int run_nowait (lua_State *L) {
  int n;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "regsh.core.loop");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "run");
  lua_pushliteral(L, "nowait");
  lua_call(L, 1, 3);
  n = (int)lua_tointeger(L, -3);
  lua_pop(L, 4);
  return n;
}

int main (void) {
  lua_State *L = regsh_host_new(0);
  TestOp *a, *b;
  int ref;
  CHECK(L != NULL);

  a = newop(L);
  b = newop(L);
  lua_pop(L, 2);
  CHECK(a->op.active && b->op.active);
  CHECK(a->op.ref != LUA_NOREF);

  /* nothing notified: nothing comes back */
  CHECK(run_nowait(L) == 0);

  /* notified twice while queued: handed over once, still pinned */
  regsh_op_notify(&b->op);
  regsh_op_notify(&b->op);
  regsh_op_notify(&a->op);
  CHECK(run_nowait(L) == 2);
  CHECK(b->op.ref != LUA_NOREF && b->op.active);

  /* finished: handed over once more, then unpinned */
  ref = a->op.ref;
  regsh_op_finish(&a->op);
  regsh_op_finish(&a->op);  /* a second finish is ignored */
  CHECK(run_nowait(L) == 1);
  CHECK(a->op.ref == LUA_NOREF && !a->op.active);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  CHECK(lua_touserdata(L, -1) != a);  /* the slot no longer holds it */
  lua_pop(L, 1);

  /* cancel goes through the op's own cancel function */
  b->op.cancel(&b->op);
  CHECK(b->cancelled && !b->op.active);
  CHECK(run_nowait(L) == 1);
  regsh_op_notify(&b->op);  /* news after the end is queued but harmless */
  CHECK(run_nowait(L) == 1);

  regsh_host_close(L);
  printf("test_loop: all checks passed\n");
  return 0;
}
