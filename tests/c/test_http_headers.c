/*
** test_http_headers.c: src/http_headers.c on its own, without curl or a
** server: header lines collected under the size limit (a status line starts
** a new block), and raw blocks parsed into the headers table and the list
** (repeated names, folded values, malformed lines).
*/
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "http_headers.h"

/* assert() vanishes under NDEBUG (release builds): this check never does */
#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    return 1; } } while (0)

/* [-0, +2] parse raw into a new headers table and list */
static void parse (lua_State *L, const char *raw) {
  lua_newtable(L);
  lua_newtable(L);
  http_push_headers(L, lua_gettop(L) - 1, lua_gettop(L), raw, strlen(raw));
}

/* headers[name] as a string, or NULL (headers at -2, list at -1) */
static const char *field (lua_State *L, const char *name) {
  const char *v;
  lua_getfield(L, -2, name);
  v = lua_tostring(L, -1);
  lua_pop(L, 1);
  return v;  /* the table keeps it alive */
}

/* list[i].name or .value */
static const char *entry (lua_State *L, int i, const char *key) {
  const char *v;
  lua_rawgeti(L, -1, i);
  lua_getfield(L, -1, key);
  v = lua_tostring(L, -1);
  lua_pop(L, 2);
  return v;
}

static int eq (const char *a, const char *b) {
  return a != NULL && strcmp(a, b) == 0;
}

static int test_collect (void) {
  regsh_buffer head = {NULL, 0, 0};
  size_t seen = 0;
  const char *status = "HTTP/1.1 302 Found\r\n", *loc = "Location: /x\r\n";
  CHECK(http_headers_collect(&head, &seen, 100, status, strlen(status)) == HTTP_HEADER_OK);
  CHECK(http_headers_collect(&head, &seen, 100, loc, strlen(loc)) == HTTP_HEADER_OK);
  CHECK(http_headers_collect(&head, &seen, 100, "\r\n", 2) == HTTP_HEADER_OK);
  CHECK(head.len == strlen(status) + strlen(loc) + 2);
  /* the next response (after a redirect) replaces the block ... */
  status = "HTTP/1.1 200 OK\r\n";
  CHECK(http_headers_collect(&head, &seen, 100, status, strlen(status)) == HTTP_HEADER_OK);
  CHECK(head.len == strlen(status) && memcmp(head.data, status, head.len) == 0);
  /* ... but the limit counts the bytes of every response */
  CHECK(seen == 20 + 14 + 2 + 17);
  CHECK(http_headers_collect(&head, &seen, 100, "X-A: 0123456789012345678901234567890123456789012345\r\n",
                             53) == HTTP_HEADER_TOOBIG);
  CHECK(http_headers_collect(&head, &seen, 100, "X-A: 01234567890123456789012345\r\n",
                             33) == HTTP_HEADER_OK);
  CHECK(seen == 86);
  /* one line longer than the limit on its own, without overflow */
  CHECK(http_headers_collect(&head, &seen, 100, "x", (size_t)-1) == HTTP_HEADER_TOOBIG);
  regsh_buffer_free(&head);
  return 0;
}

static int test_parse (lua_State *L) {
  /* repeated names: the table has the first value, the list every line */
  parse(L, "HTTP/1.1 200 OK\r\nX-Repeat: one\r\nx-repeat: two\r\n"
           "Content-Type:  text/plain  \r\n\r\n");
  CHECK(eq(field(L, "x-repeat"), "one"));
  CHECK(field(L, "X-Repeat") == NULL);  /* names are lower case */
  CHECK(eq(field(L, "content-type"), "text/plain"));
  CHECK(luaL_len(L, -1) == 3);
  CHECK(eq(entry(L, 1, "name"), "X-Repeat") && eq(entry(L, 2, "name"), "x-repeat"));
  CHECK(eq(entry(L, 2, "value"), "two"));
  lua_pop(L, 2);

  /* obsolete folding: continuation lines joined by one space */
  parse(L, "HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\n\tthird\r\n"
           "X-After: yes\r\n\r\n");
  CHECK(eq(field(L, "x-folded"), "first second third"));
  CHECK(eq(field(L, "x-after"), "yes"));
  CHECK(luaL_len(L, -1) == 2);
  lua_pop(L, 2);

  /* malformed lines (no colon, empty name) are skipped; an empty value
  ** stays; bare LF line ends work too */
  parse(L, "HTTP/1.1 200 OK\nno colon here\n: no name\nX-Empty:\nX-Ok: 1\n\n");
  CHECK(luaL_len(L, -1) == 2);
  CHECK(eq(field(L, "x-empty"), ""));
  CHECK(eq(field(L, "x-ok"), "1"));
  CHECK(eq(entry(L, 1, "name"), "X-Empty"));
  lua_pop(L, 2);

  /* a name longer than the small stack buffer is lowered too */
  parse(L, "HTTP/2 200\r\nX-Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: v\r\n\r\n");
  CHECK(eq(field(L, "x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), "v"));
  lua_pop(L, 2);

  /* nothing but a status line, and nothing at all */
  parse(L, "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(luaL_len(L, -1) == 0);
  lua_pop(L, 2);
  parse(L, "");
  CHECK(luaL_len(L, -1) == 0);
  lua_pop(L, 2);
  CHECK(lua_gettop(L) == 0);
  return 0;
}

int main (void) {
  lua_State *L = luaL_newstate();
  int failed;
  if (L == NULL) return 1;
  failed = test_collect() || test_parse(L);
  lua_close(L);
  if (!failed) printf("test_http_headers: ok\n");
  return failed;
}
