/*
** regex.c: regsh.core.regex, PCRE2 (8-bit) patterns as Lua objects: the one
** syntax of every pattern a user types (--filter, policies). A match limit
** turns catastrophic backtracking into an EREGEX failure instead of a hang.
*/
#define PCRE2_CODE_UNIT_WIDTH 8

#include <string.h>

#include <lauxlib.h>
#include <pcre2.h>

#include "util.h"

int luaopen_regsh_core_regex(lua_State *L);

#define REGEX "regsh.regex"

/* Backtracking steps and nesting one match may take: far above what a sane
** pattern needs on a registry name, far below a visible hang. */
#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000

typedef struct {
  pcre2_code *code;           /* NULL once closed (or before compiling) */
  pcre2_match_data *data;
  pcre2_match_context *context;
} Regex;


static Regex *check_regex (lua_State *L) {
  Regex *re = (Regex *)luaL_checkudata(L, 1, REGEX);
  if (re->code == NULL) luaL_error(L, "attempt to use a closed regex");
  return re;
}

static int regex_gc (lua_State *L) {
  Regex *re = (Regex *)luaL_checkudata(L, 1, REGEX);
  pcre2_match_data_free(re->data);      /* each accepts NULL */
  pcre2_match_context_free(re->context);
  pcre2_code_free(re->code);
  re->data = NULL;
  re->context = NULL;
  re->code = NULL;
  return 0;
}

/* "i" caseless, "m" multiline, "s" dotall, "x" extended, "u" UTF-8,
** "a" anchored at the start, "f" full match (anchored at both ends) */
static uint32_t compile_options (lua_State *L, const char *flags) {
  uint32_t options = 0;
  for (const char *p = flags; *p; p++) {
    switch (*p) {
      case 'i': options |= PCRE2_CASELESS; break;
      case 'm': options |= PCRE2_MULTILINE; break;
      case 's': options |= PCRE2_DOTALL; break;
      case 'x': options |= PCRE2_EXTENDED; break;
      case 'u': options |= PCRE2_UTF; break;
      case 'a': options |= PCRE2_ANCHORED; break;
      case 'f': options |= PCRE2_ANCHORED | PCRE2_ENDANCHORED; break;
      default:
        luaL_argerror(L, 2, lua_pushfstring(L, "unknown flag '%c'", *p));
    }
  }
  return options;
}

/* compile(pattern [, flags]) -> regex | fail "EREGEX: pattern: message at offset N" */
static int regex_compile (lua_State *L) {
  size_t len;
  const char *pattern = luaL_checklstring(L, 1, &len);
  uint32_t options = compile_options(L, luaL_optstring(L, 2, ""));
  int error;
  PCRE2_SIZE offset;
  char message[256];
  Regex *re = (Regex *)lua_newuserdatauv(L, sizeof(Regex), 1);
  re->code = NULL;  /* born closed: __gc is safe whatever fails below */
  re->data = NULL;
  re->context = NULL;
  luaL_setmetatable(L, REGEX);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);  /* the pattern, for __tostring */
  re->code = pcre2_compile((PCRE2_SPTR)pattern, len, options, &error, &offset, NULL);
  if (re->code == NULL) {
    pcre2_get_error_message(error, (PCRE2_UCHAR *)message, sizeof(message));
    return regsh_fail(L, "EREGEX", "%s: %s at offset %d", pattern, message, (int)offset);
  }
  pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);  /* interpreted if JIT is missing */
  re->data = pcre2_match_data_create_from_pattern(re->code, NULL);
  re->context = pcre2_match_context_create(NULL);
  if (re->data == NULL || re->context == NULL) return luaL_error(L, "not enough memory");
  pcre2_set_match_limit(re->context, MATCH_LIMIT);
  pcre2_set_depth_limit(re->context, DEPTH_LIMIT);
  return 1;
}

/* Lua's string.find convention for init: 1-based, negative from the end */
static size_t start_offset (lua_State *L, int arg, size_t len) {
  lua_Integer init = luaL_optinteger(L, arg, 1);
  if (init > 0) return (size_t)init - 1;
  if (init == 0) return 0;
  if (init < -(lua_Integer)len) return 0;
  return len + (size_t)init;
}

/* One match from offset: >0 matched, 0 no match; a limit or other runtime
** error leaves the fail tuple on the stack and returns -3 (its size, negated). */
static int run (lua_State *L, Regex *re, const char *s, size_t len, size_t offset,
                uint32_t options) {
  int rc;
  char message[256];
  if (offset > len) return 0;
  rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, offset, options, re->data, re->context);
  if (rc > 0) return rc;
  if (rc == 0) return pcre2_get_ovector_count(re->data);  /* ovector too small: cannot be */
  if (rc == PCRE2_ERROR_NOMATCH || rc == PCRE2_ERROR_PARTIAL) return 0;
  lua_getiuservalue(L, 1, 1);
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
      rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
    regsh_fail(L, "EREGEX", "match limit exceeded by %s (simplify the pattern)",
               lua_tostring(L, -1));
  else {
    pcre2_get_error_message(rc, (PCRE2_UCHAR *)message, sizeof(message));
    regsh_fail(L, "EREGEX", "%s: %s", lua_tostring(L, -1), message);
  }
  lua_remove(L, -4);  /* the pattern */
  return -3;
}

/* Push the captures of the last match (the whole match when there are none);
** a group that did not take part is false. */
static int push_captures (lua_State *L, Regex *re, const char *s) {
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->data);
  uint32_t groups;
  pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
  if (groups == 0) {
    lua_pushlstring(L, s + ov[0], ov[1] - ov[0]);
    return 1;
  }
  luaL_checkstack(L, (int)groups, "too many captures");
  for (uint32_t i = 1; i <= groups; i++) {
    if (ov[2 * i] == PCRE2_UNSET) lua_pushboolean(L, 0);
    else lua_pushlstring(L, s + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
  }
  return (int)groups;
}

/* re:find(s [, init]) -> start, end, captures... | nil | fail */
static int regex_find (lua_State *L) {
  Regex *re = check_regex(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  int rc = run(L, re, s, len, start_offset(L, 3, len), 0);
  PCRE2_SIZE *ov;
  uint32_t groups;
  if (rc < 0) return -rc;
  if (rc == 0) {
    luaL_pushfail(L);
    return 1;
  }
  ov = pcre2_get_ovector_pointer(re->data);
  lua_pushinteger(L, (lua_Integer)ov[0] + 1);
  lua_pushinteger(L, (lua_Integer)ov[1]);
  pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
  if (groups == 0) return 2;
  return 2 + push_captures(L, re, s);
}

/* re:match(s [, init]) -> captures (or the whole match) | nil | fail */
static int regex_match (lua_State *L) {
  Regex *re = check_regex(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  int rc = run(L, re, s, len, start_offset(L, 3, len), 0);
  if (rc < 0) return -rc;
  if (rc == 0) {
    luaL_pushfail(L);
    return 1;
  }
  return push_captures(L, re, s);
}

/* re:test(s) -> boolean | fail */
static int regex_test (lua_State *L) {
  Regex *re = check_regex(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  int rc = run(L, re, s, len, 0, 0);
  if (rc < 0) return -rc;
  lua_pushboolean(L, rc > 0);
  return 1;
}

/* the iterator of gmatch; upvalues: regex, subject, next offset, whether a
** match was found. As in Lua 5.4's gmatch, a match may not end where the
** previous one ended: after a match, an empty one at its end is skipped. */
static int gmatch_step (lua_State *L) {
  size_t len;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &len);
  size_t offset = (size_t)lua_tointeger(L, lua_upvalueindex(3));
  uint32_t options = lua_toboolean(L, lua_upvalueindex(4)) ? PCRE2_NOTEMPTY_ATSTART : 0;
  Regex *re;
  PCRE2_SIZE *ov;
  int rc;
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));
  re = check_regex(L);
  rc = run(L, re, s, len, offset, options);
  if (rc < 0) {  /* an iterator cannot return a fail tuple: raise its message */
    lua_pop(L, 1);
    return lua_error(L);
  }
  if (rc == 0) return 0;
  ov = pcre2_get_ovector_pointer(re->data);
  lua_pushinteger(L, (lua_Integer)ov[1]);
  lua_replace(L, lua_upvalueindex(3));
  lua_pushboolean(L, 1);
  lua_replace(L, lua_upvalueindex(4));
  return push_captures(L, re, s);
}

/* re:gmatch(s) -> iterator over the captures (or whole matches) of each match */
static int regex_gmatch (lua_State *L) {
  check_regex(L);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  lua_pushinteger(L, 0);
  lua_pushboolean(L, 0);
  lua_pushcclosure(L, gmatch_step, 4);
  return 1;
}

static int regex_tostring (lua_State *L) {
  Regex *re = (Regex *)luaL_checkudata(L, 1, REGEX);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "regsh.regex (%s)%s", lua_tostring(L, -1),
                  re->code ? "" : " closed");
  return 1;
}

static int regex_version (lua_State *L) {
  char buf[64];
  pcre2_config(PCRE2_CONFIG_VERSION, buf);
  lua_pushstring(L, buf);
  return 1;
}

static const luaL_Reg regex_methods[] = {
  {"close", regex_gc},
  {"find", regex_find},
  {"gmatch", regex_gmatch},
  {"match", regex_match},
  {"test", regex_test},
  {NULL, NULL}
};

static const luaL_Reg regex_meta[] = {
  {"__tostring", regex_tostring},
  {NULL, NULL}
};

static const luaL_Reg regex_funcs[] = {
  {"compile", regex_compile},
  {NULL, NULL}
};

int luaopen_regsh_core_regex (lua_State *L) {
  regsh_newclass(L, REGEX, regex_gc, regex_meta, regex_methods, 0);
  lua_pop(L, 1);
  luaL_newlib(L, regex_funcs);
  regex_version(L);
  lua_setfield(L, -2, "pcre2_version");
  return 1;
}
