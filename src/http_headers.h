/*
** http_headers.h: turning a response's raw header block into Lua tables,
** for http.c. Pure parsing: no curl, no loop.
*/
#ifndef REGSH_HTTP_HEADERS_H
#define REGSH_HTTP_HEADERS_H

#include <stddef.h>
#include <lua.h>

/* [-0, +0, m] parse raw (status line, header lines, blank line) into the
** table at headers (lower-case name -> first value) and the array at list
** ({name =, value =} per line, in order); folded lines are joined */
void http_push_headers(lua_State *L, int headers, int list, const char *raw,
                       size_t len);

#endif
