/*
** trace.h: REGSH_TRACE=1, where one run's time goes. Spans (the state's
** creation, each first require, libcurl's load and global init, each HTTP
** request's connect, TLS and exchange) are kept in memory and printed to
** stderr at exit with a summary by phase and the modules loaded.
*/
#ifndef REGSH_TRACE_H
#define REGSH_TRACE_H

#include <lua.h>

/* main(): read REGSH_TRACE and take the start time */
void regsh_trace_start(void);
/* whether REGSH_TRACE is on (a cheap test for callers) */
int regsh_tracing(void);
/* milliseconds since regsh_trace_start */
double regsh_trace_now(void);
/* A nested span: enter, then leave with its phase and name (copied). Time
** spent in spans nested inside is not counted again in the outer one's
** phase. A no-op unless tracing. */
void regsh_trace_enter(void);
void regsh_trace_leave(const char *phase, const char *name);
/* A span measured elsewhere (curl's timings of a request): it started at
** start (ms since regsh_trace_start) and lasted ms. */
void regsh_trace_add(const char *phase, const char *name, double start, double ms);
/* [-0, +0, -] print the spans, the summary and package.loaded's names */
void regsh_trace_report(lua_State *L);

#endif
