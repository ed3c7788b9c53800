/*
** http_multi.h: the seam between regsh.core.http (http.c: options, request
** set-up, results) and http_multi.c, which drives libcurl's multi interface
** from the state's libuv loop and owns the pool of reusable transfers.
** Internal to the http module (http.so); not part of the host's API.
*/
#ifndef REGSH_HTTP_MULTI_H
#define REGSH_HTTP_MULTI_H

#include <curl/curl.h>

#include "loop.h"
#include "util.h"

/* a transfer back in the pool keeps buffers up to this size */
#define KEEP_BUFFER_MAX (256 * 1024)

/* The reusable part of a request: an easy handle and its buffers. */
typedef struct Transfer {
  CURL *easy;
  struct curl_slist *headers;   /* request headers; freed when released */
  regsh_buffer body;            /* in-memory body, or on_data's backlog */
  regsh_buffer head;            /* raw header lines of the latest response */
  struct Transfer *next_free;
  char error[CURL_ERROR_SIZE];
} Transfer;

typedef struct Multi Multi;

enum { BODY_MEMORY, BODY_FILE, BODY_STREAM };
/* a reason of ours for a failed transfer, which wins over curl's verdict */
enum {
  FAIL_NONE, FAIL_CANCELED, FAIL_TOOBIG, FAIL_HEADERS, FAIL_WRITE, FAIL_NOMEM
};

/* A request: the op Lua waits on (REQUEST_TYPE in http.c). */
typedef struct Request {
  regsh_op op;                  /* first: loop.h */
  Multi *multi;                 /* NULL once detached (multi collected) */
  Transfer *xfer;               /* NULL: closed */
  struct Request *prev, *next;  /* the multi's requests that hold a transfer */
  curl_off_t received;          /* body bytes accepted so far */
  curl_off_t max_body;          /* -1: no limit */
  size_t header_bytes;          /* header bytes of every response so far */
  CURLcode code;                /* curl's verdict once done */
  int fd;                       /* output file, or -1 */
  int write_errno;
  int socket_errno;             /* EMFILE or ENFILE from socket(), or 0 */
  unsigned char mode;           /* BODY_* */
  unsigned char fail;           /* FAIL_* */
  unsigned char in_multi;       /* added to the multi and not removed */
  unsigned char paused;         /* on_data: paused at the high-water mark */
  unsigned char headers_done;   /* the latest response's blank line came */
} Request;

/* [-0, +0, m] the multi of this state, created on first use; raises when
** curl cannot make one */
Multi *http_multi_of(lua_State *L);
/* curl's handle of the multi, for curl_multi_setopt */
CURLM *http_multi_curl(Multi *m);
/* [-0, +0, -] register the multi's metatable (at luaopen) */
void http_multi_init(lua_State *L);

/* Give r a transfer from m's pool (or a new one) and list it with m; 0 when
** out of memory. */
int http_request_attach(Multi *m, Request *r);
/* Add r's easy handle to the multi: the transfer starts; 0 on failure */
int http_request_start(Request *r);
/* The transfer ended (curl's verdict, or a cancel): hand it to Lua. */
void http_request_done(Request *r, CURLcode code);
/* Give the transfer back, close the output file, forget the multi.
** Idempotent. */
void http_request_close(Request *r);

#endif
