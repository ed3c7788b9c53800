/*
** proc_options.h: the seam between regsh.core.proc (proc.c: the child on the
** loop, its pipes and its end) and proc_options.c, which reads spawn's argv
** and options table before anything is acquired. Internal to the proc module.
*/
#ifndef REGSH_PROC_OPTIONS_H
#define REGSH_PROC_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

/* what happens to the child's stdout or stderr */
enum { MODE_CAPTURE, MODE_LINES, MODE_INHERIT, MODE_NULL, MODE_STDOUT };

/* Everything spawn takes from its arguments, read and checked before the
** first resource is acquired: a misuse raises with nothing to undo. */
typedef struct {
  char **args;                /* NULL-ended; on the stack, anchored */
  char **env;                 /* NULL-ended, or NULL to inherit ours */
  const char *cwd;
  const char *input;          /* stdin data or NULL; opts.stdin keeps it */
  size_t input_len;
  int out_mode, err_mode;
  uint64_t timeout_ms, grace_ms;  /* timeout_ms 0: none */
  size_t max_output;
  int detached;               /* the child outlives its handle */
} SpawnOptions;

/* [-0, +3, v] read spawn(argv, opts) (stack slots 1 and 2) into o. Pushes
** what keeps its strings alive: an anchor table, args, env (or nil). A
** misuse raises. */
void proc_read_spawn_options(lua_State *L, SpawnOptions *o);

#endif
