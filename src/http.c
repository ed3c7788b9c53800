/*
** http.c: regsh.core.http, HTTP requests as ops on the state's libuv loop.
** One curl multi handle per Lua state, driven by curl's multi_socket API
** (sockets -> uv_poll, curl's timeout -> one uv_timer). lua/regsh/http.lua
** is the public face: it awaits the op and then asks it for its result.
*/
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <curl/curl.h>

#include "config.h"
#include "http_headers.h"
#include "loop.h"
#include "util.h"

#define MULTI_TYPE   "regsh.http.multi"
#define REQUEST_TYPE "regsh.http.request"

#define DEFAULT_TIMEOUT          60.0
#define DEFAULT_CONNECT_TIMEOUT  10.0
#define DEFAULT_MAX_BODY         (64 * 1024 * 1024)
#define DEFAULT_MAX_REDIRECTS    20
#define DEFAULT_IDLE_CONNECTIONS 64
/* on_data: pause the transfer while this much waits for Lua to take it */
#define STREAM_HIGH_WATER        (1024 * 1024)
/* idle transfers kept for reuse, and the buffer size they may keep */
#define FREE_TRANSFERS_MAX       64
#define KEEP_BUFFER_MAX          (256 * 1024)

static const char MULTI_KEY = 'M';  /* registry key: the address */

typedef struct Buffer {
  char *data;
  size_t len, cap;
} Buffer;

/* The reusable part of a request: an easy handle and its buffers. */
typedef struct Transfer {
  CURL *easy;
  struct curl_slist *headers;   /* request headers; freed when released */
  Buffer body;                  /* in-memory body, or on_data's backlog */
  Buffer head;                  /* raw header lines of the latest response */
  struct Transfer *next_free;
  char error[CURL_ERROR_SIZE];
} Transfer;

typedef struct Multi Multi;

enum { BODY_MEMORY, BODY_FILE, BODY_STREAM };
enum { FAIL_NONE, FAIL_CANCELED, FAIL_TOOBIG, FAIL_WRITE, FAIL_NOMEM };

typedef struct Request {
  regsh_op op;                  /* first: loop.h */
  Multi *multi;                 /* NULL once detached (multi collected) */
  Transfer *xfer;               /* NULL: closed */
  struct Request *prev, *next;  /* the multi's requests that hold a transfer */
  curl_off_t received;          /* body bytes accepted so far */
  curl_off_t max_body;          /* -1: no limit */
  CURLcode code;                /* curl's verdict once done */
  int fd;                       /* output file, or -1 */
  int write_errno;
  unsigned char mode;           /* BODY_* */
  unsigned char fail;           /* FAIL_*: a reason of ours, over curl's */
  unsigned char in_multi;       /* added to the multi and not removed */
  unsigned char paused;         /* on_data: paused at the high-water mark */
} Request;

/* A socket curl wants watched; the loop's close walk frees it by address. */
typedef struct SocketPoll {
  uv_poll_t handle;             /* first */
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
** Buffers and transfers: plain C, callable from curl's callbacks
** =======================================================
*/

/* room for len more bytes, growing by doubling */
static int buffer_reserve (Buffer *b, size_t len) {
  size_t cap = b->cap ? b->cap : 4096;
  char *p;
  if (b->cap - b->len >= len) return 1;
  while (cap - b->len < len) {
    if (cap > ((size_t)-1) / 2) return 0;
    cap *= 2;
  }
  p = (char *)realloc(b->data, cap);
  if (p == NULL) return 0;
  b->data = p;
  b->cap = cap;
  return 1;
}

static int buffer_append (Buffer *b, const char *data, size_t len) {
  if (!buffer_reserve(b, len)) return 0;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  return 1;
}

static void buffer_free (Buffer *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* keep small buffers for the next request, give big ones back */
static void buffer_trim (Buffer *b) {
  if (b->cap > KEEP_BUFFER_MAX) buffer_free(b);
  b->len = 0;
}

static void transfer_destroy (Transfer *t) {
  curl_slist_free_all(t->headers);
  if (t->easy) curl_easy_cleanup(t->easy);
  buffer_free(&t->body);
  buffer_free(&t->head);
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

/* Give the transfer back and forget the multi. Idempotent. */
static void request_close (Request *r) {
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

/* the transfer ended (curl's verdict, or a cancel): hand it to Lua */
static void request_done (Request *r, CURLcode code) {
  r->code = code;
  remove_from_multi(r);
  close_output(r);
  regsh_op_finish(&r->op);
}

static void request_cancel (regsh_op *op) {
  Request *r = (Request *)op;
  if (r->fail == FAIL_NONE) r->fail = FAIL_CANCELED;
  request_done(r, CURLE_ABORTED_BY_CALLBACK);
}

/* }====================================================== */


/*
** {======================================================
** curl callbacks: C only, never Lua (see loop.h)
** =======================================================
*/

static size_t on_header (char *data, size_t size, size_t n, void *ud) {
  Request *r = (Request *)ud;
  size_t len = size * n;
  /* a status line starts a new response (redirects, 100 Continue): only
  ** the headers of the last one are the response's */
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) r->xfer->head.len = 0;
  if (!buffer_append(&r->xfer->head, data, len)) {
    r->fail = FAIL_NOMEM;
    return 0;
  }
  return len;
}

static size_t on_body (char *data, size_t size, size_t n, void *ud) {
  Request *r = (Request *)ud;
  size_t len = size * n;
  if (r->max_body >= 0 && r->received + (curl_off_t)len > r->max_body) {
    r->fail = FAIL_TOOBIG;
    return 0;  /* anything but len makes curl stop with a write error */
  }
  switch (r->mode) {
    case BODY_MEMORY:
      if (r->received == 0) {
        /* a big body announced by its length: one allocation, no copies
        ** while doubling (max_body has bounded the length already) */
        curl_off_t announced = -1;
        curl_easy_getinfo(r->xfer->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                          &announced);
        Buffer *b = &r->xfer->body;
        if (announced > KEEP_BUFFER_MAX && (size_t)announced > b->cap &&
            (r->max_body < 0 || announced <= r->max_body)) {
          char *p = (char *)realloc(b->data, (size_t)announced);
          if (p) {  /* else buffer_append tries its own way */
            b->data = p;
            b->cap = (size_t)announced;
          }
        }
      }
      if (!buffer_append(&r->xfer->body, data, len)) {
        r->fail = FAIL_NOMEM;
        return 0;
      }
      break;
    case BODY_FILE: {
      size_t done = 0;
      while (done < len) {
        ssize_t w = write(r->fd, data + done, len - done);
        if (w < 0) {
          if (errno == EINTR) continue;
          r->fail = FAIL_WRITE;
          r->write_errno = errno;
          return 0;
        }
        done += (size_t)w;
      }
      break;
    }
    default:  /* BODY_STREAM */
      if (r->xfer->body.len >= STREAM_HIGH_WATER) {
        /* curl keeps this chunk and offers it again after the resume */
        r->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
      }
      if (!buffer_append(&r->xfer->body, data, len)) {
        r->fail = FAIL_NOMEM;
        return 0;
      }
      regsh_op_notify(&r->op);
      break;
  }
  r->received += (curl_off_t)len;
  return len;
}

static void check_done (Multi *m) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
    Request *r = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    /* msg is invalid once its handle is removed, so read the result first */
    if (r) request_done(r, msg->data.result);
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

static void free_handle (uv_handle_t *h) {
  free(h);
}

static void poll_close (Multi *m, SocketPoll *p) {
  if (p->prev) p->prev->next = p->next;
  else m->polls = p->next;
  if (p->next) p->next->prev = p->prev;
  p->multi = NULL;
  uv_poll_stop(&p->handle);
  uv_close((uv_handle_t *)&p->handle, free_handle);
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
    uv_close((uv_handle_t *)m->timer, free_handle);
    m->timer = NULL;
  }
  return 0;
}

/* [-0, +0, m] the multi of this state, created on first use */
static Multi *getmulti (lua_State *L) {
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

/* [-0, +0, v] a connection limit from min to 100000; -1 when absent */
static long opt_limit (lua_State *L, const char *key, lua_Integer min) {
  lua_Integer n = regsh_opt_integer(L, 1, key, -1);
  if (n != -1 && (n < min || n > 100000))
    luaL_error(L, "option '%s' must be between %d and 100000", key, (int)min);
  return (long)n;
}

/*
** configure{max_host_connections = n, max_total_connections = n,
**           max_idle_connections = n}
** Connection limits for every later request of this state (0: no limit;
** an absent key keeps the current value). Idle ones are those kept open
** for reuse; curl would read 0 there as "its default", so 1 is the least.
*/
static int http_configure (lua_State *L) {
  static const char *const keys[] = {
    "max_host_connections", "max_idle_connections", "max_total_connections",
    NULL
  };
  long host, idle, total;
  Multi *m;
  luaL_checktype(L, 1, LUA_TTABLE);
  regsh_check_keys(L, 1, keys);
  host = opt_limit(L, "max_host_connections", 0);
  idle = opt_limit(L, "max_idle_connections", 1);
  total = opt_limit(L, "max_total_connections", 0);
  m = getmulti(L);
  if (host >= 0) curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, host);
  if (idle >= 0) curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, idle);
  if (total >= 0) curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
  return 0;
}

/* }====================================================== */


/*
** {======================================================
** request(opts): validate, then set up the transfer and start it
** =======================================================
*/

static const char *const request_keys[] = {
  "body", "ca_file", "connect_timeout", "follow", "headers", "insecure",
  "max_body", "method", "on_data", "output", "timeout", "url",
  "user_agent", NULL
};

/* a header name is an HTTP token; a value must not break the request */
static int is_token (const char *s, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c)) return 0;
  }
  return 1;
}

static void check_header_value (lua_State *L, const char *name, int idx) {
  size_t len;
  const char *v;
  int t = lua_type(L, idx);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    luaL_error(L, "header '%s' must be a string, a number, false or an "
               "array of strings, got %s", name, luaL_typename(L, idx));
  v = lua_tolstring(L, idx, &len);
  for (size_t i = 0; i < len; i++)
    if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
      luaL_error(L, "header '%s' has a line break or NUL in its value", name);
}

/* [-0, +0, v] raise unless headers (at idx) is name = value | {values} */
static void check_headers (lua_State *L, int idx) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t len;
    const char *name;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "header names must be strings");
    name = lua_tolstring(L, -2, &len);
    if (!is_token(name, len))
      luaL_error(L, "invalid header name '%s'", name);
    if (lua_istable(L, -1)) {
      lua_Integer n = luaL_len(L, -1);
      for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        check_header_value(L, name, -1);
        lua_pop(L, 1);
      }
    }
    else if (!(lua_isboolean(L, -1) && !lua_toboolean(L, -1)))
      check_header_value(L, name, -1);
    lua_pop(L, 1);
  }
}

static int is_named (const char *name, const char *want) {
  for (; *name && *want; name++, want++)
    if (tolower((unsigned char)*name) != *want) return 0;
  return *name == *want;
}

/* [-0, +0, m] one header line onto the transfer's list. An empty value
** needs curl's "Name;" form; "Name:" would remove the header instead. */
static void add_header (lua_State *L, Transfer *t, const char *name,
                        const char *value, size_t vlen) {
  luaL_Buffer b;
  struct curl_slist *list;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, name);
  if (value == NULL) luaL_addchar(&b, ':');
  else if (vlen == 0) luaL_addchar(&b, ';');
  else {
    luaL_addlstring(&b, ": ", 2);
    luaL_addlstring(&b, value, vlen);
  }
  luaL_pushresult(&b);
  list = curl_slist_append(t->headers, lua_tostring(L, -1));
  lua_pop(L, 1);
  if (list == NULL) luaL_error(L, "out of memory");
  t->headers = list;
}

/* [-0, +0, m] the request headers (table at idx, already checked); returns
** which of content-type and expect the caller gave (bits 1 and 2) */
static int set_headers (lua_State *L, Transfer *t, int idx) {
  int given = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *name = lua_tostring(L, -2);
    size_t len;
    if (is_named(name, "content-type")) given |= 1;
    else if (is_named(name, "expect")) given |= 2;
    if (lua_istable(L, -1)) {
      lua_Integer n = luaL_len(L, -1);
      for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *v = lua_tolstring(L, -1, &len);
        add_header(L, t, name, v, len);
        lua_pop(L, 1);
      }
    }
    else if (lua_isboolean(L, -1)) add_header(L, t, name, NULL, 0);
    else {
      const char *v = lua_tolstring(L, -1, &len);
      add_header(L, t, name, v, len);
    }
    lua_pop(L, 1);
  }
  return given;
}

static long opt_millis (lua_State *L, int t, const char *key, lua_Number def) {
  lua_Number s = regsh_opt_number(L, t, key, def);
  if (!(s >= 0 && s <= 1e7))
    luaL_error(L, "option '%s' must be a number of seconds >= 0", key);
  return (long)(s * 1000.0 + 0.5);
}

/* [-0, +0, v] follow = false | true | max redirects; -1: do not follow */
static long opt_follow (lua_State *L, int t) {
  long max = -1;
  switch (lua_getfield(L, t, "follow")) {
    case LUA_TNIL: break;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, -1)) max = DEFAULT_MAX_REDIRECTS;
      break;
    case LUA_TNUMBER: {
      int isint;
      lua_Integer n = lua_tointegerx(L, -1, &isint);
      if (!isint || n < 0 || n > 1000)
        luaL_error(L, "option 'follow' must be a boolean or a number of "
                   "redirects between 0 and 1000");
      max = (long)n;
      break;
    }
    default:
      luaL_error(L, "option 'follow' must be a boolean or a number, got %s",
                 luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return max;
}

static const char *errno_code (int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EISDIR: return "EISDIR";
    case ENOTDIR: return "ENOTDIR";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case EDQUOT: return "EDQUOT";
    default: return "EIO";
  }
}

/*
** request(opts) -> op | nil, err, code
** Options are checked before anything is acquired; misuse raises. The op
** finishes when the transfer does; op:result() then gives the response.
*/
static int http_request (lua_State *L) {
  const char *url, *method, *body, *ca_file, *output, *agent;
  size_t body_len;
  long timeout, connect_timeout, follow;
  lua_Integer max_body;
  int insecure, stream, given = 0;
  Multi *m;
  Request *r;
  CURL *e;
  /* stack: opts */
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  regsh_check_keys(L, 1, request_keys);
  url = regsh_opt_string(L, 1, "url", NULL, NULL);
  if (url == NULL) return luaL_error(L, "option 'url' is required");
  method = regsh_opt_string(L, 1, "method", "GET", NULL);
  if (!is_token(method, strlen(method)))
    return luaL_error(L, "invalid method '%s'", method);
  body = regsh_opt_string(L, 1, "body", NULL, &body_len);
  timeout = opt_millis(L, 1, "timeout", DEFAULT_TIMEOUT);
  connect_timeout = opt_millis(L, 1, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  ca_file = regsh_opt_string(L, 1, "ca_file", NULL, NULL);
  insecure = regsh_opt_boolean(L, 1, "insecure", 0);
  follow = opt_follow(L, 1);
  output = regsh_opt_string(L, 1, "output", NULL, NULL);
  agent = regsh_opt_string(L, 1, "user_agent", "regsh/" REGSH_VERSION, NULL);
  if (lua_getfield(L, 1, "on_data") != LUA_TNIL &&
      lua_type(L, -1) != LUA_TFUNCTION)
    return luaL_error(L, "option 'on_data' must be a function, got %s",
                      luaL_typename(L, -1));
  stream = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (stream && output)
    return luaL_error(L, "options 'output' and 'on_data' exclude each other");
  max_body = regsh_opt_integer(L, 1, "max_body", -2);
  if (max_body == -2)  /* absent: only a body held in memory has a limit */
    max_body = (output || stream) ? -1 : DEFAULT_MAX_BODY;
  else if (max_body < 0)
    return luaL_error(L, "option 'max_body' must be >= 0");
  if (lua_getfield(L, 1, "headers") != LUA_TNIL) {
    if (!lua_istable(L, -1))
      return luaL_error(L, "option 'headers' must be a table, got %s",
                        luaL_typename(L, -1));
    check_headers(L, 2);
  }
  /* stack: opts, headers|nil */

  m = getmulti(L);
  /* born closed, so that __gc can tidy up after any error below */
  r = (Request *)lua_newuserdatauv(L, sizeof(*r), 1);
  memset(r, 0, sizeof(*r));
  r->fd = -1;
  r->op.ref = LUA_NOREF;
  luaL_setmetatable(L, REQUEST_TYPE);
  /* stack: opts, headers|nil, request */
  if (body) {  /* curl reads it in place: the request keeps it alive */
    lua_getfield(L, 1, "body");
    lua_setiuservalue(L, 3, 1);
  }
  r->xfer = transfer_acquire(m);
  if (r->xfer == NULL) return luaL_error(L, "out of memory");
  r->multi = m;
  r->next = m->requests;
  if (m->requests) m->requests->prev = r;
  m->requests = r;
  r->xfer->error[0] = '\0';
  r->mode = output ? BODY_FILE : stream ? BODY_STREAM : BODY_MEMORY;
  r->max_body = max_body;
  if (!lua_isnil(L, 2)) given = set_headers(L, r->xfer, 2);

  e = r->xfer->easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->xfer->error);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_USERAGENT, agent);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  /* wait for a connection that can multiplex rather than open another */
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  if (follow >= 0) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, follow);
  }
  if (ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
  if (insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (strcmp(method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0) {
    /* Content-Length even when empty; no form type or 100-continue wait
    ** that the caller did not ask for */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
    if (strcmp(method, "POST") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (!(given & 1)) add_header(L, r->xfer, "Content-Type", NULL, 0);
    if (!(given & 2)) add_header(L, r->xfer, "Expect", NULL, 0);
  }
  else if (strcmp(method, "GET") != 0)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  if (r->xfer->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->xfer->headers);
  /* a HEAD response's Content-Length is not a body to refuse */
  if (max_body > 0 && strcmp(method, "HEAD") != 0)
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);

  if (output) {
    r->fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (r->fd < 0) {
      int err = errno;
      request_close(r);
      return regsh_fail(L, errno_code(err), "%s: %s", output, strerror(err));
    }
  }
  if (curl_multi_add_handle(m->multi, e) != CURLM_OK) {
    request_close(r);
    return regsh_fail(L, "ENOMEM", "%s: cannot start the request", url);
  }
  r->in_multi = 1;
  regsh_op_begin(L, 3, &r->op, request_cancel);
  return 1;
}

/* }====================================================== */


/*
** {======================================================
** Results
** =======================================================
*/

static Request *checkrequest (lua_State *L) {
  Request *r = (Request *)luaL_checkudata(L, 1, REQUEST_TYPE);
  if (r->xfer == NULL) luaL_error(L, "the request is closed");
  return r;
}

static const char *fail_code (CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT: return "ECONNREFUSED";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return "ENOTFOUND";
    case CURLE_OPERATION_TIMEDOUT: return "ETIMEDOUT";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED: return "ETLS";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2_STREAM: return "ECONNRESET";
    case CURLE_TOO_MANY_REDIRECTS: return "ETOOMANYREDIRECTS";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return "EURL";
    case CURLE_FILESIZE_EXCEEDED: return "ETOOBIG";
    case CURLE_OUT_OF_MEMORY: return "ENOMEM";
    default: return "EHTTP";
  }
}

/* [-0, +1, m] url without its user-info: a password never reaches a message */
static const char *pushredacted (lua_State *L, const char *url) {
  const char *scheme = strstr(url, "://");
  const char *at, *end;
  if (scheme == NULL) return lua_pushstring(L, url);
  end = scheme + 3 + strcspn(scheme + 3, "/?#");
  at = memchr(scheme + 3, '@', (size_t)(end - scheme - 3));
  if (at == NULL) return lua_pushstring(L, url);
  lua_pushlstring(L, url, (size_t)(scheme + 3 - url));
  lua_pushfstring(L, "***%s", at);
  lua_concat(L, 2);
  return lua_tostring(L, -1);
}

/* [-0, +3, m] the fail tuple of a failed request */
static int pushfailure (lua_State *L, Request *r) {
  Transfer *t = r->xfer;
  char *url = NULL;
  const char *where;
  curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
  where = pushredacted(L, url ? url : "?");
  switch (r->fail) {
    case FAIL_CANCELED:
      return regsh_fail(L, "ECANCELED", "%s: request cancelled", where);
    case FAIL_TOOBIG:
      return regsh_fail(L, "ETOOBIG", "%s: response body larger than "
                        "max_body (%I bytes)", where, (lua_Integer)r->max_body);
    case FAIL_WRITE:
      return regsh_fail(L, errno_code(r->write_errno), "%s: cannot write the "
                        "output file: %s", where, strerror(r->write_errno));
    case FAIL_NOMEM:
      return regsh_fail(L, "ENOMEM", "%s: out of memory", where);
    default:
      if (r->code == CURLE_UNSUPPORTED_PROTOCOL) {
        /* also what curl says of a server that answers gibberish */
        char *ip = NULL;
        curl_easy_getinfo(t->easy, CURLINFO_PRIMARY_IP, &ip);
        if (ip && *ip)
          return regsh_fail(L, "EHTTP", "%s: %s", where, t->error[0] ?
                            t->error : curl_easy_strerror(r->code));
      }
      if (r->code == CURLE_FILESIZE_EXCEEDED)
        return regsh_fail(L, "ETOOBIG", "%s: response body larger than "
                          "max_body (%I bytes)", where, (lua_Integer)r->max_body);
      return regsh_fail(L, fail_code(r->code), "%s: %s", where,
                        t->error[0] ? t->error : curl_easy_strerror(r->code));
  }
}

static const char *version_name (long v) {
  switch (v) {
    case CURL_HTTP_VERSION_1_0: return "1.0";
    case CURL_HTTP_VERSION_1_1: return "1.1";
    case CURL_HTTP_VERSION_2_0: return "2";
    case CURL_HTTP_VERSION_3: return "3";
    default: return "?";
  }
}

/*
** op:result() -> response | nil, err, code
** Once the op has finished. The transfer goes back to the pool, so this
** answers once; the response is a fresh table.
*/
static int request_result (lua_State *L) {
  Request *r = checkrequest(L);
  Transfer *t = r->xfer;
  long status = 0, version = 0, connects = 0;
  curl_off_t micros = 0;
  char *url = NULL;
  if (r->op.active) return luaL_error(L, "the request has not finished");
  if (r->fail != FAIL_NONE || r->code != CURLE_OK) {
    int n = pushfailure(L, r);
    request_close(r);
    return n;
  }
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &version);
  curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &micros);
  curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
  lua_settop(L, 1);
  lua_createtable(L, 0, 9);
  /* stack: request, response */
  lua_pushinteger(L, status);
  lua_setfield(L, 2, "status");
  lua_pushstring(L, url ? url : "");
  lua_setfield(L, 2, "url");
  lua_pushstring(L, version_name(version));
  lua_setfield(L, 2, "http_version");
  lua_pushinteger(L, connects);
  lua_setfield(L, 2, "new_connections");
  lua_pushnumber(L, (lua_Number)micros / 1e6);
  lua_setfield(L, 2, "time");
  if (r->mode == BODY_MEMORY) {
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    lua_setfield(L, 2, "body");
  }
  lua_createtable(L, 0, 8);
  lua_createtable(L, 8, 0);
  /* stack: request, response, headers, header_list */
  http_push_headers(L, 3, 4, t->head.data, t->head.len);
  lua_setfield(L, 2, "header_list");
  lua_setfield(L, 2, "headers");
  request_close(r);
  return 1;
}

/*
** op:take() -> chunk | nil
** on_data requests: the body received since the last take. Resumes a
** transfer paused because Lua fell behind.
*/
static int request_take (lua_State *L) {
  Request *r = checkrequest(L);
  Buffer *b = &r->xfer->body;
  if (r->mode != BODY_STREAM) return luaL_error(L, "not an on_data request");
  if (b->len == 0) lua_pushnil(L);
  else {
    lua_pushlstring(L, b->data, b->len);
    b->len = 0;
  }
  if (r->paused && r->in_multi) {
    Multi *m = r->multi;
    int running;
    r->paused = 0;
    /* may deliver the held chunk right away, through on_body */
    curl_easy_pause(r->xfer->easy, CURLPAUSE_CONT);
    /* curl 7.88 marks the transfer to run now but does not tell our timer
    ** callback; with no more data on the socket (the held chunk was the
    ** last) nothing would wake it before some unrelated timeout. So run
    ** curl's due timers here: a plain C call, no Lua below it. */
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(m);
  }
  return 1;
}

/* op:close(): stop the transfer if it runs and free it; idempotent */
static int request_gc (lua_State *L) {
  Request *r = (Request *)luaL_checkudata(L, 1, REQUEST_TYPE);
  if (r->op.active) {
    r->fail = FAIL_CANCELED;
    remove_from_multi(r);
    regsh_op_finish(&r->op);
  }
  request_close(r);
  return 0;
}

static int request_tostring (lua_State *L) {
  Request *r = (Request *)luaL_checkudata(L, 1, REQUEST_TYPE);
  lua_pushfstring(L, "%s (%p)", REQUEST_TYPE, (void *)r);
  return 1;
}

/* }====================================================== */


static const luaL_Reg request_methods[] = {
  {"close", request_gc},
  {"result", request_result},
  {"take", request_take},
  {NULL, NULL}
};

static const luaL_Reg request_meta[] = {
  {"__close", request_gc},
  {"__gc", request_gc},
  {"__index", NULL},
  {"__regsh_op", NULL},
  {"__tostring", request_tostring},
  {NULL, NULL}
};

static const luaL_Reg http_funcs[] = {
  {"configure", http_configure},
  {"request", http_request},
  {NULL, NULL}
};

static void createmeta (lua_State *L) {
  luaL_newmetatable(L, MULTI_TYPE);
  lua_pushcfunction(L, multi_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, REQUEST_TYPE);
  luaL_setfuncs(L, request_meta, 0);
  luaL_newlibtable(L, request_methods);
  luaL_setfuncs(L, request_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "__regsh_op");  /* what loop.cancel looks for */
  lua_pop(L, 1);
}

int luaopen_regsh_core_http (lua_State *L);

int luaopen_regsh_core_http (lua_State *L) {
  static int initialised = 0;
  if (!initialised) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "cannot initialise libcurl");
    initialised = 1;
  }
  createmeta(L);
  luaL_newlib(L, http_funcs);
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  return 1;
}
