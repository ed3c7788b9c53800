/*
** yaml_decode.c: regsh.core.yaml's luaopen and its reading half: libyaml's
** parser events straight into Lua values (anchors, merge keys), with plain
** scalars resolved by the YAML 1.2 core schema. yaml_encode.c writes; the
** public face is lua/regsh/yaml.lua (file reading, the array marker shared
** with regsh.json).
*/
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <yaml.h>

#include "util.h"
#include "yaml_internal.h"

int luaopen_regsh_core_yaml(lua_State *L);

#define MERGE_BUDGET (1 << 22)    /* entries `<<` may copy in one decode */

#define DECODER "regsh.yaml.decoder"

#define TAG_PREFIX "tag:yaml.org,2002:"


/*
** {======================================================
** The core schema: what a plain scalar means
** =======================================================
*/

static int is_digits (const char *s, const char *e, int (*ok)(int)) {
  if (s == e) return 0;
  for (; s < e; s++) if (!ok((unsigned char)*s)) return 0;
  return 1;
}

static int oct_digit (int c) { return c >= '0' && c <= '7'; }

int regsh_yaml_one_of (const char *s, size_t len, const char *const words[]) {
  for (int i = 0; words[i]; i++)
    if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0) return 1;
  return 0;
}

static const char *const null_words[] = {"~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};
static const char *const inf_words[] = {".inf", ".Inf", ".INF", NULL};
static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static int is_float_syntax (const char *s, const char *e) {
  const char *p = s;
  int before = 0, after = 0;
  if (p < e && (*p == '-' || *p == '+')) p++;
  while (p < e && dec_digit(*p)) p++, before++;
  if (p < e && *p == '.') {
    p++;
    while (p < e && dec_digit(*p)) p++, after++;
  }
  if (before == 0 && after == 0) return 0;
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '-' || *p == '+')) p++;
    if (!is_digits(p, e, dec_digit)) return 0;
    p = e;
  }
  return p == e;
}

/* What the core schema reads s[0..len) as. Embedded zeros make a string. */
int regsh_yaml_scalar_kind (const char *s, size_t len) {
  const char *e = s + len, *d = s;
  if (len == 0 || regsh_yaml_one_of(s, len, null_words)) return K_NULL;
  if (regsh_yaml_one_of(s, len, true_words) || regsh_yaml_one_of(s, len, false_words)) return K_BOOL;
  if (len > 2 && s[0] == '0' && s[1] == 'o' && is_digits(s + 2, e, oct_digit))
    return K_INT;
  if (len > 2 && s[0] == '0' && s[1] == 'x' && is_digits(s + 2, e, hex_digit))
    return K_INT;
  if (*d == '-' || *d == '+') d++;
  if (is_digits(d, e, dec_digit)) return K_INT;
  if (is_float_syntax(s, e) || regsh_yaml_one_of(d, (size_t)(e - d), inf_words) ||
      regsh_yaml_one_of(s, len, nan_words))
    return K_FLOAT;
  return K_STR;
}

/* 0o/0x digits; a value past lua_Integer becomes a float, as decimals do */
static void push_radix (lua_State *L, const char *s, const char *e, int base) {
  uint64_t u = 0;
  double f = 0;
  int overflow = 0;
  for (; s < e; s++) {
    int c = (unsigned char)*s;
    int v = dec_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
    if (u > ((uint64_t)INT64_MAX - (uint64_t)v) / (uint64_t)base) overflow = 1;
    u = u * (uint64_t)base + (uint64_t)v;
    f = f * base + v;
  }
  if (overflow) lua_pushnumber(L, (lua_Number)f);
  else lua_pushinteger(L, (lua_Integer)u);
}

/* [-0, +1, m] push the value of s (NUL-terminated, of kind `kind`) */
static void push_resolved (lua_State *L, const char *s, size_t len, int kind) {
  const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
  switch (kind) {
    case K_NULL: lua_pushlightuserdata(L, NULL); break;
    case K_BOOL: lua_pushboolean(L, s[0] == 't' || s[0] == 'T'); break;
    case K_INT:
      if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x'))
        push_radix(L, s + 2, s + len, s[1] == 'o' ? 8 : 16);
      else if (lua_stringtonumber(L, s) == 0)  /* too long: not a number */
        lua_pushnumber(L, (lua_Number)strtod(s, NULL));
      break;
    case K_FLOAT:
      if (regsh_yaml_one_of(d, len - (size_t)(d - s), inf_words))
        lua_pushnumber(L, *s == '-' ? -HUGE_VAL : HUGE_VAL);
      else if (regsh_yaml_one_of(s, len, nan_words))
        lua_pushnumber(L, (lua_Number)NAN);
      else if (lua_stringtonumber(L, s) == 0)  /* has a point or exponent: a float */
        lua_pushnumber(L, (lua_Number)strtod(s, NULL));
      break;
    default: lua_pushlstring(L, s, len); break;
  }
}

/* }====================================================== */


/*
** {======================================================
** Decoding: parser events straight into Lua values
** =======================================================
*/

typedef struct Decoder {
  yaml_parser_t parser;
  yaml_event_t event;          /* the current event */
  int parser_live, event_live; /* what __gc must delete */
  const char *input;           /* the Lua string being parsed (kept on stack) */
  size_t input_len;
  int all;                     /* decode_all: any number of documents */
  int merge_budget;
} Decoder;

enum { N_SCALAR, N_SEQUENCE, N_MAPPING };  /* what a node was */

/* stack slots of the protected decode function */
enum { S_DECODER = 1, S_ARRAY_MT, S_ANCHORS, S_ANCHOR_KINDS };

static char decode_error_marker;  /* error object of a reported EYAML */

static int decoder_gc (lua_State *L) {
  Decoder *d = (Decoder *)luaL_checkudata(L, 1, DECODER);
  if (d->event_live) yaml_event_delete(&d->event);
  if (d->parser_live) yaml_parser_delete(&d->parser);
  d->event_live = d->parser_live = 0;
  return 0;
}

/* Raise with the message as the decoder's user value, for decode_stream's
** caller to turn into the fail tuple. */
static int decode_error (lua_State *L, yaml_mark_t mark, const char *fmt, ...) {
  va_list ap;
  lua_pushfstring(L, "%d:%d: ", (int)mark.line + 1, (int)mark.column + 1);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  lua_setiuservalue(L, S_DECODER, 1);
  lua_pushlightuserdata(L, &decode_error_marker);
  return lua_error(L);
}

/* [-0, +1, m] s cut short enough for an error message */
static const char *excerpt (lua_State *L, const char *s, size_t len) {
  lua_pushlstring(L, s, len > 40 ? 37 : len);
  if (len > 40) {
    lua_pushliteral(L, "...");
    lua_concat(L, 2);
  }
  return lua_tostring(L, -1);
}

/* a reader error has only a byte offset: count lines and characters to it */
static yaml_mark_t mark_of_offset (const Decoder *d, size_t offset) {
  yaml_mark_t mark = {0, 0, 0};
  if (offset > d->input_len) offset = d->input_len;
  for (size_t i = 0; i < offset; i++) {
    unsigned char c = (unsigned char)d->input[i];
    if (c == '\n') mark.line++, mark.column = 0;
    else if ((c & 0xC0) != 0x80) mark.column++;
  }
  return mark;
}

static void parser_error (lua_State *L, Decoder *d) {
  yaml_parser_t *p = &d->parser;
  yaml_mark_t mark = p->problem_mark;
  const char *problem = p->problem ? p->problem : "unknown error";
  if (p->error == YAML_MEMORY_ERROR) luaL_error(L, "not enough memory");
  if (p->error == YAML_READER_ERROR) {
    mark = mark_of_offset(d, p->problem_offset);
    if (p->problem_value != -1) {
      char value[16];  /* lua_pushfstring has no %X */
      snprintf(value, sizeof(value), "0x%X", (unsigned)p->problem_value);
      decode_error(L, mark, "%s (%s)", problem, value);
    }
    decode_error(L, mark, "%s", problem);
  }
  if (p->context)
    decode_error(L, mark, "%s (%s at %d:%d)", problem, p->context,
                 (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
  decode_error(L, mark, "%s", problem);
}

static yaml_event_type_t next_event (lua_State *L, Decoder *d) {
  if (d->event_live) {
    yaml_event_delete(&d->event);
    d->event_live = 0;
  }
  if (!yaml_parser_parse(&d->parser, &d->event)) parser_error(L, d);
  d->event_live = 1;
  return d->event.type;
}

/* [-0, +0, m] remember the value on top under anchor (if any) */
static void set_anchor (lua_State *L, const yaml_char_t *anchor, int kind) {
  if (anchor == NULL) return;
  lua_pushstring(L, (const char *)anchor);
  lua_pushvalue(L, -2);
  lua_rawset(L, S_ANCHORS);
  lua_pushstring(L, (const char *)anchor);
  lua_pushinteger(L, kind);
  lua_rawset(L, S_ANCHOR_KINDS);
}

static int is_tag (const yaml_char_t *tag, const char *name) {
  return tag && strncmp((const char *)tag, TAG_PREFIX, sizeof(TAG_PREFIX) - 1) == 0
         && strcmp((const char *)tag + sizeof(TAG_PREFIX) - 1, name) == 0;
}

/* [-0, +1, m] the current scalar event's value. An explicit core tag wins;
** an unknown tag is ignored; only untagged plain scalars are resolved. */
static void push_scalar (lua_State *L, Decoder *d) {
  const yaml_event_t *ev = &d->event;
  const char *s = (const char *)ev->data.scalar.value;
  size_t len = ev->data.scalar.length;
  const yaml_char_t *tag = ev->data.scalar.tag;
  int kind = regsh_yaml_scalar_kind(s, len);
  static const struct { const char *name; int kind; } tagged[] = {
    {"null", K_NULL}, {"bool", K_BOOL}, {"int", K_INT}, {"float", K_FLOAT},
    {"str", K_STR}, {NULL, 0}
  };
  for (int i = 0; tagged[i].name; i++) {
    if (!is_tag(tag, tagged[i].name)) continue;
    if (tagged[i].kind == K_STR) kind = K_STR;
    else if (tagged[i].kind == K_FLOAT && kind == K_INT) {
      push_resolved(L, s, len, K_INT);
      lua_pushnumber(L, lua_tonumber(L, -1));
      lua_remove(L, -2);
      return;
    }
    else if (kind != tagged[i].kind)
      decode_error(L, ev->start_mark, "invalid !!%s value '%s'",
                   tagged[i].name, excerpt(L, s, len));
    push_resolved(L, s, len, kind);
    return;
  }
  if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
      (tag && strcmp((const char *)tag, "!") == 0))
    kind = K_STR;
  push_resolved(L, s, len, kind);
}

static int parse_node (lua_State *L, Decoder *d, int depth);

/* [-0, +0, m] `<<: value`: the value (a mapping or a sequence of mappings)
** is appended to the merge list at index `merges`, applied at mapping end */
static void parse_merge (lua_State *L, Decoder *d, int depth, int merges) {
  yaml_mark_t mark = d->event.start_mark;
  int n = (int)lua_rawlen(L, merges);
  if (next_event(L, d) == YAML_SEQUENCE_START_EVENT) {
    const yaml_char_t *anchor = d->event.data.sequence_start.anchor;
    lua_newtable(L);
    if (!lua_isnil(L, S_ARRAY_MT)) {
      lua_pushvalue(L, S_ARRAY_MT);
      lua_setmetatable(L, -2);
    }
    set_anchor(L, anchor, N_SEQUENCE);
    for (int i = 1; next_event(L, d) != YAML_SEQUENCE_END_EVENT; i++) {
      mark = d->event.start_mark;
      if (parse_node(L, d, depth + 1) != N_MAPPING)
        decode_error(L, mark, "a merge key (<<) takes mappings");
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, i);   /* into the anchored sequence */
      lua_rawseti(L, merges, ++n);
    }
    lua_pop(L, 1);
    return;
  }
  if (parse_node(L, d, depth) != N_MAPPING)
    decode_error(L, mark, "a merge key (<<) takes a mapping or a sequence of mappings");
  lua_rawseti(L, merges, n + 1);
}

/* [-0, +0, m] copy into the mapping at t the keys it lacks, earlier merge
** sources first (so they win over later ones) */
static void apply_merges (lua_State *L, Decoder *d, int t, int merges,
                          yaml_mark_t mark) {
  int n = (int)lua_rawlen(L, merges);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, merges, i);
    lua_pushnil(L);
    while (lua_next(L, -2)) {  /* stack: source, key, value */
      if (--d->merge_budget < 0)
        decode_error(L, mark, "merge keys (<<) copy more than %d entries",
                     MERGE_BUDGET);
      lua_pushvalue(L, -2);
      if (lua_rawget(L, t) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, t);
      }
      else lua_pop(L, 2);
    }
    lua_pop(L, 1);
  }
}

static int is_merge_key (const yaml_event_t *ev) {
  const yaml_char_t *tag = ev->data.scalar.tag;
  return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 2 &&
         memcmp(ev->data.scalar.value, "<<", 2) == 0 &&
         ((tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) ||
          is_tag(tag, "merge"));
}

static void parse_mapping (lua_State *L, Decoder *d, int depth) {
  yaml_mark_t start = d->event.start_mark;
  int t, merges = 0;
  lua_newtable(L);
  t = lua_gettop(L);
  set_anchor(L, d->event.data.mapping_start.anchor, N_MAPPING);
  while (next_event(L, d) != YAML_MAPPING_END_EVENT) {
    yaml_mark_t mark = d->event.start_mark;
    if (is_merge_key(&d->event)) {
      if (merges == 0) {
        lua_newtable(L);
        merges = lua_gettop(L);
      }
      parse_merge(L, d, depth, merges);
      continue;
    }
    parse_node(L, d, depth);
    if (lua_type(L, -1) == LUA_TNUMBER) {
      lua_Number k = lua_tonumber(L, -1);
      if (k != k) decode_error(L, mark, "a mapping key cannot be NaN");
    }
    lua_pushvalue(L, -1);
    if (lua_rawget(L, t) != LUA_TNIL) {
      size_t len;
      const char *key = luaL_tolstring(L, -2, &len);
      decode_error(L, mark, "duplicate mapping key '%s'", excerpt(L, key, len));
    }
    lua_pop(L, 1);
    next_event(L, d);
    parse_node(L, d, depth);
    lua_rawset(L, t);
  }
  if (merges) {
    apply_merges(L, d, t, merges, start);
    lua_pop(L, 1);
  }
}

/* [-0, +1, m] the node whose first event is current; returns its N_ kind */
static int parse_node (lua_State *L, Decoder *d, int depth) {
  const yaml_event_t *ev = &d->event;
  luaL_checkstack(L, 8, "YAML nesting");
  switch (ev->type) {
    case YAML_ALIAS_EVENT: {
      const char *anchor = (const char *)ev->data.alias.anchor;
      lua_pushstring(L, anchor);
      if (lua_rawget(L, S_ANCHOR_KINDS) == LUA_TNIL)
        decode_error(L, ev->start_mark, "unknown anchor '%s'",
                     excerpt(L, anchor, strlen(anchor)));
      int kind = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
      lua_pushstring(L, anchor);
      lua_rawget(L, S_ANCHORS);  /* the very value: no copy, no expansion */
      return kind;
    }
    case YAML_SCALAR_EVENT:
      push_scalar(L, d);
      set_anchor(L, ev->data.scalar.anchor, N_SCALAR);
      return N_SCALAR;
    case YAML_SEQUENCE_START_EVENT: {
      if (depth >= MAX_DEPTH)
        decode_error(L, ev->start_mark, "nesting deeper than %d", MAX_DEPTH);
      lua_newtable(L);
      if (!lua_isnil(L, S_ARRAY_MT)) {
        lua_pushvalue(L, S_ARRAY_MT);
        lua_setmetatable(L, -2);
      }
      set_anchor(L, ev->data.sequence_start.anchor, N_SEQUENCE);
      for (lua_Integer i = 1; next_event(L, d) != YAML_SEQUENCE_END_EVENT; i++) {
        parse_node(L, d, depth + 1);
        lua_rawseti(L, -2, i);
      }
      return N_SEQUENCE;
    }
    case YAML_MAPPING_START_EVENT:
      if (depth >= MAX_DEPTH)
        decode_error(L, ev->start_mark, "nesting deeper than %d", MAX_DEPTH);
      parse_mapping(L, d, depth + 1);
      return N_MAPPING;
    default:  /* the parser guarantees a node here */
      return luaL_error(L, "unexpected YAML event %d", (int)ev->type);
  }
}

/* protected: decoder, array_mt; returns the document or the documents */
static int decode_stream (lua_State *L) {
  Decoder *d = (Decoder *)lua_touserdata(L, S_DECODER);
  lua_Integer ndocs = 0;
  lua_settop(L, S_ARRAY_MT);
  lua_pushnil(L);  /* S_ANCHORS */
  lua_pushnil(L);  /* S_ANCHOR_KINDS */
  lua_newtable(L);  /* the documents */
  if (!lua_isnil(L, S_ARRAY_MT)) {
    lua_pushvalue(L, S_ARRAY_MT);
    lua_setmetatable(L, -2);
  }
  next_event(L, d);  /* stream start */
  while (next_event(L, d) == YAML_DOCUMENT_START_EVENT) {
    if (ndocs == 1 && !d->all)
      decode_error(L, d->event.start_mark,
                   "a second document in the stream (decode_all reads several)");
    lua_newtable(L);  /* anchors belong to one document */
    lua_replace(L, S_ANCHORS);
    lua_newtable(L);
    lua_replace(L, S_ANCHOR_KINDS);
    next_event(L, d);
    parse_node(L, d, 0);
    lua_rawseti(L, -2, ++ndocs);
    next_event(L, d);  /* document end */
  }
  if (!d->all) {
    if (ndocs == 0) lua_pushlightuserdata(L, NULL);  /* empty stream */
    else lua_rawgeti(L, -1, 1);
  }
  return 1;
}

static int decode_common (lua_State *L, int all) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, NULL);
  Decoder *d;
  int status;
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  d = (Decoder *)lua_newuserdatauv(L, sizeof(Decoder), 1);  /* 4 */
  d->parser_live = d->event_live = 0;  /* born closed */
  luaL_setmetatable(L, DECODER);
  if (!yaml_parser_initialize(&d->parser)) return luaL_error(L, "not enough memory");
  d->parser_live = 1;
  yaml_parser_set_input_string(&d->parser, (const unsigned char *)s, len);
  d->input = s;
  d->input_len = len;
  d->all = all;
  d->merge_budget = MERGE_BUDGET;
  lua_pushcfunction(L, decode_stream);
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 3);
  status = lua_pcall(L, 2, 1, 0);
  lua_pushcfunction(L, decoder_gc);  /* free libyaml's memory now */
  lua_pushvalue(L, 4);
  lua_call(L, 1, 0);
  if (status == LUA_OK) return 1;
  if (status == LUA_ERRRUN && lua_touserdata(L, -1) == &decode_error_marker) {
    lua_getiuservalue(L, 4, 1);
    return regsh_fail(L, "EYAML", "%s%s%s", name ? name : "", name ? ":" : "",
                      lua_tostring(L, -1));
  }
  return lua_error(L);
}

/* decode(s [, name [, array_mt]]): the one document of s (null if none) */
static int yaml_decode (lua_State *L) {
  return decode_common(L, 0);
}

/* decode_all(s [, name [, array_mt]]): an array of every document */
static int yaml_decode_all (lua_State *L) {
  return decode_common(L, 1);
}

/* }====================================================== */


static const luaL_Reg yaml_funcs[] = {
  {"decode", yaml_decode},
  {"decode_all", yaml_decode_all},
  {NULL, NULL}
};

/* one module for both halves: decode and decode_all from here, encode
** from yaml_encode.c */
int luaopen_regsh_core_yaml (lua_State *L) {
  regsh_newclass(L, DECODER, decoder_gc, NULL, NULL, 0);
  lua_pop(L, 1);
  luaL_newlib(L, yaml_funcs);
  regsh_yaml_open_encoder(L);
  lua_pushstring(L, yaml_get_version_string());
  lua_setfield(L, -2, "libyaml_version");
  lua_pushlightuserdata(L, NULL);  /* the same value as cjson.null */
  lua_setfield(L, -2, "null");
  return 1;
}
