/*
** proc.c: regsh.core.proc, child processes on the libuv loop. A child runs in
** a session (and process group) of its own, with its output captured into
** capped buffers or cut into lines for lua/regsh/proc.lua to hand to callbacks;
** a timeout sends SIGTERM to the group, then SIGKILL after a grace period.
** reap_orphans() makes regsh a child subreaper that reaps the orphans
** re-parented to it (as PID 1 in a container too): never libuv's children.
** The op contract is in loop.h; proc_options.c reads spawn's arguments;
** proc.lua is the public face (wait, callbacks).
*/
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>

#include "loop.h"
#include "proc_options.h"
#include "util.h"

#define PROC_TYPE "regsh.proc"

#define READ_CHUNK   (64 * 1024)          /* the most one read takes */
#define LINE_LIMIT   (1024 * 1024)        /* a longer line is cut here */
#define PAUSE_AT     (1024 * 1024)        /* lines Lua has not taken: stop reading */

int luaopen_regsh_core_proc(lua_State *L);

typedef struct {
  uv_pipe_t *pipe;            /* malloc'd; NULL before opening and after EOF */
  regsh_buffer buf;           /* captured bytes, or lines not yet taken */
  size_t lines_end;           /* lines mode: data[0..lines_end) is whole lines */
  size_t limit;               /* capture mode: bytes kept, the rest is dropped */
  int mode;
  int truncated;              /* capture mode: something was dropped */
  int paused;                 /* lines mode: reading stopped until Lua takes */
} Output;

typedef struct {
  regsh_op op;
  uv_process_t *process;      /* malloc'd; NULL once the child is reaped */
  uv_timer_t *timer;          /* the timeout, then the grace period */
  uv_poll_t *input_poll;      /* waits until stdin can take more */
  int input_fd;               /* our end of the child's stdin, or -1 */
  int child_fd[3];            /* the child's ends, ours until uv_spawn is done */
  int parent_fd[3];           /* our ends, until a uv_pipe_t owns them */
  const char *input;          /* stdin data, kept alive by user value 1 */
  size_t input_len, input_sent;
  Output out, err;
  uint64_t timeout_ms, grace_ms;  /* timeout_ms 0: none */
  uint64_t kill_at;           /* loop time of the SIGKILL once terminating */
  int pid;                    /* 0 until spawned */
  int exited;                 /* reaped: exit_status and term_signal are set */
  int64_t exit_status;
  int term_signal;
  int terminating;            /* SIGTERM sent, SIGKILL due when the timer fires */
  int hard_killed;            /* SIGKILL sent after the grace period */
  int timed_out;
  int closed;                 /* no child (yet, or any more): methods raise */
  int detached;               /* closing the handle leaves the child running */
} Proc;


/*
** {======================================================
** Signal names: what kill() takes and what a result reports
** =======================================================
*/

/* [-0, +1, m] the name of signal sig ("SIG34" for one without a name) */
static void pushsignal (lua_State *L, int sig) {
  const char *name = regsh_signal_name(sig);
  if (name) lua_pushstring(L, name);
  else lua_pushfstring(L, "SIG%d", sig);
}

/* a signal given by name ("SIGTERM") or number; def when absent */
static int checksignal (lua_State *L, int arg, int def) {
  const char *name;
  int sig;
  if (lua_isnoneornil(L, arg)) return def;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, arg);
    luaL_argcheck(L, n >= 1 && n <= 64, arg, "signal number out of range");
    return (int)n;
  }
  name = luaL_checkstring(L, arg);
  if ((sig = regsh_signal_number(name)) != 0) return sig;
  return luaL_argerror(L, arg, lua_pushfstring(L, "unknown signal '%s'", name));
}

/* }====================================================== */


/*
** {======================================================
** Handles and the end of a run
** =======================================================
*/

static void close_fd (int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

/* signal the child's process group; never with pid 0, which would make it
** kill(0, sig): regsh's own group */
static int killgroup (Proc *p, int sig) {
  if (p->pid <= 0) {
    errno = ESRCH;
    return -1;
  }
  return kill(-p->pid, sig);
}

/*
** {======================================================
** Orphans: the zombies of processes re-parented to us
** =======================================================
*/

/* The pids libuv waits for (our spawned children until reaped): libuv reaps
** each with waitpid(pid), so the orphan reaper must leave them alone. Pids
** are the process's, not a Lua state's: one set per process. */
static pid_t *owned_pids;
static size_t owned_len, owned_cap;

static void owned_add (pid_t pid) {
  if (owned_len == owned_cap) {
    size_t cap = owned_cap ? owned_cap * 2 : 16;
    pid_t *grown = (pid_t *)realloc(owned_pids, cap * sizeof(pid_t));
    if (grown == NULL) return;  /* then its zombie may be reaped by us: harmless */
    owned_pids = grown;
    owned_cap = cap;
  }
  owned_pids[owned_len++] = pid;
}

static void owned_remove (pid_t pid) {
  for (size_t i = 0; i < owned_len; i++) {
    if (owned_pids[i] == pid) {
      owned_pids[i] = owned_pids[--owned_len];
      return;
    }
  }
}

static int owned_has (pid_t pid) {
  for (size_t i = 0; i < owned_len; i++)
    if (owned_pids[i] == pid) return 1;
  return 0;
}

static uv_signal_t *orphan_watcher;  /* SIGCHLD, once reap_orphans() ran */
static lua_Integer orphans_reaped;

/* Reap every zombie child that is not libuv's and is outside our session:
** a child we forked without a session of its own (io.popen, os.execute)
** is waited for by whoever forked it, and stays theirs. */
static void reap_orphans_now (void) {
  pid_t me = getpid(), session = getsid(0);
  DIR *dir = opendir("/proc");
  struct dirent *entry;
  if (dir == NULL) return;
  while ((entry = readdir(dir)) != NULL) {
    char path[300], buf[512], *paren, state;
    int pid, ppid, sid, status;
    FILE *f;
    size_t n;
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    snprintf(path, sizeof(path), "/proc/%s/stat", entry->d_name);
    if ((f = fopen(path, "r")) == NULL) continue;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ppid pgrp session ...": the last ')' ends comm */
    if ((paren = strrchr(buf, ')')) == NULL) continue;
    if (sscanf(paren + 1, " %c %d %*d %d", &state, &ppid, &sid) != 3) continue;
    pid = atoi(entry->d_name);
    if (state != 'Z' || ppid != me || sid == session || owned_has(pid)) continue;
    if (waitpid(pid, &status, WNOHANG) == pid) orphans_reaped++;
  }
  closedir(dir);
}

static void orphan_cb (uv_signal_t *h, int signum) {
  (void)h; (void)signum;
  reap_orphans_now();
}

/* [-0, +0, -] the state closes: stop watching SIGCHLD (before the loop goes) */
static int reaper_gc (lua_State *L) {
  (void)L;
  if (orphan_watcher) {
    uv_signal_stop(orphan_watcher);
    regsh_close_handle(orphan_watcher);
    orphan_watcher = NULL;
  }
  return 0;
}

/* reap_orphans() -> the number of orphans reaped so far: make this process
** a child subreaper (orphaned descendants come to us, not to init) and reap
** them as they end, on each SIGCHLD. Idempotent. */
static int proc_reap_orphans (lua_State *L) {
  if (orphan_watcher == NULL) {
    uv_loop_t *uv = regsh_loop_uv(regsh_loop_of(L));
    uv_signal_t *h = (uv_signal_t *)malloc(sizeof(uv_signal_t));
    int r;
    if (h == NULL) return luaL_error(L, "not enough memory");
    if ((r = uv_signal_init(uv, h)) != 0) {
      free(h);
      return regsh_fail_errno(L, -r, "cannot watch SIGCHLD");
    }
    if ((r = uv_signal_start(h, orphan_cb, SIGCHLD)) != 0) {
      regsh_close_handle(h);
      return regsh_fail_errno(L, -r, "cannot watch SIGCHLD");
    }
    uv_unref((uv_handle_t *)h);  /* it must not keep the loop alive */
    orphan_watcher = h;
    /* closed by a registry userdata's __gc, which runs before the loop's */
    lua_newuserdatauv(L, 0, 0);
    regsh_newclass(L, "regsh.proc.reaper", reaper_gc, NULL, NULL, 0);
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, (void *)&orphan_watcher);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 && getpid() != 1)
      return regsh_fail_errno(L, errno, "cannot become a child subreaper");
  }
  reap_orphans_now();  /* those that ended before we watched */
  lua_pushinteger(L, orphans_reaped);
  return 1;
}

/* }====================================================== */


static void output_close (Output *o) {
  if (o->pipe) {
    uv_read_stop((uv_stream_t *)o->pipe);
    regsh_close_handle(o->pipe);
    o->pipe = NULL;
  }
}

static void input_close (Proc *p) {
  if (p->input_poll) {
    uv_poll_stop(p->input_poll);
    regsh_close_handle(p->input_poll);
    p->input_poll = NULL;
  }
  close_fd(&p->input_fd);  /* after the poll handle stopped, as libuv asks */
}

static void timer_close (Proc *p) {
  if (p->timer) {
    uv_timer_stop(p->timer);
    regsh_close_handle(p->timer);
    p->timer = NULL;
  }
}

/* Whether the child's process group still has a live member. kill(-pgid, 0)
** alone counts zombies, and orphans stay zombies where PID 1 does not reap
** (many containers): then look in /proc for a member that is not one. */
static int group_alive (Proc *p) {
  DIR *dir;
  struct dirent *entry;
  int alive = 0;
  if (killgroup(p, 0) != 0) return errno == EPERM;
  if ((dir = opendir("/proc")) == NULL) return 1;
  while (!alive && (entry = readdir(dir)) != NULL) {
    char path[300], buf[512], *paren;
    char state;
    int group;
    FILE *f;
    size_t n;
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    snprintf(path, sizeof(path), "/proc/%s/stat", entry->d_name);
    if ((f = fopen(path, "r")) == NULL) continue;  /* gone meanwhile */
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ppid pgrp ...": comm may hold anything, so the last ')' */
    if ((paren = strrchr(buf, ')')) == NULL) continue;
    if (sscanf(paren + 1, " %c %*d %d", &state, &group) == 2 &&
        group == p->pid && state != 'Z' && state != 'X')
      alive = 1;
  }
  closedir(dir);
  return alive;
}

static void timer_cb (uv_timer_t *h);

/* The run is over when the child is reaped and its output pipes are at
** EOF (a grandchild holding them keeps it going). After a SIGTERM, also
** wait for the group to empty, or for the grace period to end in SIGKILL:
** members may still be on their way out, so look again every few ms. */
static void check_done (Proc *p) {
  if (!p->op.active || !p->exited || p->out.pipe || p->err.pipe) return;
  if (p->terminating && !p->hard_killed && p->timer && group_alive(p)) {
    uint64_t now = uv_now(regsh_loop_uv(p->op.loop));
    uint64_t left = p->kill_at > now ? p->kill_at - now : 0;
    uv_timer_start(p->timer, timer_cb, left < 20 ? left : 20, 0);
    return;
  }
  timer_close(p);
  input_close(p);
  regsh_op_finish(&p->op);
}

/* SIGTERM to the whole group now, SIGKILL when the grace period is over */
static void terminate (Proc *p) {
  uv_loop_t *uv = regsh_loop_uv(p->op.loop);
  p->terminating = 1;
  killgroup(p, SIGTERM);
  uv_update_time(uv);  /* we may be called from Lua, long after the last turn */
  p->kill_at = uv_now(uv) + p->grace_ms;
  if (p->timer) uv_timer_start(p->timer, timer_cb, p->grace_ms, 0);
  else {
    killgroup(p, SIGKILL);
    p->hard_killed = 1;
  }
}

static void timer_cb (uv_timer_t *h) {
  Proc *p = (Proc *)h->data;
  if (!p->terminating) {
    p->timed_out = 1;
    terminate(p);
  }
  else if (uv_now(h->loop) >= p->kill_at) {
    killgroup(p, SIGKILL);
    p->hard_killed = 1;
    check_done(p);
  }
  else check_done(p);  /* a second look at the group (see check_done) */
}

/* a task waiting on the process was cancelled: end the process like a
** timeout would; the op finishes once the child is reaped */
static void proc_cancel (regsh_op *op) {
  Proc *p = (Proc *)op;
  if (!p->terminating) terminate(p);
}

static void exit_cb (uv_process_t *h, int64_t exit_status, int term_signal) {
  Proc *p = (Proc *)h->data;
  p->exited = 1;
  p->exit_status = exit_status;
  p->term_signal = term_signal;
  regsh_close_handle(h);
  p->process = NULL;
  owned_remove(p->pid);  /* libuv reaped it */
  check_done(p);
}

/* Let go of everything; a child still running is killed with its group and
** reaped here, so no zombie and no stray process outlives its handle. */
static void release (Proc *p) {
  if (p->process && p->detached) {
    /* let it run on: libuv forgets it, and whoever outlives regsh reaps it
    ** (or we do now, if it has ended already) */
    int status;
    regsh_close_handle(p->process);
    p->process = NULL;
    while (waitpid(p->pid, &status, WNOHANG) == -1 && errno == EINTR) {}
    owned_remove(p->pid);  /* an orphan reaper may reap it when it ends */
  }
  else if (p->process) {
    int status;
    killgroup(p, SIGKILL);
    regsh_close_handle(p->process);  /* libuv forgets the pid: we reap it */
    p->process = NULL;
    while (waitpid(p->pid, &status, 0) == -1 && errno == EINTR) {}
    owned_remove(p->pid);
  }
  else if (p->op.active && !p->detached)
    killgroup(p, SIGKILL);  /* the leader is gone, members hold the pipes */
  output_close(&p->out);
  output_close(&p->err);
  input_close(p);
  timer_close(p);
  for (int i = 0; i < 3; i++) {
    close_fd(&p->child_fd[i]);
    close_fd(&p->parent_fd[i]);
  }
  regsh_buffer_free(&p->out.buf);
  regsh_buffer_free(&p->err.buf);
  memset(&p->out, 0, sizeof(p->out));
  memset(&p->err, 0, sizeof(p->err));
  p->input = NULL;
  if (p->op.active) regsh_op_finish(&p->op);
  p->closed = 1;
}

/* }====================================================== */


/*
** {======================================================
** Output: captured up to a limit, or cut into lines for Lua
** =======================================================
*/

static Output *output_of (uv_handle_t *h) {
  Proc *p = (Proc *)h->data;
  return (uv_handle_t *)p->out.pipe == h ? &p->out : &p->err;
}

static void alloc_cb (uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  Output *o = output_of(h);
  (void)suggested;
  /* room for a read at data + len; one byte more so a cut line or the last
  ** line at EOF can get its '\n' */
  /* past the limit the same tail is reused: those bytes are dropped */
  if (regsh_buffer_reserve(&o->buf, READ_CHUNK + 1))
    *buf = uv_buf_init(o->buf.data + o->buf.len, READ_CHUNK);
  else *buf = uv_buf_init(NULL, 0);  /* read_cb gets UV_ENOBUFS */
}

/* lines mode: the bytes read make whole lines up to the last '\n' */
static void output_lines (Proc *p, Output *o, size_t from) {
  size_t end = o->buf.len;
  while (end > from && o->buf.data[end - 1] != '\n') end--;
  if (end > from) o->lines_end = end;
  else if (o->buf.len - o->lines_end >= LINE_LIMIT) {
    o->buf.data[o->buf.len++] = '\n';  /* a line too long to hold: cut it here */
    o->lines_end = o->buf.len;
  }
  else return;
  regsh_op_notify(&p->op);
  if (o->lines_end >= PAUSE_AT && !o->paused) {
    uv_read_stop((uv_stream_t *)o->pipe);  /* the child blocks until Lua takes */
    o->paused = 1;
  }
}

static void read_cb (uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  Proc *p = (Proc *)s->data;
  Output *o = output_of((uv_handle_t *)s);
  (void)buf;
  if (nread > 0) {
    size_t n = (size_t)nread;
    if (o->mode == MODE_CAPTURE) {
      size_t room = o->buf.len < o->limit ? o->limit - o->buf.len : 0;
      if (n > room) {
        n = room;
        o->truncated = 1;
      }
      o->buf.len += n;
    }
    else {
      o->buf.len += n;
      output_lines(p, o, o->buf.len - n);
    }
  }
  else if (nread < 0) {  /* EOF, or an error that ends the stream all the same */
    if (nread == UV_ENOBUFS) o->truncated = 1;
    if (o->mode == MODE_LINES && o->buf.len > o->lines_end) {
      o->buf.data[o->buf.len++] = '\n';  /* the last line had none */
      o->lines_end = o->buf.len;
      regsh_op_notify(&p->op);
    }
    output_close(o);
    check_done(p);
  }
}

/* [-0, +1, m] the whole lines read so far (nil if none); reading resumes */
static void output_take (lua_State *L, Output *o) {
  if (o->mode != MODE_LINES || o->lines_end == 0) {
    lua_pushnil(L);
    return;
  }
  lua_pushlstring(L, o->buf.data, o->lines_end);
  memmove(o->buf.data, o->buf.data + o->lines_end, o->buf.len - o->lines_end);
  o->buf.len -= o->lines_end;
  o->lines_end = 0;
  if (o->paused) {
    o->paused = 0;
    if (o->pipe) uv_read_start((uv_stream_t *)o->pipe, alloc_cb, read_cb);
  }
}

/* [-0, +1, m] what a captured stream gave (nil for the other modes) */
static void output_push (lua_State *L, Output *o) {
  if (o->mode == MODE_CAPTURE)
    lua_pushlstring(L, o->buf.data ? o->buf.data : "", o->buf.len);
  else lua_pushnil(L);
}

/* }====================================================== */


/*
** {======================================================
** Input: the stdin data, written as the child reads it. send() with
** MSG_NOSIGNAL, not uv_write: a child that exits without reading must
** give us EPIPE, not a SIGPIPE that kills regsh.
** =======================================================
*/

static void input_write (Proc *p);

static void input_poll_cb (uv_poll_t *h, int status, int events) {
  Proc *p = (Proc *)h->data;
  (void)events;
  if (status < 0) input_close(p);
  else input_write(p);
}

static void input_write (Proc *p) {
  while (p->input_sent < p->input_len) {
    ssize_t n = send(p->input_fd, p->input + p->input_sent,
                     p->input_len - p->input_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) p->input_sent += (size_t)n;
    else if (errno == EINTR) continue;
    else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (p->input_poll == NULL) {
        uv_poll_t *h = (uv_poll_t *)malloc(sizeof(uv_poll_t));
        if (h == NULL || uv_poll_init(regsh_loop_uv(p->op.loop), h,
                                      p->input_fd) != 0) {
          free(h);  /* not initialised: not for uv_close */
          break;
        }
        h->data = p;
        p->input_poll = h;
        uv_poll_start(h, UV_WRITABLE, input_poll_cb);
      }
      return;
    }
    else break;  /* EPIPE and the like: the child wants no more */
  }
  input_close(p);  /* the child reads EOF */
}

/* }====================================================== */


/*
** {======================================================
** Spawning
** =======================================================
*/

static Proc *newproc (lua_State *L) {
  /* born closed (liolib's newprefile): __gc is safe whatever fails next */
  Proc *p = (Proc *)lua_newuserdatauv(L, sizeof(Proc), 2);
  memset(p, 0, sizeof(*p));
  p->closed = 1;
  p->input_fd = -1;
  for (int i = 0; i < 3; i++) p->child_fd[i] = p->parent_fd[i] = -1;
  p->op.ref = LUA_NOREF;
  luaL_setmetatable(L, PROC_TYPE);
  return p;
}

/* our end and the child's end of a new socket pair for stdio slot i */
static int makepair (Proc *p, int i) {
  int fds[2];
  int r = uv_socketpair(SOCK_STREAM, 0, fds, UV_NONBLOCK_PIPE, 0);
  if (r != 0) return r;
  p->parent_fd[i] = fds[0];
  p->child_fd[i] = fds[1];
  return 0;
}

/* point stdio slot i at what its mode asks for */
static int setupslot (Proc *p, uv_stdio_container_t *slot, int i, int mode) {
  int r = 0;
  switch (mode) {
    case MODE_CAPTURE: case MODE_LINES:
      if ((r = makepair(p, i)) == 0) {
        slot->flags = UV_INHERIT_FD;
        slot->data.fd = p->child_fd[i];
      }
      break;
    case MODE_INHERIT:
      slot->flags = UV_INHERIT_FD;
      slot->data.fd = i;
      break;
    case MODE_STDOUT:
      *slot = slot[-1];  /* 2>&1 */
      break;
    default:
      slot->flags = UV_IGNORE;  /* libuv opens /dev/null */
  }
  return r;
}

static int startoutput (lua_State *L, Proc *p, Output *o, int i) {
  uv_pipe_t *h;
  int r;
  if (o->mode != MODE_CAPTURE && o->mode != MODE_LINES) return 0;
  if ((h = (uv_pipe_t *)malloc(sizeof(uv_pipe_t))) == NULL) return UV_ENOMEM;
  uv_pipe_init(regsh_loop_uv(regsh_loop_of(L)), h, 0);
  h->data = p;
  o->pipe = h;
  if ((r = uv_pipe_open(h, p->parent_fd[i])) != 0) return r;
  p->parent_fd[i] = -1;  /* the pipe owns it now */
  return uv_read_start((uv_stream_t *)h, alloc_cb, read_cb);
}

/* the fail tuple for a child that did not start, naming the likelier cause */
static int spawnfail (lua_State *L, int r, const char *file, const char *cwd) {
  struct stat st;
  int cwd_error = 0;
  if (cwd) {  /* libuv reports a bad cwd as it does a bad program: tell them apart */
    if (stat(cwd, &st) != 0) cwd_error = uv_translate_sys_error(errno);
    else if (!S_ISDIR(st.st_mode)) cwd_error = UV_ENOTDIR;
    else if (access(cwd, X_OK) != 0) cwd_error = uv_translate_sys_error(errno);
  }
  if (cwd_error)
    return regsh_fail_errno(L, cwd_error, "cannot run '%s' in directory '%s'",
                            file, cwd);
  return regsh_fail_errno(L, r, "cannot run '%s'", file);
}

/* the child's stdio (and our ends of its pipes) as the options ask */
static int setupstdio (Proc *p, const SpawnOptions *o,
                       uv_stdio_container_t stdio[3]) {
  int r = 0;
  memset(stdio, 0, 3 * sizeof(*stdio));
  if (o->input && (r = makepair(p, 0)) == 0) {
    stdio[0].flags = UV_INHERIT_FD;
    stdio[0].data.fd = p->child_fd[0];
  }
  if (r == 0) r = setupslot(p, &stdio[1], 1, o->out_mode);
  if (r == 0) r = setupslot(p, &stdio[2], 2, o->err_mode);
  return r;
}

/*
** spawn(argv, opts) -> proc | nil, "CODE: message", "CODE"
** Starts the child; a child that cannot start is the fail tuple, a misuse
** raises. proc.lua documents the options.
*/
static int proc_spawn (lua_State *L) {
  SpawnOptions o;
  uv_process_options_t options;
  uv_stdio_container_t stdio[3];
  uv_loop_t *uv = regsh_loop_uv(regsh_loop_of(L));
  int r;
  Proc *p;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  memset(&o, 0, sizeof(o));
  proc_read_spawn_options(L, &o);    /* 3, 4, 5: anchors, args, env */

  p = newproc(L);                    /* 6: the handle */
  if (o.input) {
    lua_getfield(L, 2, "stdin");
    lua_setiuservalue(L, 6, 1);      /* keeps p->input alive */
    p->input = o.input;
    p->input_len = o.input_len;
  }
  p->out.mode = o.out_mode;
  p->err.mode = o.err_mode;
  p->out.limit = p->err.limit = o.max_output;
  p->timeout_ms = o.timeout_ms;
  p->grace_ms = o.grace_ms;
  memset(&options, 0, sizeof(options));
  options.args = o.args;
  options.file = o.args[0];
  options.env = o.env;
  options.cwd = o.cwd;
  options.exit_cb = exit_cb;
  options.flags = UV_PROCESS_DETACHED;  /* setsid: its own group to kill */
  options.stdio = stdio;
  options.stdio_count = 3;
  r = setupstdio(p, &o, stdio);
  if (r == 0 && (p->timer = (uv_timer_t *)malloc(sizeof(uv_timer_t))) == NULL)
    r = UV_ENOMEM;
  if (r == 0) {
    uv_timer_init(uv, p->timer);
    p->timer->data = p;
    if ((p->process = (uv_process_t *)malloc(sizeof(uv_process_t))) == NULL)
      r = UV_ENOMEM;
  }
  if (r == 0) {
    r = uv_spawn(uv, p->process, &options);
    if (r != 0) {
      regsh_close_handle(p->process);  /* libuv wants it closed even so */
      p->process = NULL;
    }
  }
  if (r != 0) {
    release(p);
    return spawnfail(L, r, options.file, o.cwd);
  }
  p->pid = p->process->pid;
  owned_add(p->pid);
  p->process->data = p;
  p->closed = 0;
  for (int i = 0; i < 3; i++) close_fd(&p->child_fd[i]);
  if (o.input) {
    p->input_fd = p->parent_fd[0];
    p->parent_fd[0] = -1;
  }
  if ((r = startoutput(L, p, &p->out, 1)) != 0 ||
      (r = startoutput(L, p, &p->err, 2)) != 0) {
    release(p);  /* kills and reaps the child */
    return regsh_fail_errno(L, r, "cannot read the output of '%s'", options.file);
  }
  p->detached = o.detached;  /* only now: a failed start above kills the child */
  regsh_op_begin(L, 6, &p->op, proc_cancel);
  if (o.input) input_write(p);
  if (o.timeout_ms) uv_timer_start(p->timer, timer_cb, o.timeout_ms, 0);
  return 1;
}

/* }====================================================== */


/*
** {======================================================
** The handle
** =======================================================
*/

static Proc *checkproc (lua_State *L, int idx) {
  Proc *p = (Proc *)luaL_checkudata(L, idx, PROC_TYPE);
  if (p->closed) luaL_error(L, "attempt to use a closed process");
  return p;
}

/* __gc, __close and close(): kill and reap a child still running; idempotent */
static int proc_close (lua_State *L) {
  Proc *p = (Proc *)luaL_checkudata(L, 1, PROC_TYPE);
  release(p);
  lua_pushboolean(L, 1);
  return 1;
}

/* p:kill([signal]) -> true | fail: signal the whole process group */
static int proc_kill (lua_State *L) {
  Proc *p = checkproc(L, 1);
  int sig = checksignal(L, 2, SIGTERM);
  if (!p->op.active)
    return regsh_fail(L, "ESRCH", "process %d has already finished", p->pid);
  if (killgroup(p, sig) != 0)
    return regsh_fail_errno(L, errno, "cannot signal process %d", p->pid);
  lua_pushboolean(L, 1);
  return 1;
}

/* signal(pid, signal) -> true | fail: signal one process that is not a
** child of ours (a `regsh serve` told to reload). Process ids are reused,
** so callers check the process's start time first (exec_container.start_time). */
static int proc_signal (lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  int sig = checksignal(L, 2, SIGTERM);
  luaL_argcheck(L, pid > 1 && pid <= INT_MAX, 1, "not a process id");
  if (kill((pid_t)pid, sig) != 0)
    return regsh_fail_errno(L, errno, "cannot signal process %d", (int)pid);
  lua_pushboolean(L, 1);
  return 1;
}

/* p:pid() -> the child's process id, which is also its process group's */
static int proc_pid (lua_State *L) {
  lua_pushinteger(L, checkproc(L, 1)->pid);
  return 1;
}

static int proc_tostring (lua_State *L) {
  Proc *p = (Proc *)luaL_checkudata(L, 1, PROC_TYPE);
  if (p->closed) lua_pushliteral(L, "regsh.proc (closed)");
  else lua_pushfstring(L, "regsh.proc (pid %d)", p->pid);
  return 1;
}

/* take(p) -> stdout lines, stderr lines: whole lines read since the last
** take, each ending in '\n' (nil where none); streams not in lines mode give
** nil. Reading paused for want of takers resumes. */
static int proc_take (lua_State *L) {
  Proc *p = checkproc(L, 1);
  output_take(L, &p->out);
  output_take(L, &p->err);
  return 2;
}

/* result(p) -> the result table once the run is over (the same table each
** time), nil before */
static int proc_result (lua_State *L) {
  Proc *p = checkproc(L, 1);
  if (p->op.active) return 0;
  if (lua_getiuservalue(L, 1, 2) == LUA_TTABLE) return 1;
  lua_createtable(L, 0, 8);
  if (p->term_signal) {
    pushsignal(L, p->term_signal);
    lua_setfield(L, -2, "signal");
  }
  else {
    lua_pushinteger(L, (lua_Integer)p->exit_status);
    lua_setfield(L, -2, "code");
  }
  lua_pushboolean(L, p->term_signal == 0 && p->exit_status == 0 && !p->timed_out);
  lua_setfield(L, -2, "ok");
  lua_pushboolean(L, p->timed_out);
  lua_setfield(L, -2, "timed_out");
  output_push(L, &p->out);
  lua_setfield(L, -2, "stdout");
  output_push(L, &p->err);
  lua_setfield(L, -2, "stderr");
  lua_pushboolean(L, p->out.truncated);
  lua_setfield(L, -2, "stdout_truncated");
  lua_pushboolean(L, p->err.truncated);
  lua_setfield(L, -2, "stderr_truncated");
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, 2);
  /* the strings hold the output now */
  regsh_buffer_free(&p->out.buf);
  regsh_buffer_free(&p->err.buf);
  return 1;
}

/* }====================================================== */


static const luaL_Reg proc_methods[] = {
  {"close", proc_close},
  {"kill", proc_kill},
  {"pid", proc_pid},
  {NULL, NULL}
};

static const luaL_Reg proc_metamethods[] = {
  {"__tostring", proc_tostring},
  {NULL, NULL}
};

static const luaL_Reg proc_funcs[] = {
  {"reap_orphans", proc_reap_orphans},
  {"result", proc_result},
  {"signal", proc_signal},
  {"spawn", proc_spawn},
  {"take", proc_take},
  {NULL, NULL}
};

/* The module has spawn, take, result and methods: the handle's method
** table, which proc.lua completes with wait (it needs the scheduler). */
int luaopen_regsh_core_proc (lua_State *L) {
  regsh_loop_of(L);  /* the loop must be older than any handle (see loop_gc) */
  luaL_newlib(L, proc_funcs);
  regsh_newclass(L, PROC_TYPE, proc_close, proc_metamethods, proc_methods,
                 REGSH_CLASS_OP);
  lua_getfield(L, -1, "__index");
  /* stack: module, metatable, methods */
  lua_setfield(L, -3, "methods");
  lua_pop(L, 1);
  return 1;
}
