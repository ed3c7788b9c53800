/*
** http_headers.h: response headers for http.c, pure text work (no curl, no
** loop): collecting the header lines of an exchange under a size limit, and
** turning the raw block of the final response into Lua tables.
*/
#ifndef REGSH_HTTP_HEADERS_H
#define REGSH_HTTP_HEADERS_H

#include <stddef.h>
#include <lua.h>

#include "util.h"

enum { HTTP_HEADER_OK, HTTP_HEADER_NOMEM, HTTP_HEADER_TOOBIG };

/* [-0, +0, -] one line as curl hands it over (status line, header line or
** the blank line) into head, which keeps only the latest response's block:
** a status line starts a new one (redirects, 100 Continue). *seen counts the
** header bytes of every response of the exchange; past limit the line is
** refused with HTTP_HEADER_TOOBIG. Plain C: safe in curl's callbacks. */
int http_headers_collect(regsh_buffer *head, size_t *seen, size_t limit,
                         const char *line, size_t len);

/* [-0, +0, m] parse raw (status line, header lines, blank line) into the
** table at headers (lower-case name -> first value) and the array at list
** ({name =, value =} per line, in order); folded lines are joined and lines
** without a name are skipped */
void http_push_headers(lua_State *L, int headers, int list, const char *raw,
                       size_t len);

#endif
