/*
** cron_zone.h: IANA time zones for the cron engine (src/cron.c): a TZif file
** (version 2 or later, its 64-bit section) read from the zoneinfo directory,
** and the POSIX TZ rule of its footer for times past the table. Nothing here
** touches the C library's process-wide time zone (TZ, localtime_r).
*/
#ifndef REGSH_CRON_ZONE_H
#define REGSH_CRON_ZONE_H

#include <stddef.h>
#include <stdint.h>

/* One rule date of a POSIX TZ string: Mm.w.d, Jn or n, and the local time
** of the change in seconds (may be negative or past 24h, as TZif v3 allows) */
typedef struct cron_rule_date {
  char kind;              /* 'M', 'J' or 'N' (zero-based day of the year) */
  int month, week, wday, day;
  int32_t time;
} cron_rule_date;

typedef struct cron_zone {
  int ntrans;
  int64_t *trans;         /* transition instants, ascending */
  int32_t *off_after;     /* the UTC offset from trans[i] on */
  int32_t first_off;      /* the offset before trans[0] (time type 0) */
  int has_dst_rule;       /* the footer has a DST rule: used past the table */
  int32_t std_off, dst_off;
  cron_rule_date start, end;
} cron_zone;

/* A stretch of time with one UTC offset: [start, end), INT64_MIN/INT64_MAX
** when open; prev_off is the offset just before start */
typedef struct cron_segment {
  int64_t start, end;
  int32_t off, prev_off;
} cron_segment;

/* Load the zone named name ("Europe/Berlin"). NULL when it cannot: err is
** empty when there is no such zone, else it says what is wrong with the
** file. Free with cron_zone_free. */
cron_zone *cron_zone_load(const char *name, char *err, size_t errlen);
void cron_zone_free(cron_zone *z);

/* the segment of z that contains the instant t */
void cron_zone_segment(const cron_zone *z, int64_t t, cron_segment *seg);

/* proleptic Gregorian calendar: days since 1970-01-01 and back */
int64_t cron_days_from_civil(int64_t y, int m, int d);
void cron_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int cron_days_in_month(int64_t y, int m);
int cron_weekday(int64_t days);   /* 0 = Sunday */
/* floor division for a positive b */
int64_t cron_floordiv(int64_t a, int64_t b);

#endif
