/*
** http_headers.c: a response's header lines, collected under a limit and
** then parsed into Lua tables (see http_headers.h). Split from http.c, which
** owns the transfers; this part only handles text, and tests/c/
** test_http_headers.c tests it directly.
*/
#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

#include "http_headers.h"

int http_headers_collect (regsh_buffer *head, size_t *seen, size_t limit,
                          const char *line, size_t len) {
  if (len > limit || *seen > limit - len) return HTTP_HEADER_TOOBIG;
  *seen += len;
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) head->len = 0;
  return regsh_buffer_append(head, line, len) ? HTTP_HEADER_OK
                                              : HTTP_HEADER_NOMEM;
}

/* [-0, +1, m] the header name at idx in lower case; often it already is
** (HTTP/2 sends nothing else), and then it is the same string */
static void pushlower (lua_State *L, int idx, const char *s, size_t len) {
  char small[64], *p = small;
  luaL_Buffer b;
  size_t i = 0;
  while (i < len && !isupper((unsigned char)s[i])) i++;
  if (i == len) {
    lua_pushvalue(L, idx);
    return;
  }
  if (len > sizeof(small)) p = luaL_buffinitsize(L, &b, len);
  for (i = 0; i < len; i++) p[i] = (char)tolower((unsigned char)s[i]);
  if (p == small) lua_pushlstring(L, small, len);
  else luaL_pushresultsize(&b, len);
}

static const char *skip_space (const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

static const char *trim_end (const char *start, const char *end) {
  while (end > start && (end[-1] == ' ' || end[-1] == '\t' ||
                         end[-1] == '\r' || end[-1] == '\n')) end--;
  return end;
}

/* [-0, +1, m] a header's value, obsolete folded lines joined by a space */
static void pushheadervalue (lua_State *L, const char *start,
                             const char *end, int folded) {
  luaL_Buffer b;
  const char *q = start;
  if (!folded) {
    const char *s = skip_space(start, end);
    lua_pushlstring(L, s, (size_t)(end - s));
    return;
  }
  luaL_buffinit(L, &b);
  while (q < end) {
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    const char *pend = nl ? nl : end;
    const char *s = skip_space(q, pend), *e = trim_end(s, pend);
    if (e > s) {
      if (luaL_bufflen(&b) > 0) luaL_addchar(&b, ' ');
      luaL_addlstring(&b, s, (size_t)(e - s));
    }
    q = nl ? nl + 1 : end;
  }
  luaL_pushresult(&b);
}

/*
** [-0, +0, m] fill headers (idx) with lower-case name -> first value and
** list with {name =, value =} of every line, in order. This runs for every
** response, so the field names are pushed once and stored with rawset.
*/
void http_push_headers (lua_State *L, int headers, int list, const char *raw,
                        size_t len) {
  const char *p = raw, *end = raw + len;
  lua_Integer n = 0;
  int kname, kvalue;
  lua_pushliteral(L, "name");
  kname = lua_gettop(L);
  lua_pushliteral(L, "value");
  kvalue = kname + 1;
  while (p < end && *p != '\n') p++;  /* the status line */
  while (p < end) {
    const char *line = ++p, *colon;
    int folded = 0;
    while (p < end && *p != '\n') p++;
    /* a value may continue on lines that start with white space */
    while (p + 1 < end && (p[1] == ' ' || p[1] == '\t')) {
      folded = 1;
      p++;
      while (p < end && *p != '\n') p++;
    }
    colon = memchr(line, ':', (size_t)(p - line));
    if (colon == NULL || colon == line) continue;  /* the blank last line */
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, line, (size_t)(colon - line));
    pushheadervalue(L, colon + 1, trim_end(colon + 1, p), folded);
    /* stack: entry, name, value */
    lua_pushvalue(L, kname);
    lua_pushvalue(L, -3);
    lua_rawset(L, -5);
    lua_pushvalue(L, kvalue);
    lua_pushvalue(L, -2);
    lua_rawset(L, -5);
    pushlower(L, -2, line, (size_t)(colon - line));
    lua_pushvalue(L, -1);
    /* stack: entry, name, value, lname, lname */
    if (lua_rawget(L, headers) == LUA_TNIL) {  /* the first value wins */
      lua_pop(L, 1);
      lua_pushvalue(L, -2);
      lua_rawset(L, headers);
    }
    else lua_pop(L, 2);
    lua_pop(L, 2);
    lua_rawseti(L, list, ++n);
  }
  lua_pop(L, 2);
}
