/*
** cron.c: regsh.core.cron, cron expressions parsed into bitmasks and their
** fire times found by jumping field by field (never minute by minute), in
** UTC or an IANA zone (cron_zone.c). The policy around it (describe, the
** command line, timers) is Lua: lua/regsh/schedule/cron.lua.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "cron_zone.h"
#include "util.h"

int luaopen_regsh_core_cron(lua_State *L);

#define CRON "regsh.cron"

/* epoch seconds next() and prev() take: years 1 to 9999 */
#define MIN_TIME (-62135596800LL)
#define MAX_TIME 253402300799LL
/* the Gregorian calendar repeats every 400 years (146097 days, a whole
** number of weeks): an expression with no match in that long never fires */
#define CYCLE_DAYS (146097LL + 366)
#define NONE INT64_MAX

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, NFIELDS };

static const struct { const char *name; int lo, hi; } field_info[NFIELDS] = {
  {"second", 0, 59}, {"minute", 0, 59}, {"hour", 0, 23},
  {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 6},
};

static const char *const month_names[] = {
  "january", "february", "march", "april", "may", "june", "july",
  "august", "september", "october", "november", "december",
};
static const char *const day_names[] = {
  "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
};

typedef struct {
  uint64_t mask[NFIELDS];   /* bit v set: value v matches */
  int dom_star, dow_star;   /* the field's text starts with '*' (cronie's rule) */
  int fixed;                /* neither minute nor hour (nor second) starts with '*' */
  int acr;                  /* NCrontab's AND of the day fields; else vixie */
  int seconds;              /* a seconds field was given */
  int64_t every;            /* @every: the interval in seconds, else 0 */
  cron_zone *zone;          /* NULL: UTC */
} Cron;


/* {================================================================
** Parsing
** ================================================================= */

typedef struct {
  int acr;
  char *err;                /* ERRLEN bytes */
} Parser;

#define ERRLEN 256

/* a piece of the expression for a message: at most 40 bytes, anything
** unprintable as \xHH, so a message is always one clean line */
static const char *quote (char *buf, size_t size, const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len && n + 5 < size; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (i == 40) {
      n += (size_t)snprintf(buf + n, size - n, "...");
      break;
    }
    if (ch >= 0x20 && ch < 0x7f) buf[n++] = (char)ch;
    else n += (size_t)snprintf(buf + n, size - n, "\\x%02X", ch);
  }
  buf[n] = '\0';
  return buf;
}

static int field_error (Parser *p, int field, const char *fmt, const char *s, size_t len) {
  char q[180], msg[232];
  snprintf(msg, sizeof(msg), fmt, quote(q, sizeof(q), s, len));
  snprintf(p->err, ERRLEN, "field '%s': %s", field_info[field].name, msg);
  return 0;
}

static int is_digit (char ch) { return ch >= '0' && ch <= '9'; }
static int is_alpha (char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
static int lower (char ch) { return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch; }

/* a month or weekday name: vixie takes the 3-letter forms (cronie), acr any
** prefix of the English name, the first match winning (NCrontab: "Ju" is June) */
static int lookup_name (Parser *p, int field, const char *s, size_t len) {
  const char *const *names = field == F_MON ? month_names : day_names;
  int count = field == F_MON ? 12 : 7;
  if (!p->acr && len != 3) return -1;
  for (int i = 0; i < count; i++) {
    size_t k = 0;
    while (k < len && names[i][k] && lower(s[k]) == names[i][k]) k++;
    if (k == len) return field == F_MON ? i + 1 : i;
  }
  return -1;
}

/* one value at *pos of [s, end): a number or a name; -1 after an error */
static int parse_value (Parser *p, int field, const char *s, size_t len, size_t *pos,
                        int hi) {
  size_t start = *pos;
  if (*pos < len && is_digit(s[*pos])) {
    long v = 0;
    while (*pos < len && is_digit(s[*pos])) {
      if (v < 100000) v = v * 10 + (s[*pos] - '0');
      (*pos)++;
    }
    if (v < field_info[field].lo || v > hi) {
      char msg[64];
      snprintf(msg, sizeof(msg), "value %%s out of range %d-%d", field_info[field].lo, hi);
      field_error(p, field, msg, s + start, *pos - start);
      return -1;
    }
    return (int)v;
  }
  while (*pos < len && is_alpha(s[*pos])) (*pos)++;
  if (*pos == start) {
    field_error(p, field, "cannot read '%s'", s, len);
    return -1;
  }
  int v = (field == F_MON || field == F_DOW) ? lookup_name(p, field, s + start, *pos - start)
                                            : -1;
  if (v < 0) field_error(p, field, "unknown name '%s'", s + start, *pos - start);
  return v;
}

/* one element of a list: *, a, a-b, with an optional /step */
static int parse_element (Parser *p, int field, const char *s, size_t len, uint64_t *mask) {
  int hi = field_info[field].hi;
  int value_hi = (field == F_DOW && !p->acr) ? 7 : hi;   /* vixie: 7 is Sunday too */
  int a, b, step = 1;
  size_t pos = 0;
  if (len == 0) return field_error(p, field, "empty list element%s", "", 0);
  if (s[0] == '*') {
    a = field_info[field].lo;
    b = hi;
    pos = 1;
  } else {
    if ((a = parse_value(p, field, s, len, &pos, value_hi)) < 0) return 0;
    b = a;
    if (pos < len && s[pos] == '-') {
      pos++;
      if ((b = parse_value(p, field, s, len, &pos, value_hi)) < 0) return 0;
      if (field == F_DOW && !p->acr && b == 0 && a > 0) b = 7;  /* cronie: 5-0 is Fri-Sun */
      if (a > b) {
        char msg[96];
        snprintf(msg, sizeof(msg), "range %d-%d in '%%s' is reversed (write the smaller"
                 " value first)", a, b);
        return field_error(p, field, msg, s, len);
      }
    } else if (pos < len && s[pos] == '/') {
      b = hi;                                  /* N/step: from N to the maximum */
    }
  }
  if (pos < len && s[pos] == '/') {
    size_t start = ++pos;
    long v = 0;
    while (pos < len && is_digit(s[pos])) {
      if (v < 100000) v = v * 10 + (s[pos] - '0');
      pos++;
    }
    if (pos == start || pos != len)
      return field_error(p, field, "cannot read the step in '%s'", s, len);
    if (v == 0)
      return field_error(p, field, "step 0 in '%s' (a step is at least 1)", s, len);
    step = v > 1000 ? 1000 : (int)v;
  }
  if (pos != len) return field_error(p, field, "cannot read '%s'", s, len);
  for (int v = a; v <= b; v += step) *mask |= (uint64_t)1 << v;
  return 1;
}

static int parse_field (Parser *p, int field, const char *s, size_t len, uint64_t *mask) {
  size_t start = 0;
  *mask = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == ',') {
      if (!parse_element(p, field, s + start, i - start, mask)) return 0;
      start = i + 1;
    }
  }
  if (field == F_DOW && (*mask >> 7 & 1)) *mask = (*mask & 0x7f) | 1;
  return 1;
}

static int is_space (char ch) { return ch == ' ' || ch == '\t'; }

/* "10m", "1h30m", "90s", "2d": units d h m s, each at most once, in that order */
static int64_t parse_duration (const char *s, size_t len) {
  static const char units[] = "dhms";
  static const int64_t scale[] = {86400, 3600, 60, 1};
  int64_t total = 0;
  int next_unit = 0;
  size_t i = 0;
  if (len == 0) return -1;
  while (i < len) {
    int64_t v = 0;
    size_t start = i;
    while (i < len && is_digit(s[i])) {
      if (v > 100000000) return -1;
      v = v * 10 + (s[i++] - '0');
    }
    if (i == start || i == len) return -1;
    const char *u = strchr(units + next_unit, lower(s[i++]));
    if (!u || *u == '\0') return -1;
    next_unit = (int)(u - units) + 1;
    total += v * scale[u - units];
    if (total > 100LL * 365 * 86400) return -1;
  }
  return total;
}

static const struct { const char *name, *fields; } macros[] = {
  {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
  {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
  {"@hourly", "0 * * * *"}, {NULL, NULL},
};

static int parse_fields (Parser *p, Cron *c, const char *s, size_t len) {
  const char *tok[8];
  size_t toklen[8];
  int n = 0;
  for (size_t i = 0; i < len;) {
    while (i < len && is_space(s[i])) i++;
    if (i == len) break;
    size_t start = i;
    while (i < len && !is_space(s[i])) i++;
    if (n < 8) {
      tok[n] = s + start;
      toklen[n] = i - start;
    }
    n++;
  }
  if (p->acr && n != 5) {
    snprintf(p->err, ERRLEN, "the acr dialect takes exactly 5 fields (minute hour"
             " day-of-month month day-of-week), got %d", n);
    return 0;
  }
  if (n != 5 && n != 6) {
    snprintf(p->err, ERRLEN, "expected 5 fields (minute hour day-of-month month"
             " day-of-week) or 6 with seconds first, got %d", n);
    return 0;
  }
  int first = n == 5 ? F_MIN : F_SEC;
  c->seconds = n == 6;
  c->mask[F_SEC] = 1;
  for (int f = first; f < NFIELDS; f++)
    if (!parse_field(p, f, tok[f - first], toklen[f - first], &c->mask[f])) return 0;
  c->dom_star = tok[F_DOM - first][0] == '*';
  c->dow_star = tok[F_DOW - first][0] == '*';
  c->fixed = tok[F_MIN - first][0] != '*' && tok[F_HOUR - first][0] != '*'
             && (n == 5 || tok[0][0] != '*');
  return 1;
}

static int parse_macro (Parser *p, Cron *c, const char *s, size_t len) {
  char q[200];
  size_t name_len = 0;
  while (name_len < len && !is_space(s[name_len])) name_len++;
  if (p->acr) {
    snprintf(p->err, ERRLEN, "the acr dialect has no macros ('%s'): write 5 fields",
             quote(q, sizeof(q), s, name_len));
    return 0;
  }
  if (name_len == 6 && memcmp(s, "@every", 6) == 0) {
    size_t i = name_len;
    while (i < len && is_space(s[i])) i++;
    int64_t every = parse_duration(s + i, len - i);
    if (every <= 0) {
      snprintf(p->err, ERRLEN, "@every: cannot read the duration '%s' (write 10m, 1h30m,"
               " 90s: units d h m s)", quote(q, sizeof(q), s + i, len - i));
      return 0;
    }
    c->every = every;
    c->seconds = 1;
    return 1;
  }
  for (int i = 0; macros[i].name; i++) {
    if (strlen(macros[i].name) == name_len && memcmp(s, macros[i].name, name_len) == 0) {
      if (name_len != len) {
        snprintf(p->err, ERRLEN, "'%s' takes nothing after it", macros[i].name);
        return 0;
      }
      return parse_fields(p, c, macros[i].fields, strlen(macros[i].fields));
    }
  }
  snprintf(p->err, ERRLEN, "unknown macro '%s' (known: @yearly @annually @monthly"
           " @weekly @daily @midnight @hourly @every)", quote(q, sizeof(q), s, name_len));
  return 0;
}

/* }================================================================ */


/* {================================================================
** Fire times
** ================================================================= */

/* the lowest set bit of mask at or above from, -1 when none */
static int next_bit (uint64_t mask, int from) {
  if (from > 63) return -1;
  uint64_t m = mask >> from;
  return m ? from + __builtin_ctzll(m) : -1;
}

static int day_matches (const Cron *c, int64_t days, int dom) {
  int in_dom = (int)(c->mask[F_DOM] >> dom & 1);
  int in_dow = (int)(c->mask[F_DOW] >> cron_weekday(days) & 1);
  if (c->acr || c->dom_star || c->dow_star) return in_dom && in_dow;
  return in_dom || in_dow;                /* vixie: both restricted, either one */
}

/*
** The first wall-clock time at or after w (local seconds: the wall time read
** as if it were UTC) that matches, below limit; NONE when there is none. Each
** step moves the field that does not match to its next allowed value and
** resets the smaller ones.
*/
static int64_t next_wall (const Cron *c, int64_t w, int64_t limit) {
  int64_t days = cron_floordiv(w, 86400), secs = w - days * 86400, y;
  int m, d, h = (int)(secs / 3600), mi = (int)(secs / 60 % 60), s = (int)(secs % 60);
  int64_t last_day = days + CYCLE_DAYS;
  if (limit != NONE && cron_floordiv(limit - 1, 86400) < last_day)
    last_day = cron_floordiv(limit - 1, 86400);
  cron_civil_from_days(days, &y, &m, &d);
  while (days <= last_day) {
    if (!(c->mask[F_MON] >> m & 1)) {             /* the next allowed month */
      int next = next_bit(c->mask[F_MON], m + 1);
      if (next < 0) {
        next = next_bit(c->mask[F_MON], 1);
        y++;
      }
      m = next;
      d = 1;
      h = mi = s = 0;
      days = cron_days_from_civil(y, m, 1);
      continue;
    }
    int hour = day_matches(c, days, d) ? next_bit(c->mask[F_HOUR], h) : -1;
    if (hour < 0) {                               /* the next day */
      days++;
      h = mi = s = 0;
      if (++d > cron_days_in_month(y, m)) {
        d = 1;
        if (++m > 12) {
          m = 1;
          y++;
        }
      }
      continue;
    }
    if (hour != h) {
      h = hour;
      mi = s = 0;
    }
    int minute = next_bit(c->mask[F_MIN], mi);
    if (minute < 0) {                             /* the next hour */
      h++;
      mi = s = 0;
      continue;
    }
    if (minute != mi) {
      mi = minute;
      s = 0;
    }
    int second = next_bit(c->mask[F_SEC], s);
    if (second < 0) {                             /* the next minute */
      mi++;
      s = 0;
      if (mi == 60) {
        mi = 0;
        h++;
      }
      continue;
    }
    int64_t found = days * 86400 + h * 3600 + mi * 60 + second;
    return found < limit ? found : NONE;
  }
  return NONE;
}

/*
** The first fire time strictly after t, NONE when there is none. Across the
** zone's offset segments (cronie's DST rules, for changes of any size):
** - a fixed-time job (no '*' leading the minute or hour field) whose wall
**   time is skipped by a jump forward runs once, at the jump;
** - a fixed-time job does not run again in a repeated (fall-back) stretch:
**   the wall times the previous segment already showed are left out;
** - wildcard jobs follow the clock: nothing in a gap, both passes of an overlap.
*/
static int64_t cron_next (const Cron *c, int64_t t) {
  if (c->every) return (cron_floordiv(t, c->every) + 1) * c->every;
  if (!c->zone) return next_wall(c, t + 1, NONE);
  int64_t u = t + 1, horizon = t + CYCLE_DAYS * 86400;
  while (u < horizon) {
    cron_segment seg, after;
    cron_zone_segment(c->zone, u, &seg);
    int64_t lo = u + seg.off;
    if (c->fixed && seg.prev_off > seg.off && seg.start != INT64_MIN
        && lo < seg.start + seg.prev_off)
      lo = seg.start + seg.prev_off;
    int64_t hi = seg.end == INT64_MAX ? NONE : seg.end + seg.off;
    int64_t w = lo < hi ? next_wall(c, lo, hi) : NONE;
    if (w != NONE) return w - seg.off;
    if (seg.end == INT64_MAX) return NONE;
    if (c->fixed) {
      cron_zone_segment(c->zone, seg.end, &after);
      if (after.off > seg.off
          && next_wall(c, seg.end + seg.off, seg.end + after.off) != NONE)
        return seg.end;                           /* skipped: run at the jump */
    }
    u = seg.end;
  }
  return NONE;
}

/*
** The last fire time strictly before t, NONE when there is none. next() is
** non-decreasing in its argument, so the fire before t is next(u) for the
** largest u with next(u) < t: found by widening a window back from t, then
** bisecting it. About 2 log2(gap) calls of next().
*/
static int64_t cron_prev (const Cron *c, int64_t t) {
  if (c->every) return cron_floordiv(t - 1, c->every) * c->every;
  int64_t width = c->seconds ? 1 : 60, lo, hi = t - 1;
  for (;;) {
    lo = t - 1 - width;
    int64_t n = cron_next(c, lo);
    if (n < t) break;
    if (n == NONE && width > CYCLE_DAYS * 86400) return NONE;
    if (width > 2 * CYCLE_DAYS * 86400) return NONE;
    width *= 2;
  }
  while (hi - lo > 1) {                           /* next(lo) < t <= next(hi) */
    int64_t mid = lo + (hi - lo) / 2;
    if (cron_next(c, mid) < t) lo = mid;
    else hi = mid;
  }
  return cron_next(c, lo);
}

/* }================================================================ */


/* {================================================================
** The Lua side
** ================================================================= */

static Cron *check_cron (lua_State *L) {
  return (Cron *)luaL_checkudata(L, 1, CRON);
}

static int cron_gc (lua_State *L) {
  Cron *c = check_cron(L);
  cron_zone_free(c->zone);
  c->zone = NULL;
  return 0;
}

/* an epoch argument: a number within years 1..9999; floats rounded down
** (next) or up (prev), which gives the same answer as the exact instant */
static int64_t check_time (lua_State *L, int arg, int up) {
  lua_Number n = luaL_checknumber(L, arg);
  if (!(n >= (lua_Number)MIN_TIME && n <= (lua_Number)MAX_TIME))
    luaL_argerror(L, arg, "time out of range (years 1 to 9999)");
  lua_Integer i;
  if (lua_isinteger(L, arg)) return (int64_t)lua_tointeger(L, arg);
  i = (lua_Integer)n;
  if (up && (lua_Number)i < n) i++;
  if (!up && (lua_Number)i > n) i--;
  return (int64_t)i;
}

static int push_never (lua_State *L) {
  lua_getiuservalue(L, 1, 2);
  return regsh_fail(L, "ECRON", "'%s' never fires", lua_tostring(L, -1));
}

/* c:next(t [, n]) -> time | list of n times | nil, "ECRON: ... never fires" */
static int cron_next_lua (lua_State *L) {
  Cron *c = check_cron(L);
  int64_t t = check_time(L, 2, 0);
  if (lua_isnoneornil(L, 3)) {
    int64_t next = cron_next(c, t);
    if (next == NONE) return push_never(L);
    lua_pushinteger(L, (lua_Integer)next);
    return 1;
  }
  lua_Integer n = luaL_checkinteger(L, 3);
  luaL_argcheck(L, n >= 1 && n <= 1000000, 3, "count must be 1 to 1000000");
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    t = cron_next(c, t);
    if (t == NONE) {
      if (i == 1) return push_never(L);
      break;
    }
    lua_pushinteger(L, (lua_Integer)t);
    lua_rawseti(L, -2, i);
  }
  return 1;
}

/* c:prev(t) -> time | nil, "ECRON: ... never fires" */
static int cron_prev_lua (lua_State *L) {
  Cron *c = check_cron(L);
  int64_t prev = cron_prev(c, check_time(L, 2, 1));
  if (prev == NONE) return push_never(L);
  lua_pushinteger(L, (lua_Integer)prev);
  return 1;
}

/* c:offset(t) -> the zone's UTC offset at t, in seconds east */
static int cron_offset (lua_State *L) {
  Cron *c = check_cron(L);
  int64_t t = check_time(L, 2, 0);
  cron_segment seg;
  if (!c->zone) {
    lua_pushinteger(L, 0);
    return 1;
  }
  cron_zone_segment(c->zone, t, &seg);
  lua_pushinteger(L, seg.off);
  return 1;
}

static void push_set (lua_State *L, uint64_t mask, int lo, int hi, const char *key) {
  lua_newtable(L);
  int n = 0;
  for (int v = lo; v <= hi; v++) {
    if (mask >> v & 1) {
      lua_pushinteger(L, v);
      lua_rawseti(L, -2, ++n);
    }
  }
  lua_setfield(L, -2, key);
}

/* c:fields() -> {second = {...}, minute = ..., hour, day, month, weekday,
** day_star, weekday_star, fixed, seconds, every}: what the bitmasks hold */
static int cron_fields (lua_State *L) {
  Cron *c = check_cron(L);
  static const char *const keys[NFIELDS] = {
    "second", "minute", "hour", "day", "month", "weekday",
  };
  lua_newtable(L);
  if (c->every) {
    lua_pushinteger(L, (lua_Integer)c->every);
    lua_setfield(L, -2, "every");
    return 1;
  }
  for (int f = 0; f < NFIELDS; f++)
    push_set(L, c->mask[f], field_info[f].lo, field_info[f].hi, keys[f]);
  lua_pushboolean(L, c->dom_star);
  lua_setfield(L, -2, "day_star");
  lua_pushboolean(L, c->dow_star);
  lua_setfield(L, -2, "weekday_star");
  lua_pushboolean(L, c->fixed);
  lua_setfield(L, -2, "fixed");
  lua_pushboolean(L, c->seconds);
  lua_setfield(L, -2, "seconds");
  return 1;
}

/* fields c.expr, c.tz, c.dialect; then the methods (upvalue 1) */
static int cron_index (lua_State *L) {
  Cron *c = check_cron(L);
  const char *key = lua_tostring(L, 2);
  if (key && strcmp(key, "expr") == 0) lua_getiuservalue(L, 1, 2);
  else if (key && strcmp(key, "tz") == 0) lua_getiuservalue(L, 1, 1);
  else if (key && strcmp(key, "dialect") == 0) lua_pushstring(L, c->acr ? "acr" : "vixie");
  else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
  }
  return 1;
}

static int cron_tostring (lua_State *L) {
  check_cron(L);
  lua_getiuservalue(L, 1, 2);
  lua_pushfstring(L, "cron(%s)", lua_tostring(L, -1));
  return 1;
}

/* "CRON_TZ=Zone " or "TZ=Zone " before the fields: the zone's name */
static size_t zone_prefix (const char *s, size_t len, const char **zone, size_t *zone_len) {
  size_t skip = 0;
  if (len > 8 && memcmp(s, "CRON_TZ=", 8) == 0) skip = 8;
  else if (len > 3 && memcmp(s, "TZ=", 3) == 0) skip = 3;
  if (skip == 0) return 0;
  size_t i = skip;
  while (i < len && !is_space(s[i])) i++;
  *zone = s + skip;
  *zone_len = i - skip;
  while (i < len && is_space(s[i])) i++;
  return i;
}

/* parse(expr [, {dialect = "vixie"|"acr", tz = ZONE}]) -> cron | nil, "ECRON: ...", "ECRON" */
static int cron_parse (lua_State *L) {
  static const char *const keys[] = {"dialect", "tz", NULL};
  size_t len, zone_len = 0;
  const char *s = luaL_checklstring(L, 1, &len), *dialect = "vixie", *tz = NULL, *zone = NULL;
  char err[ERRLEN], q[200];
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    regsh_check_keys(L, 2, keys);
    dialect = regsh_opt_string(L, 2, "dialect", "vixie", NULL);
    tz = regsh_opt_string(L, 2, "tz", NULL, NULL);
  }
  int acr = strcmp(dialect, "acr") == 0;
  if (!acr && strcmp(dialect, "vixie") != 0)
    return luaL_argerror(L, 2, lua_pushfstring(L, "unknown dialect '%s' (vixie or acr)",
                                                dialect));
  while (len > 0 && (is_space(*s) || *s == '\n' || *s == '\r')) s++, len--;
  while (len > 0 && (is_space(s[len - 1]) || s[len - 1] == '\n' || s[len - 1] == '\r')) len--;
  size_t skip = zone_prefix(s, len, &zone, &zone_len);
  s += skip;
  len -= skip;
  Cron *c = (Cron *)lua_newuserdatauv(L, sizeof(Cron), 2);
  memset(c, 0, sizeof(*c));                /* born without a zone: __gc is safe */
  luaL_setmetatable(L, CRON);
  Parser p = {acr, err};
  if (len == 0) return regsh_fail(L, "ECRON", "empty expression");
  if (memchr(s, '\n', len) || memchr(s, '\r', len))
    return regsh_fail(L, "ECRON", "'%s' has more than one line", quote(q, sizeof(q), s, len));
  if (!(s[0] == '@' ? parse_macro(&p, c, s, len) : parse_fields(&p, c, s, len)))
    return regsh_fail(L, "ECRON", "%s", err);
  c->acr = acr;
  int ud = lua_gettop(L);
  if (zone) {
    if (memchr(zone, '\0', zone_len))
      return regsh_fail(L, "ECRON", "unknown time zone '%s'", quote(q, sizeof(q), zone, zone_len));
    lua_pushlstring(L, zone, zone_len);
    if (tz && strcmp(tz, lua_tostring(L, -1)) != 0)
      return regsh_fail(L, "ECRON", "two time zones: '%s' in the expression, '%s' in the"
                        " options", lua_tostring(L, -1), tz);
    tz = lua_tostring(L, -1);
  }
  if (tz && strcmp(tz, "UTC") != 0 && !(c->zone = cron_zone_load(tz, err, sizeof(err)))) {
    if (err[0]) return regsh_fail(L, "ECRON", "%s", err);
    return regsh_fail(L, "ECRON", "unknown time zone '%s'", quote(q, sizeof(q), tz, strlen(tz)));
  }
  lua_pushstring(L, tz ? tz : "UTC");
  lua_setiuservalue(L, ud, 1);
  lua_pushlstring(L, s, len);
  lua_setiuservalue(L, ud, 2);
  lua_settop(L, ud);
  return 1;
}

static const luaL_Reg cron_methods[] = {
  {"fields", cron_fields},
  {"next", cron_next_lua},
  {"offset", cron_offset},
  {"prev", cron_prev_lua},
  {NULL, NULL},
};

static const luaL_Reg cron_functions[] = {
  {"parse", cron_parse},
  {NULL, NULL},
};

int luaopen_regsh_core_cron (lua_State *L) {
  luaL_newmetatable(L, CRON);
  lua_pushcfunction(L, cron_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, cron_tostring);
  lua_setfield(L, -2, "__tostring");
  luaL_newlib(L, cron_methods);               /* [mt, methods] */
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, cron_index, 1);         /* [mt, methods, index] */
  lua_setfield(L, -3, "__index");
  luaL_newlib(L, cron_functions);             /* [mt, methods, module] */
  lua_insert(L, -2);
  lua_setfield(L, -2, "methods");             /* the Lua side adds describe, format */
  return 1;
}

/* }================================================================ */
