/*
** httpd.c: regsh.core.httpd, a small HTTP server on libmicrohttpd (MHD) run
** by the state's libuv loop, without threads: MHD works in its external epoll
** mode, its epoll fd is a uv_poll and its timeout a uv_timer. A request MHD
** has parsed is suspended and queued on the server, an op; Lua takes it,
** computes the answer in a task and gives it back (respond), which resumes
** the connection. So no Lua runs under MHD's frames (loop.h's rule), and a
** handler may wait. lua/regsh/httpd.lua is the other half.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <lauxlib.h>

#include "loop.h"
#include "util.h"

#define SERVER_TYPE "regsh.httpd.server"

/* Defaults sized for a metrics endpoint: a scrape is one small GET. */
#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_TIMEOUT         10      /* seconds of inactivity */
#define REQUEST_MEMORY          16384   /* per connection: request line and headers must fit */
#define LISTEN_BACKLOG          64

/* A request from its headers to its end; malloc'd, owned by the server's list. */
typedef struct Request {
  struct Request *next;
  struct MHD_Connection *connection;
  lua_Integer id;
  char *method, *path;
  int taken;                  /* handed to Lua */
  int answered;               /* a response is queued: no longer suspended */
} Request;

typedef struct {
  regsh_op op;                /* first: the server is an op (news: requests) */
  struct MHD_Daemon *daemon;  /* NULL: closed */
  uv_poll_t *poll;            /* MHD's epoll fd */
  uv_timer_t *timer;          /* MHD's timeout */
  Request *requests;          /* in arrival order */
  lua_Integer next_id;
  int port;
  int closing;                /* new requests get 503 at once */
} Server;


/*
** {======================================================
** MHD's side: plain C, called from MHD_run, never calls Lua
** =======================================================
*/

static void server_run (Server *s);

/* queue a short text answer on a connection MHD is handing us */
static enum MHD_Result answer_now (struct MHD_Connection *c, unsigned int status,
                                   const char *text, const char *allow) {
  struct MHD_Response *res = MHD_create_response_from_buffer(
      strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
  enum MHD_Result ok;
  if (res == NULL) return MHD_NO;
  MHD_add_response_header(res, "Content-Type", "text/plain; charset=utf-8");
  if (allow) MHD_add_response_header(res, "Allow", allow);
  ok = MHD_queue_response(c, status, res);
  MHD_destroy_response(res);
  return ok;
}

static void request_free (Request *r) {
  free(r->method);
  free(r->path);
  free(r);
}

/* MHD's access handler: called once the headers are in, again for each
** piece of a body (GET and HEAD have no use for one) and a last time when
** the request is complete. Answering only then keeps the connection alive:
** a response queued before the whole request was read makes MHD close it. */
static enum MHD_Result on_request (void *cls, struct MHD_Connection *c,
                                   const char *url, const char *method,
                                   const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls) {
  Server *s = (Server *)cls;
  Request *r = (Request *)*con_cls, **tail;
  (void)version; (void)upload_data;
  if (r == NULL) {  /* the headers */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
      return answer_now(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
    r = (Request *)calloc(1, sizeof(*r));
    if (r == NULL) return MHD_NO;  /* MHD closes the connection */
    r->method = strdup(method);
    r->path = strdup(url);
    if (r->method == NULL || r->path == NULL) {
      request_free(r);
      return MHD_NO;
    }
    r->connection = c;
    *con_cls = r;  /* on_completed frees it, whatever happens next */
    return MHD_YES;
  }
  if (*upload_data_size != 0) {  /* a body: read and dropped */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (s->closing)
    return answer_now(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n", NULL);
  r->id = ++s->next_id;
  for (tail = &s->requests; *tail; tail = &(*tail)->next) {}
  *tail = r;
  MHD_suspend_connection(c);
  regsh_op_notify(&s->op);
  return MHD_YES;
}

/* MHD is done with a request (answered, or the connection went away) */
static void on_completed (void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode why) {
  Server *s = (Server *)cls;
  Request *r = (Request *)*con_cls;
  (void)c; (void)why;
  if (r == NULL) return;
  for (Request **p = &s->requests; *p; p = &(*p)->next) {
    if (*p == r) {
      *p = r->next;
      break;
    }
  }
  request_free(r);
  *con_cls = NULL;
}

static void timer_cb (uv_timer_t *h) {
  server_run((Server *)h->data);
}

static void poll_cb (uv_poll_t *h, int status, int events) {
  (void)status; (void)events;
  server_run((Server *)h->data);
}

/* let MHD work, then wake again when it says it must run at the latest */
static void server_run (Server *s) {
  MHD_UNSIGNED_LONG_LONG ms;
  if (s->daemon == NULL) return;
  MHD_run(s->daemon);
  if (MHD_get_timeout(s->daemon, &ms) == MHD_YES)
    uv_timer_start(s->timer, timer_cb, (uint64_t)ms, 0);
  else uv_timer_stop(s->timer);
}

/* run MHD from the loop soon: after a resume, MHD needs another turn */
static void server_kick (Server *s) {
  if (s->daemon) uv_timer_start(s->timer, timer_cb, 0, 0);
}

/* Stop for good. MHD forbids stopping with suspended connections, so those
** get 503 and are resumed first. Not called from inside MHD. */
static void server_stop (Server *s) {
  if (s->daemon == NULL) return;
  s->closing = 1;
  for (Request *r = s->requests; r; r = r->next) {
    if (!r->answered) {
      r->answered = 1;
      answer_now(r->connection, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n", NULL);
      MHD_resume_connection(r->connection);
    }
  }
  MHD_run(s->daemon);  /* takes the resumed connections back */
  /* the poll must go before MHD closes the fd it watches */
  regsh_close_handle(s->poll);
  regsh_close_handle(s->timer);
  s->poll = NULL;
  s->timer = NULL;
  MHD_stop_daemon(s->daemon);  /* closes the listening socket too */
  s->daemon = NULL;
  while (s->requests) {  /* those MHD did not report complete */
    Request *r = s->requests;
    s->requests = r->next;
    request_free(r);
  }
}

static void server_cancel (regsh_op *op) {
  server_stop((Server *)op);
  regsh_op_finish(op);
}

/* }====================================================== */


/*
** {======================================================
** The listening socket: made here, so that a failure has its errno
** (EADDRINUSE, EACCES) and the caller one clear line
** =======================================================
*/

typedef union {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
} Address;

/* "127.0.0.1:9090", ":9090" (every IPv4 interface), "localhost:9090",
** "[::1]:9090", "[::]:9090"; port 0 picks a free one. 0 if malformed. */
static int parse_address (const char *text, Address *a, socklen_t *len) {
  char host[64];
  const char *colon, *port_text;
  char *end;
  long port;
  size_t hlen;
  memset(a, 0, sizeof(*a));
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (close == NULL || close[1] != ':') return 0;
    hlen = (size_t)(close - text - 1);
    if (hlen == 0 || hlen >= sizeof(host)) return 0;
    memcpy(host, text + 1, hlen);
    host[hlen] = '\0';
    port_text = close + 2;
    if (inet_pton(AF_INET6, host, &a->v6.sin6_addr) != 1) return 0;
    a->v6.sin6_family = AF_INET6;
    *len = sizeof(a->v6);
  }
  else {
    colon = strrchr(text, ':');
    if (colon == NULL) return 0;
    hlen = (size_t)(colon - text);
    if (hlen >= sizeof(host)) return 0;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    port_text = colon + 1;
    a->v4.sin_family = AF_INET;
    *len = sizeof(a->v4);
    if (hlen == 0) a->v4.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0) a->v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a->v4.sin_addr) != 1) return 0;
  }
  if (*port_text < '0' || *port_text > '9') return 0;
  errno = 0;
  port = strtol(port_text, &end, 10);
  if (*end != '\0' || errno != 0 || port < 0 || port > 65535) return 0;
  if (a->sa.sa_family == AF_INET6) a->v6.sin6_port = htons((uint16_t)port);
  else a->v4.sin_port = htons((uint16_t)port);
  return 1;
}

/* a bound, listening, non-blocking socket, or -errno */
static int open_listener (const Address *a, socklen_t len, int *port) {
  int one = 1, fd, err;
  Address bound;
  socklen_t blen = sizeof(bound);
  fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  /* only lets a restart bind past old connections in TIME_WAIT: a live
  ** listener on the port still gives EADDRINUSE */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, &a->sa, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0
      || getsockname(fd, &bound.sa, &blen) != 0) {
    err = errno;
    close(fd);
    return -err;
  }
  *port = ntohs(bound.sa.sa_family == AF_INET6 ? bound.v6.sin6_port : bound.v4.sin_port);
  return fd;
}

/* }====================================================== */


static Server *checkserver (lua_State *L) {
  return (Server *)luaL_checkudata(L, 1, SERVER_TYPE);
}

/* at lua_close: the op is pinned while open, so only then is it collected */
static int server_gc (lua_State *L) {
  server_stop(checkserver(L));
  return 0;
}

/* server:close(): stop listening; requests not answered yet get 503. Idempotent */
static int server_close (lua_State *L) {
  Server *s = checkserver(L);
  if (s->op.active) server_cancel(&s->op);
  return 0;
}

/* server:port() -> the port it listens on (the one picked, for port 0) */
static int server_port (lua_State *L) {
  lua_pushinteger(L, checkserver(L)->port);
  return 1;
}

/* server:take() -> array of {id =, method =, path =} that came since the
** last take, or nil once the server is closed */
static int server_take (lua_State *L) {
  Server *s = checkserver(L);
  int n = 0;
  if (s->daemon == NULL) return 0;
  lua_newtable(L);
  for (Request *r = s->requests; r; r = r->next) {
    if (r->taken) continue;
    r->taken = 1;
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, r->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, r->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, r->path);
    lua_setfield(L, -2, "path");
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* server:respond(id, status, content_type, body) -> true, or false when the
** request is no longer there (the server closed meanwhile) */
static int server_respond (lua_State *L) {
  Server *s = checkserver(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  lua_Integer status = luaL_checkinteger(L, 3);
  size_t ctlen, blen;
  const char *ctype = luaL_checklstring(L, 4, &ctlen);
  const char *body = luaL_checklstring(L, 5, &blen);
  struct MHD_Response *res;
  Request *r;
  luaL_argcheck(L, status >= 100 && status <= 599, 3, "HTTP status expected (100 to 599)");
  regsh_check_header_text(L, "Content-Type", ctype, ctlen);
  for (r = s->requests; r && r->id != id; r = r->next) {}
  if (r == NULL || r->answered || !r->taken || s->daemon == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  res = MHD_create_response_from_buffer(blen, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (res == NULL) return luaL_error(L, "out of memory");
  MHD_add_response_header(res, "Content-Type", ctype);
  MHD_queue_response(r->connection, (unsigned int)status, res);
  MHD_destroy_response(res);
  r->answered = 1;
  MHD_resume_connection(r->connection);
  server_kick(s);
  lua_pushboolean(L, 1);
  return 1;
}

/* the handles of a server that never started (not yet known to libuv) */
static void free_handles (Server *s) {
  free(s->poll);
  free(s->timer);
  s->poll = NULL;
  s->timer = NULL;
}

/*
** listen(addr [, {max_connections =, timeout =}]) -> server | fail.
** The server is an op notified when requests come (take them with take);
** it keeps the loop alive until closed.
*/
static int httpd_listen (lua_State *L) {
  static const char *const keys[] = {"max_connections", "timeout", NULL};
  const char *text = luaL_checkstring(L, 1);
  lua_Integer max_connections = DEFAULT_MAX_CONNECTIONS, timeout = DEFAULT_TIMEOUT;
  regsh_loop *loop = regsh_loop_of(L);
  Address a;
  socklen_t len;
  Server *s;
  int fd, port = 0;
  unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    regsh_check_keys(L, 2, keys);
    max_connections = regsh_opt_integer(L, 2, "max_connections", max_connections);
    timeout = regsh_opt_integer(L, 2, "timeout", timeout);
    luaL_argcheck(L, max_connections >= 1 && max_connections <= 10000, 2,
                  "max_connections must be 1 to 10000");
    luaL_argcheck(L, timeout >= 1 && timeout <= 3600, 2, "timeout must be 1 to 3600 seconds");
  }
  if (!parse_address(text, &a, &len))
    return regsh_fail(L, "EINVAL", "bad listen address '%s' (expected HOST:PORT, :PORT "
                      "or [IPv6]:PORT with a numeric host and a port 0 to 65535)", text);
  /* everything that can raise happens before the socket exists */
  s = (Server *)lua_newuserdatauv(L, sizeof(*s), 0);
  memset(s, 0, sizeof(*s));
  luaL_setmetatable(L, SERVER_TYPE);
  s->poll = (uv_poll_t *)malloc(sizeof(uv_poll_t));
  s->timer = (uv_timer_t *)malloc(sizeof(uv_timer_t));
  if (s->poll == NULL || s->timer == NULL) {
    free_handles(s);
    return luaL_error(L, "out of memory");
  }
  fd = open_listener(&a, len, &port);
  if (fd < 0) {
    free_handles(s);
    return regsh_fail_errno(L, -fd, "cannot listen on %s", text);
  }
  if (a.sa.sa_family == AF_INET6) flags |= MHD_USE_IPv6;
  s->port = port;
  s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)max_connections,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)timeout,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
      MHD_OPTION_END);
  if (s->daemon == NULL) {
    close(fd);
    free_handles(s);
    return regsh_fail(L, "EIO", "cannot start the HTTP server on %s", text);
  }
  uv_timer_init(regsh_loop_uv(loop), s->timer);
  s->timer->data = s;
  uv_poll_init(regsh_loop_uv(loop), s->poll,
               MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd);
  s->poll->data = s;
  regsh_op_begin(L, -1, &s->op, server_cancel);
  uv_poll_start(s->poll, UV_READABLE, poll_cb);
  server_run(s);
  return 1;
}

static const luaL_Reg server_methods[] = {
  {"close", server_close},
  {"port", server_port},
  {"respond", server_respond},
  {"take", server_take},
  {NULL, NULL}
};

static const luaL_Reg httpd_funcs[] = {
  {"listen", httpd_listen},
  {NULL, NULL}
};

int luaopen_regsh_core_httpd (lua_State *L);

int luaopen_regsh_core_httpd (lua_State *L) {
  regsh_newclass(L, SERVER_TYPE, server_gc, NULL, server_methods, REGSH_CLASS_OP);
  lua_pop(L, 1);
  luaL_newlib(L, httpd_funcs);
  lua_pushfstring(L, "%s", MHD_get_version());
  lua_setfield(L, -2, "mhd_version");
  return 1;
}
