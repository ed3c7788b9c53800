/*
** http.c: regsh.core.http, HTTP requests as ops on the state's libuv loop.
** This file is the Lua side: options read and checked, the easy handle set
** up, the body and headers received, the result. http_multi.c runs the
** transfers on the loop; http_headers.c parses headers; lua/regsh/http.lua
** is the public face: it awaits the op and then asks it for its result.
*/
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>
#include <curl/curl.h>

#include "config.h"
#include "http_headers.h"
#include "http_multi.h"
#include "trace.h"

#define REQUEST_TYPE "regsh.http.request"

#define DEFAULT_TIMEOUT          60.0
#define DEFAULT_CONNECT_TIMEOUT  10.0
#define DEFAULT_MAX_BODY         (64 * 1024 * 1024)
#define DEFAULT_MAX_REDIRECTS    20
/* on_data: pause the transfer while this much waits for Lua to take it */
#define STREAM_HIGH_WATER        (1024 * 1024)
/* the header bytes of all responses of one request (redirects included);
** below curl's own 300 KiB limit, which it reports as a broken connection */
#define MAX_HEADER_BYTES         (256 * 1024)


/*
** {======================================================
** curl's write callbacks: C only, never Lua (see loop.h)
** =======================================================
*/

static size_t on_header (char *data, size_t size, size_t n, void *ud) {
  Request *r = (Request *)ud;
  size_t len = size * n;
  switch (http_headers_collect(&r->xfer->head, &r->header_bytes,
                               MAX_HEADER_BYTES, data, len)) {
    case HTTP_HEADER_OK: break;
    case HTTP_HEADER_TOOBIG: r->fail = FAIL_HEADERS; return 0;
    default: r->fail = FAIL_NOMEM; return 0;
  }
  r->headers_done = len <= 2 && (data[0] == '\r' || data[0] == '\n');
  return len;
}

/* in memory: a big body announced by its length gets one allocation, no
** copies while doubling (max_body has bounded the length already) */
static void reserve_announced (Request *r) {
  curl_off_t announced = -1;
  regsh_buffer *b = &r->xfer->body;
  curl_easy_getinfo(r->xfer->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                    &announced);
  if (announced > KEEP_BUFFER_MAX && (size_t)announced > b->cap &&
      (r->max_body < 0 || announced <= r->max_body))
    regsh_buffer_resize(b, (size_t)announced);  /* else append tries its way */
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
      if (r->received == 0) reserve_announced(r);
      if (!regsh_buffer_append(&r->xfer->body, data, len)) {
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
      if (!regsh_buffer_append(&r->xfer->body, data, len)) {
        r->fail = FAIL_NOMEM;
        return 0;
      }
      regsh_op_notify(&r->op);
      break;
  }
  r->received += (curl_off_t)len;
  return len;
}

/* CURLOPT_OPENSOCKETFUNCTION: curl's own socket(), but running out of
** descriptors is noted: curl reports it as "could not connect", and it must
** not pass for a server that refuses (which is worth a retry; this is not).
** Other failures (no IPv6, say) may be followed by an address that works. */
static curl_socket_t on_open_socket (void *ud, curlsocktype purpose,
                                     struct curl_sockaddr *address) {
  Request *r = (Request *)ud;
  curl_socket_t fd;
  (void)purpose;
  fd = socket(address->family, address->socktype, address->protocol);
  if (fd == CURL_SOCKET_BAD && (errno == EMFILE || errno == ENFILE))
    r->socket_errno = errno;
  return fd;
}

static void request_cancel (regsh_op *op) {
  Request *r = (Request *)op;
  if (r->fail == FAIL_NONE) r->fail = FAIL_CANCELED;
  http_request_done(r, CURLE_ABORTED_BY_CALLBACK);
}

/* }====================================================== */


/*
** {======================================================
** configure
** =======================================================
*/

/* [-0, +0, v] a connection limit from min to 100000; -1 when the key is absent */
static long opt_limit (lua_State *L, const char *key, lua_Integer min) {
  lua_Integer n;
  int absent = lua_getfield(L, 1, key) == LUA_TNIL;
  lua_pop(L, 1);
  if (absent) return -1;  /* keep the current value */
  n = regsh_opt_integer(L, 1, key, 0);
  if (n < min || n > 100000)
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
  CURLM *multi;
  luaL_checktype(L, 1, LUA_TTABLE);
  regsh_check_keys(L, 1, keys);
  host = opt_limit(L, "max_host_connections", 0);
  idle = opt_limit(L, "max_idle_connections", 1);
  total = opt_limit(L, "max_total_connections", 0);
  multi = http_multi_curl(http_multi_of(L));
  if (host >= 0) curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, host);
  if (idle >= 0) curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, idle);
  if (total >= 0) curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
  return 0;
}

/* }====================================================== */


/*
** {======================================================
** request(opts): validate, then set up the transfer and start it
** =======================================================
*/

static const char *const request_keys[] = {
  "body", "ca_dir", "ca_file", "connect_timeout", "follow", "headers", "insecure",
  "max_body", "method", "on_data", "output", "stall_timeout", "timeout",
  "url", "user_agent", NULL
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
  regsh_check_header_text(L, name, v, len);
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

/* Everything request takes from its options, read and checked before
** anything is acquired: a misuse raises with nothing to undo. */
typedef struct {
  const char *url, *method, *body, *ca_file, *ca_dir, *output, *agent;
  size_t body_len, agent_len;
  long timeout, connect_timeout, follow;  /* ms, ms, redirects or -1 */
  long stall_timeout;                     /* whole seconds, 0: none */
  lua_Integer max_body;                   /* -1: no limit */
  int insecure, stream;
} RequestOptions;

/* [-0, +1, v] read request(opts) (stack slot 1) into o; pushes the headers
** table (checked) or nil */
static void read_request_options (lua_State *L, RequestOptions *o) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  regsh_check_keys(L, 1, request_keys);
  o->url = regsh_opt_string(L, 1, "url", NULL, NULL);
  if (o->url == NULL) luaL_error(L, "option 'url' is required");
  o->method = regsh_opt_string(L, 1, "method", "GET", NULL);
  if (!is_token(o->method, strlen(o->method)))
    luaL_error(L, "invalid method '%s'", o->method);
  o->body = regsh_opt_string(L, 1, "body", NULL, &o->body_len);
  o->timeout = opt_millis(L, 1, "timeout", DEFAULT_TIMEOUT);
  o->connect_timeout = opt_millis(L, 1, "connect_timeout",
                                  DEFAULT_CONNECT_TIMEOUT);
  /* curl counts a stall in whole seconds: a part of one is one more */
  o->stall_timeout = (opt_millis(L, 1, "stall_timeout", 0) + 999) / 1000;
  o->ca_file = regsh_opt_string(L, 1, "ca_file", NULL, NULL);
  o->ca_dir = regsh_opt_string(L, 1, "ca_dir", NULL, NULL);
  o->insecure = regsh_opt_boolean(L, 1, "insecure", 0);
  o->follow = opt_follow(L, 1);
  o->output = regsh_opt_string(L, 1, "output", NULL, NULL);
  o->agent = regsh_opt_string(L, 1, "user_agent", "regsh/" REGSH_VERSION,
                              &o->agent_len);
  regsh_check_header_text(L, "User-Agent", o->agent, o->agent_len);
  if (lua_getfield(L, 1, "on_data") != LUA_TNIL &&
      lua_type(L, -1) != LUA_TFUNCTION)
    luaL_error(L, "option 'on_data' must be a function, got %s",
               luaL_typename(L, -1));
  o->stream = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (o->stream && o->output)
    luaL_error(L, "options 'output' and 'on_data' exclude each other");
  o->max_body = regsh_opt_integer(L, 1, "max_body", -2);
  if (o->max_body == -2)  /* absent: only a body held in memory has a limit */
    o->max_body = (o->output || o->stream) ? -1 : DEFAULT_MAX_BODY;
  else if (o->max_body < 0)
    luaL_error(L, "option 'max_body' must be >= 0");
  if (lua_getfield(L, 1, "headers") != LUA_TNIL) {
    if (!lua_istable(L, -1))
      luaL_error(L, "option 'headers' must be a table, got %s",
                 luaL_typename(L, -1));
    check_headers(L, 2);
  }
}

/* [-0, +0, m] the easy handle of r as o asks (headers: table or nil at 2) */
static void setup_transfer (lua_State *L, Request *r, const RequestOptions *o) {
  CURL *e = r->xfer->easy;
  int given = 0;
  if (!lua_isnil(L, 2)) given = set_headers(L, r->xfer, 2);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->xfer->error);
  curl_easy_setopt(e, CURLOPT_URL, o->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_USERAGENT, o->agent);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout);
  if (o->stall_timeout > 0) {  /* no byte either way for that long: give up */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->stall_timeout);
  }
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
  /* wait for a connection that can multiplex rather than open another */
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  if (o->follow >= 0) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, o->follow);
  }
  /* The CAs to trust (which ones is lua/regsh/http.lua's choice): exactly
  ** the given file and/or hashed directory, the other one unset. A directory
  ** alone is OpenSSL's lazy lookup: the issuer's file is read when the
  ** handshake needs it, where a bundle is parsed whole (~140 certificates)
  ** for each new connection. A file alone is loaded once per multi handle
  ** (curl's CA cache, CURLOPT_CA_CACHE_TIMEOUT, which a CApath disables). */
  if (o->ca_file || o->ca_dir) {
    curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(e, CURLOPT_CAPATH, o->ca_dir);
  }
  if (o->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (strcmp(o->method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (o->body || strcmp(o->method, "POST") == 0 ||
           strcmp(o->method, "PUT") == 0 || strcmp(o->method, "PATCH") == 0) {
    /* Content-Length even when empty; no form type or 100-continue wait
    ** that the caller did not ask for */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body ? o->body : "");
    if (strcmp(o->method, "POST") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    if (!(given & 1)) add_header(L, r->xfer, "Content-Type", NULL, 0);
    if (!(given & 2)) add_header(L, r->xfer, "Expect", NULL, 0);
  }
  else if (strcmp(o->method, "GET") != 0)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
  if (r->xfer->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->xfer->headers);
  /* a HEAD response's Content-Length is not a body to refuse */
  if (o->max_body > 0 && strcmp(o->method, "HEAD") != 0)
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
}

/*
** request(opts) -> op | nil, err, code
** Options are checked before anything is acquired; misuse raises. The op
** finishes when the transfer does; op:result() then gives the response.
*/
static int http_request (lua_State *L) {
  RequestOptions o;
  Multi *m;
  Request *r;
  memset(&o, 0, sizeof(o));
  read_request_options(L, &o);
  /* stack: opts, headers|nil */
  m = http_multi_of(L);
  /* born closed, so that __gc can tidy up after any error below */
  r = (Request *)lua_newuserdatauv(L, sizeof(*r), 1);
  memset(r, 0, sizeof(*r));
  r->fd = -1;
  r->op.ref = LUA_NOREF;
  luaL_setmetatable(L, REQUEST_TYPE);
  /* stack: opts, headers|nil, request */
  if (o.body) {  /* curl reads it in place: the request keeps it alive */
    lua_getfield(L, 1, "body");
    lua_setiuservalue(L, 3, 1);
  }
  if (!http_request_attach(m, r)) return luaL_error(L, "out of memory");
  r->mode = o.output ? BODY_FILE : o.stream ? BODY_STREAM : BODY_MEMORY;
  r->max_body = o.max_body;
  setup_transfer(L, r, &o);
  if (o.output) {
    r->fd = open(o.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (r->fd < 0) {
      int err = errno;
      http_request_close(r);
      return regsh_fail_errno(L, err, "%s", o.output);
    }
  }
  if (!http_request_start(r)) {
    http_request_close(r);
    return regsh_fail(L, "ENOMEM", "%s: cannot start the request", o.url);
  }
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
    case CURLE_COULDNT_RESOLVE_PROXY: return "EHOST";
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
    case FAIL_HEADERS:
      return regsh_fail(L, "ETOOBIG", "%s: response headers larger than %d "
                        "bytes", where, MAX_HEADER_BYTES);
    case FAIL_WRITE:
      return regsh_fail_errno(L, r->write_errno, "%s: cannot write the "
                              "output file", where);
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
      if (r->code == CURLE_COULDNT_CONNECT && r->socket_errno)
        return regsh_fail_errno(L, r->socket_errno, "%s: cannot open a "
                                "socket", where);
      if (r->code == CURLE_OUT_OF_MEMORY && !r->headers_done && t->head.len)
        /* what curl says of one header line over its limit */
        return regsh_fail(L, "ETOOBIG", "%s: a response header line longer "
                          "than %d bytes", where, CURL_MAX_HTTP_HEADER);
      if (r->code == CURLE_FILESIZE_EXCEEDED)
        return regsh_fail(L, "ETOOBIG", "%s: response body larger than "
                          "max_body (%I bytes)", where, (lua_Integer)r->max_body);
      return regsh_fail(L, fail_code(r->code), "%s: %s", where,
                        t->error[0] ? t->error : curl_easy_strerror(r->code));
  }
}

/* REGSH_TRACE: the request's connect, TLS handshake (a failed one too: it
** ran until the end) and exchange, from curl's own clock */
static void trace_request (Request *r) {
  curl_off_t connect = 0, tls = 0, total = 0;
  double start;
  const char *url = NULL, *host;
  char name[96];
  CURL *e = r->xfer->easy;
  if (!regsh_tracing()) return;
  curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connect);
  curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &tls);
  curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
  curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, (char **)&url);
  url = url ? url : "?";
  /* scheme://host/path only: no user-info, no query (tokens, signatures) */
  host = strstr(url, "://");
  host = host ? host + 3 : url;
  if (memchr(host, '@', strcspn(host, "/?#"))) host = strchr(host, '@') + 1;
  snprintf(name, sizeof(name), "%.*s://%.*s", (int)(strcspn(url, ":")), url,
           (int)strcspn(host, "?#"), host);
  if (tls > 0) tls -= connect;
  else if (r->code != CURLE_OK && strncmp(url, "https:", 6) == 0)
    tls = total - connect;  /* the handshake failed: it was all there was */
  start = regsh_trace_now() - (double)total / 1e3;  /* the transfer ends now */
  regsh_trace_add("connect", name, start, (double)connect / 1e3);
  regsh_trace_add("tls", name, start + (double)connect / 1e3, (double)tls / 1e3);
  regsh_trace_add("exchange", name, start + (double)(connect + tls) / 1e3,
                  (double)(total - connect - tls) / 1e3);
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
  trace_request(r);
  if (r->fail != FAIL_NONE || r->code != CURLE_OK) {
    int n = pushfailure(L, r);
    http_request_close(r);
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
  http_request_close(r);
  return 1;
}

/*
** op:take() -> chunk | nil
** on_data requests: the body received since the last take. Resumes a
** transfer paused because Lua fell behind.
*/
static int request_take (lua_State *L) {
  Request *r = checkrequest(L);
  regsh_buffer *b = &r->xfer->body;
  if (r->mode != BODY_STREAM) return luaL_error(L, "not an on_data request");
  if (b->len == 0) lua_pushnil(L);
  else {
    lua_pushlstring(L, b->data, b->len);
    b->len = 0;
  }
  if (r->paused && r->in_multi) {
    r->paused = 0;
    /* delivers the held chunk right away, through on_body, and sets curl's
    ** timer to 0 so that the next turn of the loop reads on */
    curl_easy_pause(r->xfer->easy, CURLPAUSE_CONT);
  }
  return 1;
}

/* op:close(): stop the transfer if it runs and free it; idempotent */
static int request_gc (lua_State *L) {
  Request *r = (Request *)luaL_checkudata(L, 1, REQUEST_TYPE);
  if (r->op.active) {
    r->fail = FAIL_CANCELED;
    http_request_done(r, CURLE_ABORTED_BY_CALLBACK);
  }
  http_request_close(r);
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
  {"__tostring", request_tostring},
  {NULL, NULL}
};

static const luaL_Reg http_funcs[] = {
  {"configure", http_configure},
  {"request", http_request},
  {NULL, NULL}
};

int luaopen_regsh_core_http (lua_State *L);

int luaopen_regsh_core_http (lua_State *L) {
  static int initialised = 0;
  if (!initialised) {
    CURLcode ok;
    regsh_trace_enter();
    ok = curl_global_init(CURL_GLOBAL_DEFAULT);
    regsh_trace_leave("curl-init", "curl_global_init");
    if (ok != CURLE_OK) return luaL_error(L, "cannot initialise libcurl");
    initialised = 1;
  }
  http_multi_init(L);
  regsh_newclass(L, REQUEST_TYPE, request_gc, request_meta, request_methods,
                 REGSH_CLASS_OP);
  lua_pop(L, 1);
  luaL_newlib(L, http_funcs);
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  lua_pushliteral(L, REGSH_SYSTEM_CA_DIR);
  lua_setfield(L, -2, "system_ca_dir");
  lua_pushliteral(L, REGSH_SYSTEM_CA_FILE);
  lua_setfield(L, -2, "system_ca_file");
  return 1;
}
