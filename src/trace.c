/*
** trace.c: REGSH_TRACE=1 (see trace.h and docs/reference/cli.md). Plain C
** with a fixed table of spans, so tracing allocates nothing and a run that
** fills the table just stops recording (it says how many were dropped).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "trace.h"

#define MAX_SPANS  512
#define MAX_DEPTH  64
#define NAME_SIZE  96

typedef struct {
  char phase[16];
  char name[NAME_SIZE];
  double start, ms, self;  /* self: ms less the spans nested inside */
} Span;

static struct {
  int on;
  double t0;
  Span spans[MAX_SPANS];
  int nspans, dropped;
  double starts[MAX_DEPTH], nested[MAX_DEPTH];  /* the open spans */
  int depth;
} trace;

static double clock_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void regsh_trace_start (void) {
  const char *v = getenv("REGSH_TRACE");
  trace.on = v != NULL && *v != '\0' && strcmp(v, "0") != 0;
  trace.t0 = clock_ms();
}

int regsh_tracing (void) {
  return trace.on;
}

double regsh_trace_now (void) {
  return clock_ms() - trace.t0;
}

static void record (const char *phase, const char *name, double start,
                    double ms, double self) {
  Span *s;
  if (trace.nspans == MAX_SPANS) {
    trace.dropped++;
    return;
  }
  s = &trace.spans[trace.nspans++];
  snprintf(s->phase, sizeof(s->phase), "%s", phase);
  snprintf(s->name, sizeof(s->name), "%s", name ? name : "");
  s->start = start;
  s->ms = ms;
  s->self = self;
}

void regsh_trace_enter (void) {
  if (!trace.on) return;
  if (trace.depth < MAX_DEPTH) {
    trace.starts[trace.depth] = regsh_trace_now();
    trace.nested[trace.depth] = 0;
  }
  trace.depth++;
}

void regsh_trace_leave (const char *phase, const char *name) {
  double ms;
  if (!trace.on || trace.depth == 0) return;
  trace.depth--;
  if (trace.depth >= MAX_DEPTH) return;
  ms = regsh_trace_now() - trace.starts[trace.depth];
  record(phase, name, trace.starts[trace.depth], ms, ms - trace.nested[trace.depth]);
  if (trace.depth > 0 && trace.depth - 1 < MAX_DEPTH)
    trace.nested[trace.depth - 1] += ms;
}

void regsh_trace_add (const char *phase, const char *name, double start,
                      double ms) {
  if (trace.on) record(phase, name, start, ms, ms);
}

/* the phases of the summary, in the order of a run */
static const char *const phases[] = {
  "state", "require", "dlopen", "curl-init", "connect", "tls", "exchange", NULL
};

void regsh_trace_report (lua_State *L) {
  double total, sum = 0, by_phase[8] = {0};
  if (!trace.on) return;
  total = regsh_trace_now();
  for (int i = 0; i < trace.nspans; i++) {
    Span *s = &trace.spans[i];
    fprintf(stderr, "regsh: trace: %8.3f ms %8.3f ms  %-9s %s\n", s->start,
            s->ms, s->phase, s->name);
    for (int p = 0; phases[p]; p++)
      if (strcmp(s->phase, phases[p]) == 0) by_phase[p] += s->self;
  }
  if (trace.dropped)
    fprintf(stderr, "regsh: trace: %d spans not recorded\n", trace.dropped);
  fprintf(stderr, "regsh: trace: phases (ms):");
  for (int p = 0; phases[p]; p++) {
    fprintf(stderr, " %s %.3f", phases[p], by_phase[p]);
    sum += by_phase[p];
  }
  fprintf(stderr, " other %.3f total %.3f\n", total - sum, total);
  /* the modules loaded: what a command cost in code (specs check laziness) */
  if (L && lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE) {
    fprintf(stderr, "regsh: trace: loaded:");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) == LUA_TSTRING)
        fprintf(stderr, " %s", lua_tostring(L, -2));
      lua_pop(L, 1);
    }
    fputc('\n', stderr);
  }
  if (L) lua_pop(L, 1);
  fflush(stderr);
}
