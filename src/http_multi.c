/*
** http_multi.c: libcurl's multi_socket API driven by the state's libuv loop,
** for http.c. Sockets curl wants watched become uv_polls, curl's one timeout
** a uv_timer; a finished transfer finishes its request's op. Also the pool
** of easy handles kept for reuse. Plain C below the Lua entry points: curl
** and libuv call in here, and no Lua runs under them (see loop.h).
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "http_multi.h"

#define MULTI_TYPE "regsh.http.multi"

#define DEFAULT_IDLE_CONNECTIONS 64
/* idle transfers kept for reuse */
#define FREE_TRANSFERS_MAX       64

static const char MULTI_KEY = 'M';  /* registry key: the address */

/* A socket curl wants watched; the loop's close walk frees it by address. */
typedef struct SocketPoll {
  uv_poll_t handle;             /* first: regsh_close_handle frees it all */
  Multi *multi;                 /* NULL once the multi is gone */
  curl_socket_t fd;
  struct SocketPoll *prev, *next;
} SocketPoll;

struct Multi {
  CURLM *multi;                 /* NULL: closed */
  uv_loop_t *uv;
  uv_timer_t *timer;            /* malloc'd; curl's single timeout */
  SocketPoll *polls;            /* live poll handles */
  Request *requests;            /* requests holding a transfer */
  Transfer *free_list;
  int nfree;
};


/*
** {======================================================
** Transfers: plain C, callable from curl's callbacks
** =======================================================
*/

/* keep small buffers for the next request, give big ones back */
static void buffer_trim (regsh_buffer *b) {
  if (b->cap > KEEP_BUFFER_MAX) regsh_buffer_free(b);
  b->len = 0;
}

static void transfer_destroy (Transfer *t) {
  curl_slist_free_all(t->headers);
  if (t->easy) curl_easy_cleanup(t->easy);
  regsh_buffer_free(&t->body);
  regsh_buffer_free(&t->head);
  free(t);
}

/* a transfer that is in no multi, back to the free list (or freed) */
static void transfer_release (Multi *m, Transfer *t) {
  curl_slist_free_all(t->headers);
  t->headers = NULL;
  if (m == NULL || m->multi == NULL || m->nfree >= FREE_TRANSFERS_MAX) {
    transfer_destroy(t);
    return;
  }
  curl_easy_reset(t->easy);
  buffer_trim(&t->body);
  buffer_trim(&t->head);
  t->next_free = m->free_list;
  m->free_list = t;
  m->nfree++;
}

static Transfer *transfer_acquire (Multi *m) {
  Transfer *t = m->free_list;
  if (t) {
    m->free_list = t->next_free;
    m->nfree--;
    t->next_free = NULL;
    return t;
  }
  t = (Transfer *)calloc(1, sizeof(*t));
  if (t == NULL) return NULL;
  t->easy = curl_easy_init();
  if (t->easy == NULL) {
    free(t);
    return NULL;
  }
  return t;
}

/* }====================================================== */


/*
** {======================================================
** Requests: attach to and detach from the multi
** =======================================================
*/

static void close_output (Request *r) {
  if (r->fd >= 0) {
    if (close(r->fd) != 0 && r->fail == FAIL_NONE) {
      r->fail = FAIL_WRITE;
      r->write_errno = errno;
    }
    r->fd = -1;
  }
}

static void remove_from_multi (Request *r) {
  if (r->in_multi) {
    r->in_multi = 0;
    curl_multi_remove_handle(r->multi->multi, r->xfer->easy);
  }
}

int http_request_attach (Multi *m, Request *r) {
  r->xfer = transfer_acquire(m);
  if (r->xfer == NULL) return 0;
  r->xfer->error[0] = '\0';
  r->multi = m;
  r->next = m->requests;
  if (m->requests) m->requests->prev = r;
  m->requests = r;
  return 1;
}

int http_request_start (Request *r) {
  if (curl_multi_add_handle(r->multi->multi, r->xfer->easy) != CURLM_OK)
    return 0;
  r->in_multi = 1;
  return 1;
}

void http_request_close (Request *r) {
  Multi *m = r->multi;
  if (r->xfer) {
    remove_from_multi(r);
    transfer_release(m, r->xfer);
    r->xfer = NULL;
    if (r->prev) r->prev->next = r->next;
    else if (m) m->requests = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
  }
  close_output(r);
  r->multi = NULL;
}

void http_request_done (Request *r, CURLcode code) {
  r->code = code;
  remove_from_multi(r);
  close_output(r);
  regsh_op_finish(&r->op);
}

/* }====================================================== */


/*
** {======================================================
** curl's sockets and timer on the loop: C only, never Lua (see loop.h)
** =======================================================
*/

static void check_done (Multi *m) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
    Request *r = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    /* msg is invalid once its handle is removed, so read the result first */
    if (r) http_request_done(r, msg->data.result);
  }
}

static void on_poll (uv_poll_t *h, int status, int events) {
  SocketPoll *p = (SocketPoll *)h;
  Multi *m = p->multi;
  int flags = 0, running;
  if (m == NULL || m->multi == NULL) return;
  if (status < 0) flags |= CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(m->multi, p->fd, flags, &running);
  check_done(m);
}

static void on_timer (uv_timer_t *h) {
  Multi *m = (Multi *)h->data;
  int running;
  if (m == NULL || m->multi == NULL) return;
  curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(m);
}

static void poll_close (Multi *m, SocketPoll *p) {
  if (p->prev) p->prev->next = p->next;
  else m->polls = p->next;
  if (p->next) p->next->prev = p->prev;
  p->multi = NULL;
  uv_poll_stop(&p->handle);
  regsh_close_handle(&p->handle);
}

/* CURLMOPT_SOCKETFUNCTION: keep one uv_poll per socket curl cares about */
static int on_socket (CURL *easy, curl_socket_t fd, int what, void *ud,
                      void *socketp) {
  Multi *m = (Multi *)ud;
  SocketPoll *p = (SocketPoll *)socketp;
  int events = 0;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (p) {
      curl_multi_assign(m->multi, fd, NULL);
      poll_close(m, p);
    }
    return 0;
  }
  if (p == NULL) {
    p = (SocketPoll *)malloc(sizeof(*p));
    if (p == NULL) return -1;
    if (uv_poll_init_socket(m->uv, &p->handle, fd) != 0) {
      free(p);  /* never initialised, so not the loop's to close */
      return -1;
    }
    p->multi = m;
    p->fd = fd;
    p->prev = NULL;
    p->next = m->polls;
    if (m->polls) m->polls->prev = p;
    m->polls = p;
    curl_multi_assign(m->multi, fd, p);
  }
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  if (uv_poll_start(&p->handle, events, on_poll) != 0) return -1;
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl's next timeout, -1 for none */
static int on_timeout (CURLM *multi, long ms, void *ud) {
  Multi *m = (Multi *)ud;
  (void)multi;
  if (m->timer == NULL) return 0;
  if (ms < 0) uv_timer_stop(m->timer);
  else uv_timer_start(m->timer, on_timer, (uint64_t)ms, 0);
  return 0;
}

/* }====================================================== */


/*
** {======================================================
** The multi handle of a Lua state
** =======================================================
*/

/* Also runs at lua_close, maybe before requests' own __gc: detach them. */
static int multi_gc (lua_State *L) {
  Multi *m = (Multi *)luaL_checkudata(L, 1, MULTI_TYPE);
  if (m->multi) {
    while (m->requests) {
      Request *r = m->requests;
      m->requests = r->next;
      remove_from_multi(r);
      transfer_destroy(r->xfer);
      r->xfer = NULL;
      r->prev = r->next = NULL;
      close_output(r);
      r->multi = NULL;
    }
    while (m->free_list) {
      Transfer *t = m->free_list;
      m->free_list = t->next_free;
      transfer_destroy(t);
    }
    m->nfree = 0;
    curl_multi_cleanup(m->multi);  /* may still report sockets to remove */
    m->multi = NULL;
  }
  while (m->polls) poll_close(m, m->polls);
  if (m->timer) {
    m->timer->data = NULL;
    uv_timer_stop(m->timer);
    regsh_close_handle(m->timer);
    m->timer = NULL;
  }
  return 0;
}

void http_multi_init (lua_State *L) {
  regsh_newclass(L, MULTI_TYPE, multi_gc, NULL, NULL, 0);
  lua_pop(L, 1);
}

Multi *http_multi_of (lua_State *L) {
  Multi *m;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &MULTI_KEY) == LUA_TUSERDATA) {
    m = (Multi *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return m;
  }
  lua_pop(L, 1);
  m = (Multi *)lua_newuserdatauv(L, sizeof(*m), 0);
  memset(m, 0, sizeof(*m));
  luaL_setmetatable(L, MULTI_TYPE);
  m->uv = regsh_loop_uv(regsh_loop_of(L));
  m->timer = (uv_timer_t *)malloc(sizeof(uv_timer_t));
  if (m->timer == NULL) luaL_error(L, "out of memory");
  uv_timer_init(m->uv, m->timer);
  m->timer->data = m;
  m->multi = curl_multi_init();
  if (m->multi == NULL) luaL_error(L, "cannot create a curl multi handle");
  curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
  curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
  curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
  curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  /* curl's default cache is 4 per transfer in progress: between two waves
  ** of requests it would close idle connections the next wave wants */
  curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, (long)DEFAULT_IDLE_CONNECTIONS);
  /* kept only once complete; on an error above, __gc tidies up */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &MULTI_KEY);
  return m;
}

CURLM *http_multi_curl (Multi *m) {
  return m->multi;
}

/* }====================================================== */
