/*
** cron_zone.c: time zones for the cron engine without the C library's global
** TZ state: TZif files (RFC 8536, version 2+: the 64-bit section) parsed
** here, and the footer's POSIX TZ rule for instants past the last transition
** (slim zoneinfo files end their tables early and rely on it).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron_zone.h"

#define ZONEINFO "/usr/share/zoneinfo"
#define MAX_TZIF (1 << 20)      /* far above any real zone (New_York: 3.5 KB) */
/* transitions farther from 1970 than zic's "big bang" (-2^59) are damage:
** near INT64_MAX one overflows the wall-time arithmetic of cron.c */
#define MAX_TRANSITION (INT64_C(1) << 59)

/* {================================================================
** The calendar
** ================================================================= */

int64_t cron_floordiv (int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* days since 1970-01-01 of y-m-d: counted in 400-year eras from March 1st,
** so the leap day is the last day of its year and months have fixed offsets */
int64_t cron_days_from_civil (int64_t y, int m, int d) {
  if (m <= 2) y--;
  int64_t era = cron_floordiv(y, 400);
  int64_t year_of_era = y - era * 400;
  int64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100
                       + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

void cron_civil_from_days (int64_t days, int64_t *y, int *m, int *d) {
  int64_t z = days + 719468;
  int64_t era = cron_floordiv(z, 146097);
  int64_t day_of_era = z - era * 146097;
  int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524
                         - day_of_era / 146096) / 365;
  int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4
                                      - year_of_era / 100);
  int64_t mp = (5 * day_of_year + 2) / 153;
  *d = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = year_of_era + era * 400 + (*m <= 2);
}

/* 0 = Sunday: 1970-01-01 was a Thursday */
int cron_weekday (int64_t days) {
  return (int)(days + 4 - cron_floordiv(days + 4, 7) * 7);
}

static int is_leap (int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int cron_days_in_month (int64_t y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && is_leap(y)) ? 29 : days[m - 1];
}

/* }================================================================ */


/* {================================================================
** The POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3")
** ================================================================= */

static const char *rule_name (const char *p) {
  if (*p == '<') {
    while (*p && *p != '>') p++;
    return *p == '>' ? p + 1 : NULL;
  }
  const char *start = p;
  while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) p++;
  return p - start >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] in seconds; NULL when unreadable */
static const char *rule_time (const char *p, int32_t *out) {
  int sign = 1, parts[3] = {0, 0, 0};
  if (*p == '+' || *p == '-') sign = (*p++ == '-') ? -1 : 1;
  for (int i = 0; i < 3; i++) {
    if (*p < '0' || *p > '9') return NULL;
    int v = 0;
    for (int n = 0; *p >= '0' && *p <= '9'; p++)
      if (++n > 3) return NULL;
      else v = v * 10 + (*p - '0');
    parts[i] = v;
    if (*p != ':' || i == 2) break;
    p++;
  }
  if (parts[0] > 167 || parts[1] > 59 || parts[2] > 59) return NULL;
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return p;
}

static const char *rule_number (const char *p, int *out) {
  if (*p < '0' || *p > '9') return NULL;
  int v = 0;
  for (int n = 0; *p >= '0' && *p <= '9'; p++)
    if (++n > 3) return NULL;
    else v = v * 10 + (*p - '0');
  *out = v;
  return p;
}

/* ",Mm.w.d[/time]", ",Jn[/time]" or ",n[/time]" */
static const char *rule_date (const char *p, cron_rule_date *date) {
  if (*p++ != ',') return NULL;
  date->time = 2 * 3600;
  if (*p == 'M') {
    date->kind = 'M';
    if (!(p = rule_number(p + 1, &date->month)) || *p++ != '.') return NULL;
    if (!(p = rule_number(p, &date->week)) || *p++ != '.') return NULL;
    if (!(p = rule_number(p, &date->wday))) return NULL;
    if (date->month < 1 || date->month > 12 || date->week < 1 || date->week > 5
        || date->wday > 6) return NULL;
  } else {
    date->kind = (*p == 'J') ? 'J' : 'N';
    if (*p == 'J') p++;
    if (!(p = rule_number(p, &date->day))) return NULL;
    if (date->day > 365 || (date->kind == 'J' && date->day < 1)) return NULL;
  }
  if (*p == '/') p = rule_time(p + 1, &date->time);
  return p;
}

/* Read the footer's rule into z; a footer without DST leaves has_dst_rule 0
** (the table's last offset then holds for ever) */
static void parse_rule (cron_zone *z, const char *s) {
  int32_t std, dst;
  const char *p = rule_name(s);
  if (!p || !(p = rule_time(p, &std))) return;
  if (*p == '\0') return;
  if (!(p = rule_name(p))) return;
  dst = std - 3600;                       /* POSIX offsets are west of UTC */
  if (*p != ',' && *p != '\0' && !(p = rule_time(p, &dst))) return;
  if (!(p = rule_date(p, &z->start)) || !(p = rule_date(p, &z->end)) || *p != '\0')
    return;
  z->std_off = -std;
  z->dst_off = -dst;
  z->has_dst_rule = 1;
}

/* the day (since the epoch) a rule date falls on in year y */
static int64_t rule_day (const cron_rule_date *date, int64_t y) {
  int64_t jan1 = cron_days_from_civil(y, 1, 1);
  if (date->kind == 'J')      /* 1..365, February 29th never counted */
    return jan1 + date->day - 1 + (is_leap(y) && date->day >= 60);
  if (date->kind == 'N') return jan1 + date->day;
  int64_t first = cron_days_from_civil(y, date->month, 1);
  int64_t day = first + (date->wday - cron_weekday(first) + 7) % 7 + (date->week - 1) * 7;
  while (day - first >= cron_days_in_month(y, date->month)) day -= 7;   /* week 5: the last */
  return day;
}

/* }================================================================ */


/* {================================================================
** TZif files
** ================================================================= */

static int64_t be64 (const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return (int64_t)v;
}

static int32_t be32 (const unsigned char *p) {
  return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16)
                   | ((uint32_t)p[2] << 8) | p[3]);
}

/* a zone name is a relative path of plain components: never "..", never
** absolute, so parse() cannot be made to read an arbitrary file */
static int valid_name (const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > 200 || name[0] == '/' || name[len - 1] == '/') return 0;
  for (const char *p = name; *p; p++) {
    char ch = *p;
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
          || ch == '/' || ch == '_' || ch == '-' || ch == '+' || ch == '.')) return 0;
    if (ch == '.' && (p == name || p[-1] == '/')) return 0;     /* ".." and hidden files */
    if (ch == '/' && p[1] == '/') return 0;
  }
  return 1;
}

static unsigned char *read_file (const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *data = malloc(MAX_TZIF);
  size_t n = data ? fread(data, 1, MAX_TZIF, f) : 0;
  fclose(f);
  if (!data || n == 0 || n == MAX_TZIF) {
    free(data);
    return NULL;
  }
  *len = n;
  return data;
}

/* the counts of a TZif header at p: isut, isstd, leap, time, type, char */
static void header_counts (const unsigned char *p, uint32_t counts[6]) {
  for (int i = 0; i < 6; i++) counts[i] = (uint32_t)be32(p + 20 + 4 * i);
}

static int parse_tzif (cron_zone *z, const unsigned char *data, size_t len) {
  uint32_t c[6];
  if (len < 44 || memcmp(data, "TZif", 4) != 0 || data[4] < '2') return 0;
  header_counts(data, c);
  if (c[0] > 256 || c[1] > 256 || c[2] > 1000 || c[3] > 100000 || c[4] > 256
      || c[5] > 10000) return 0;
  size_t v1 = (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
  size_t at = 44 + v1;
  if (len < at + 44 || memcmp(data + at, "TZif", 4) != 0) return 0;
  header_counts(data + at, c);
  uint32_t isut = c[0], isstd = c[1], leaps = c[2], times = c[3], types = c[4], chars = c[5];
  if (isut > 256 || isstd > 256 || leaps > 1000 || times > 100000 || types == 0
      || types > 256 || chars > 10000) return 0;
  at += 44;
  size_t body = (size_t)times * 9 + (size_t)types * 6 + chars + (size_t)leaps * 12
                + isstd + isut;
  if (len < at + body) return 0;
  const unsigned char *trans = data + at, *index = trans + (size_t)times * 8;
  const unsigned char *type = index + times;
  z->trans = malloc(sizeof(int64_t) * (times ? times : 1));
  z->off_after = malloc(sizeof(int32_t) * (times ? times : 1));
  if (!z->trans || !z->off_after) return 0;
  for (uint32_t i = 0; i < times; i++) {
    if (index[i] >= types) return 0;
    z->trans[i] = be64(trans + 8 * i);
    if (z->trans[i] < -MAX_TRANSITION || z->trans[i] > MAX_TRANSITION) return 0;
    if (i > 0 && z->trans[i] <= z->trans[i - 1]) return 0;
    z->off_after[i] = be32(type + 6 * index[i]);
  }
  z->ntrans = (int)times;
  z->first_off = be32(type);
  /* the footer: "\nTZ-string\n" */
  const unsigned char *foot = data + at + body;
  size_t left = len - (at + body);
  if (left >= 2 && foot[0] == '\n') {
    char rule[128];
    size_t n = 0;
    while (n + 1 < left && n < sizeof(rule) - 1 && foot[1 + n] != '\n') {
      rule[n] = (char)foot[1 + n];
      n++;
    }
    rule[n] = '\0';
    parse_rule(z, rule);
  }
  return 1;
}

void cron_zone_free (cron_zone *z) {
  if (!z) return;
  free(z->trans);
  free(z->off_after);
  free(z);
}

cron_zone *cron_zone_load (const char *name, char *err, size_t errlen) {
  char path[512];
  size_t len = 0;
  err[0] = '\0';                         /* not a zone: the caller names it */
  if (!valid_name(name)) return NULL;
  const char *dir = getenv("TZDIR");
  snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : ZONEINFO, name);
  unsigned char *data = read_file(path, &len);
  if (!data) return NULL;
  cron_zone *z = calloc(1, sizeof(cron_zone));
  if (!z || !parse_tzif(z, data, len)) {
    snprintf(err, errlen, "time zone '%s': %s is not a TZif file (version 2 or later)",
             name, path);
    cron_zone_free(z);
    z = NULL;
  }
  free(data);
  return z;
}

/* }================================================================ */


/* {================================================================
** Offsets
** ================================================================= */

/* The segment past the table, from the footer's rule: the transitions of
** the years around t, and the table's last one, make a short ordered list */
static void rule_segment (const cron_zone *z, int64_t t, int64_t last, int32_t last_off,
                          int32_t last_prev, cron_segment *seg) {
  int64_t at[7];
  int32_t off[7];
  int n = 0;
  at[n] = last;
  off[n++] = last_off;
  int64_t y, year;
  int mo, d;
  cron_civil_from_days(cron_floordiv(t, 86400), &year, &mo, &d);
  for (y = year - 1; y <= year + 1; y++) {
    int64_t begin = rule_day(&z->start, y) * 86400 + z->start.time - z->std_off;
    int64_t end = rule_day(&z->end, y) * 86400 + z->end.time - z->dst_off;
    int64_t first = begin < end ? begin : end, second = begin < end ? end : begin;
    int32_t first_off = begin < end ? z->dst_off : z->std_off;
    int32_t second_off = begin < end ? z->std_off : z->dst_off;
    if (first > at[n - 1]) { at[n] = first; off[n++] = first_off; }
    if (second > at[n - 1]) { at[n] = second; off[n++] = second_off; }
  }
  int i = 0;
  while (i + 1 < n && at[i + 1] <= t) i++;
  seg->start = at[i];
  seg->off = off[i];
  seg->prev_off = i > 0 ? off[i - 1] : last_prev;
  seg->end = i + 1 < n ? at[i + 1] : INT64_MAX;
}

void cron_zone_segment (const cron_zone *z, int64_t t, cron_segment *seg) {
  int n = z->ntrans;
  if (n == 0 || t < z->trans[0]) {
    seg->start = INT64_MIN;
    seg->off = seg->prev_off = z->first_off;
    seg->end = n > 0 ? z->trans[0] : INT64_MAX;
    if (n == 0 && z->has_dst_rule)
      rule_segment(z, t, INT64_MIN, z->first_off, z->first_off, seg);
    return;
  }
  int lo = 0, hi = n - 1;             /* the last transition at or before t */
  while (lo < hi) {
    int mid = lo + (hi - lo + 1) / 2;
    if (z->trans[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  int32_t prev = lo > 0 ? z->off_after[lo - 1] : z->first_off;
  if (lo + 1 < n) {
    seg->start = z->trans[lo];
    seg->end = z->trans[lo + 1];
    seg->off = z->off_after[lo];
    seg->prev_off = prev;
  } else if (z->has_dst_rule) {
    rule_segment(z, t, z->trans[lo], z->off_after[lo], prev, seg);
  } else {
    seg->start = z->trans[lo];
    seg->end = INT64_MAX;
    seg->off = z->off_after[lo];
    seg->prev_off = prev;
  }
}

/* }================================================================ */
