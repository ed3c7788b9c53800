/*
** yaml.c: regsh.core.yaml, libyaml's parser and emitter bound to Lua values
** in one C pass. Scalars follow the YAML 1.2 core schema; lua/regsh/yaml.lua
** is the public face (file reading, the array marker shared with regsh.json).
*/
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <yaml.h>

#include "util.h"

int luaopen_regsh_core_yaml(lua_State *L);

#define MAX_DEPTH 1000            /* nesting of sequences and mappings */
#define MERGE_BUDGET (1 << 22)    /* entries `<<` may copy in one decode */

#define DECODER "regsh.yaml.decoder"
#define ENCODER "regsh.yaml.encoder"

#define TAG_PREFIX "tag:yaml.org,2002:"


/*
** {======================================================
** The core schema: what a plain scalar means
** =======================================================
*/

enum { K_NULL, K_BOOL, K_INT, K_FLOAT, K_STR };  /* what a scalar resolves to */

static int is_digits (const char *s, const char *e, int (*ok)(int)) {
  if (s == e) return 0;
  for (; s < e; s++) if (!ok((unsigned char)*s)) return 0;
  return 1;
}

static int dec_digit (int c) { return c >= '0' && c <= '9'; }
static int oct_digit (int c) { return c >= '0' && c <= '7'; }
static int hex_digit (int c) {
  return dec_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int one_of (const char *s, size_t len, const char *const words[]) {
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
static int scalar_kind (const char *s, size_t len) {
  const char *e = s + len, *d = s;
  if (len == 0 || one_of(s, len, null_words)) return K_NULL;
  if (one_of(s, len, true_words) || one_of(s, len, false_words)) return K_BOOL;
  if (len > 2 && s[0] == '0' && s[1] == 'o' && is_digits(s + 2, e, oct_digit))
    return K_INT;
  if (len > 2 && s[0] == '0' && s[1] == 'x' && is_digits(s + 2, e, hex_digit))
    return K_INT;
  if (*d == '-' || *d == '+') d++;
  if (is_digits(d, e, dec_digit)) return K_INT;
  if (is_float_syntax(s, e) || one_of(d, (size_t)(e - d), inf_words) ||
      one_of(s, len, nan_words))
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
      if (one_of(d, len - (size_t)(d - s), inf_words))
        lua_pushnumber(L, *s == '-' ? -HUGE_VAL : HUGE_VAL);
      else if (one_of(s, len, nan_words))
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
  int kind = scalar_kind(s, len);
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


/*
** {======================================================
** Encoding: Lua values to emitter events
** =======================================================
*/

typedef struct PathStep {
  int key;              /* stack index of the key, or 0: index is the key */
  lua_Integer index;
} PathStep;

typedef struct Encoder {
  yaml_emitter_t emitter;
  int live;             /* emitter initialised: __gc must delete it */
  regsh_buffer out;     /* the text so far (the emitter's output) */
  PathStep path[MAX_DEPTH + 2];  /* how the value being encoded was reached */
} Encoder;

/* stack slots of yaml_encode */
enum { E_VALUE = 1, E_ARRAY_MT, E_ENCODER, E_VISITING };

/* a mapping key, for sorting */
typedef struct Key {
  int rank;             /* null, boolean, number, string: in that order */
  int slot;             /* index in the keys table */
  int isint;
  lua_Integer i;
  lua_Number n;
  const char *s;        /* kept alive by the keys table */
  size_t len;
} Key;

static int encoder_gc (lua_State *L) {
  Encoder *e = (Encoder *)luaL_checkudata(L, 1, ENCODER);
  if (e->live) yaml_emitter_delete(&e->emitter);
  e->live = 0;
  regsh_buffer_free(&e->out);
  return 0;
}

/* the emitter's output handler: no Lua calls here, libyaml's frames are live */
static int write_handler (void *data, unsigned char *buffer, size_t size) {
  Encoder *e = (Encoder *)data;
  return regsh_buffer_append(&e->out, buffer, size);
}

static int is_identifier (const char *s, size_t len) {
  if (len == 0 || dec_digit(*s)) return 0;
  for (size_t i = 0; i < len; i++)
    if (!(s[i] == '_' || dec_digit(s[i]) || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
      return 0;
  return 1;
}

/* raise "regsh.yaml.encode: cannot encode WHAT at $.path.to[1]" */
static int encode_error (lua_State *L, Encoder *e, int depth, const char *what) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "regsh.yaml.encode: cannot encode ");
  luaL_addstring(&b, what);
  luaL_addstring(&b, " at $");
  for (int i = 1; i <= depth; i++) {
    const PathStep *step = &e->path[i];
    size_t len;
    if (depth > 16 && i > 8 && i <= depth - 8) {  /* keep the message short */
      if (i == 9) luaL_addstring(&b, "...");
      continue;
    }
    if (step->key == 0) lua_pushfstring(L, "[%I]", step->index);
    else if (lua_type(L, step->key) != LUA_TSTRING)
      lua_pushfstring(L, "[%s]", luaL_tolstring(L, step->key, NULL)), lua_remove(L, -2);
    else {
      const char *s = lua_tolstring(L, step->key, &len);
      lua_pushfstring(L, is_identifier(s, len) ? ".%s" : "[\"%s\"]", s);
    }
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return lua_error(L);
}

static void emitter_error (lua_State *L, Encoder *e) {
  if (e->emitter.error == YAML_MEMORY_ERROR || e->emitter.error == YAML_WRITER_ERROR)
    luaL_error(L, "not enough memory");
  luaL_error(L, "regsh.yaml.encode: libyaml: %s",
             e->emitter.problem ? e->emitter.problem : "unknown error");
}

/* ok: what the event's initialiser returned (0: it could not allocate) */
static void emit (lua_State *L, Encoder *e, yaml_event_t *ev, int ok) {
  if (!ok) luaL_error(L, "not enough memory");
  if (!yaml_emitter_emit(&e->emitter, ev)) emitter_error(L, e);
}

static void emit_scalar (lua_State *L, Encoder *e, const char *s, size_t len,
                         int plain, yaml_scalar_style_t style) {
  yaml_event_t ev;
  int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
                                        (int)len, plain, 1, style);
  emit(L, e, &ev, ok);
}

static int valid_utf8 (const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i], n, cp, min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (len - i <= n) return 0;
    for (unsigned k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += n + 1;
  }
  return 1;
}

/* Would a YAML 1.1 reader (Go's yaml.v2, PyYAML) take this plain scalar for
** something else? yes/no/on/off, 1:20, 2024-01-02, 1_000, 0b1, =: quote them
** so files regsh writes mean the same to the tools that read ACR tasks. */
static int yaml11_not_string (const char *s, size_t len) {
  static const char *const words[] = {
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
    "on", "On", "ON", "off", "Off", "OFF", "=", "<<", NULL
  };
  const char *p = s;
  if (one_of(s, len, words)) return 1;
  if (len > 0 && (*p == '-' || *p == '+' || *p == '.')) p++;
  if (p == s + len || !dec_digit(*p)) return 0;
  for (p = s; p < s + len; p++)  /* number-like: digits, signs, . : _ e x o b */
    if (!hex_digit(*p) && !strchr("+-.:_xXoO", *p)) return 0;
  return 1;
}

static void emit_string (lua_State *L, Encoder *e, int idx, int depth, int key) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  int plain;
  yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
  if (len > INT32_MAX) encode_error(L, e, depth, "a string longer than 2 GiB");
  if (!valid_utf8((const unsigned char *)s, len))
    encode_error(L, e, depth, "a string that is not valid UTF-8");
  plain = scalar_kind(s, len) == K_STR && !yaml11_not_string(s, len);
  if (!key && memchr(s, '\n', len)) style = YAML_LITERAL_SCALAR_STYLE;
  emit_scalar(L, e, s, len, plain, style);
}

/* the shortest text that reads back as the same float, and as a float */
static void format_float (char *buf, size_t size, lua_Number x) {
  char point = localeconv()->decimal_point[0];
  if (x != x) snprintf(buf, size, ".nan");
  else if (x == HUGE_VAL || x == -HUGE_VAL) snprintf(buf, size, "%s.inf", x < 0 ? "-" : "");
  else {
    for (int precision = 14; precision <= 17; precision++) {
      snprintf(buf, size, "%.*g", precision, (double)x);
      if (strtod(buf, NULL) == (double)x) break;
    }
    for (char *p = buf; *p; p++) if (*p == point) *p = '.';
    if (strspn(buf, "-0123456789") == strlen(buf)) strcat(buf, ".0");
  }
}

static void emit_number (lua_State *L, Encoder *e, int idx) {
  char buf[64];
  if (lua_isinteger(L, idx))
    snprintf(buf, sizeof(buf), LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
  else format_float(buf, sizeof(buf), lua_tonumber(L, idx));
  emit_scalar(L, e, buf, strlen(buf), 1, YAML_PLAIN_SCALAR_STYLE);
}

static void emit_key (lua_State *L, Encoder *e, int idx, int depth) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: emit_string(L, e, idx, depth, 1); break;
    case LUA_TNUMBER: emit_number(L, e, idx); break;
    case LUA_TBOOLEAN:
      emit_scalar(L, e, lua_toboolean(L, idx) ? "true" : "false",
                  lua_toboolean(L, idx) ? 4 : 5, 1, YAML_PLAIN_SCALAR_STYLE);
      break;
    default: emit_scalar(L, e, "null", 4, 1, YAML_PLAIN_SCALAR_STYLE); break;
  }
}

static int compare_keys (const void *pa, const void *pb) {
  const Key *a = (const Key *)pa, *b = (const Key *)pb;
  if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
  switch (a->rank) {
    case 1: return (int)a->i - (int)b->i;
    case 2:
      if (a->isint && b->isint) return (a->i > b->i) - (a->i < b->i);
      if (a->n != b->n) return a->n < b->n ? -1 : 1;
      return b->isint - a->isint;  /* equal as floats: the integer first */
    case 3: {
      int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
      if (c != 0) return c;
      return (a->len > b->len) - (a->len < b->len);
    }
    default: return 0;
  }
}

static void encode_value (lua_State *L, Encoder *e, int idx, int depth);

/* a mapping with its keys sorted, so the same table gives the same text */
static void encode_mapping (lua_State *L, Encoder *e, int t, int count, int depth) {
  yaml_event_t ev;
  int keys, n = 0;
  Key *sorted;
  lua_createtable(L, count, 0);
  keys = lua_gettop(L);
  sorted = (Key *)lua_newuserdatauv(L, sizeof(Key) * (size_t)(count ? count : 1), 0);
  lua_pushnil(L);
  while (lua_next(L, t)) {  /* stack: keys, sorted, key, value */
    Key *k = &sorted[n];
    lua_pop(L, 1);
    if (n == count) {  /* a finalizer grew the table: leave the newcomers */
      lua_pop(L, 1);
      break;
    }
    memset(k, 0, sizeof(*k));
    switch (lua_type(L, -1)) {
      case LUA_TSTRING: k->rank = 3; k->s = lua_tolstring(L, -1, &k->len); break;
      case LUA_TNUMBER:
        k->rank = 2;
        k->isint = lua_isinteger(L, -1);
        k->i = lua_tointeger(L, -1);
        k->n = lua_tonumber(L, -1);
        break;
      case LUA_TBOOLEAN: k->rank = 1; k->i = lua_toboolean(L, -1); break;
      case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, -1) == NULL) break;  /* null: rank 0 */
        /* FALLTHROUGH */
      default:
        lua_pushfstring(L, "a %s as a mapping key", luaL_typename(L, -1));
        encode_error(L, e, depth, lua_tostring(L, -1));
    }
    lua_pushvalue(L, -1);
    k->slot = ++n;
    lua_rawseti(L, keys, n);
  }
  qsort(sorted, (size_t)n, sizeof(Key), compare_keys);
  emit(L, e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                      YAML_BLOCK_MAPPING_STYLE));
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, keys, sorted[i].slot);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);  /* stack: key, value */
    e->path[depth + 1].key = lua_gettop(L) - 1;
    emit_key(L, e, lua_gettop(L) - 1, depth + 1);
    encode_value(L, e, lua_gettop(L), depth + 1);
    lua_pop(L, 2);
  }
  emit(L, e, &ev, yaml_mapping_end_event_initialize(&ev));
  lua_pop(L, 2);
}

static void encode_table (lua_State *L, Encoder *e, int t, int depth) {
  yaml_event_t ev;
  int count = 0, sequence = 1, marked = 0;
  lua_Integer max = 0;
  if (depth >= MAX_DEPTH) encode_error(L, e, depth, "a table nested deeper than 1000 levels");
  luaL_checkstack(L, 8, "YAML nesting");
  lua_pushvalue(L, t);
  if (lua_rawget(L, E_VISITING) != LUA_TNIL)
    encode_error(L, e, depth, "a table that contains itself (a cycle)");
  lua_pop(L, 1);
  lua_pushvalue(L, t);
  lua_pushboolean(L, 1);
  lua_rawset(L, E_VISITING);
  if (lua_getmetatable(L, t)) {
    marked = lua_rawequal(L, -1, E_ARRAY_MT);
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    count++;
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) sequence = 0;
    else if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
  }
  sequence = sequence && max == count;
  if (marked && count > 0 && !sequence)
    encode_error(L, e, depth, "a table marked as an array that has other keys");
  if (marked || (count > 0 && sequence)) {
    emit(L, e, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                         YAML_BLOCK_SEQUENCE_STYLE));
    for (lua_Integer i = 1; i <= count; i++) {
      e->path[depth + 1].key = 0;
      e->path[depth + 1].index = i;
      lua_rawgeti(L, t, i);
      encode_value(L, e, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    emit(L, e, &ev, yaml_sequence_end_event_initialize(&ev));
  }
  else encode_mapping(L, e, t, count, depth);
  lua_pushvalue(L, t);
  lua_pushnil(L);
  lua_rawset(L, E_VISITING);
}

static void encode_value (lua_State *L, Encoder *e, int idx, int depth) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: emit_scalar(L, e, "null", 4, 1, YAML_PLAIN_SCALAR_STYLE); break;
    case LUA_TBOOLEAN: emit_key(L, e, idx, depth); break;
    case LUA_TNUMBER: emit_number(L, e, idx); break;
    case LUA_TSTRING: emit_string(L, e, idx, depth, 0); break;
    case LUA_TTABLE: encode_table(L, e, idx, depth); break;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) {
        emit_scalar(L, e, "null", 4, 1, YAML_PLAIN_SCALAR_STYLE);
        break;
      }
      /* FALLTHROUGH */
    default:
      lua_pushfstring(L, "a %s value", luaL_typename(L, idx));
      encode_error(L, e, depth, lua_tostring(L, -1));
  }
}

/* encode(value [, array_mt]): YAML text; raises on what YAML cannot hold */
static int yaml_encode (lua_State *L) {
  Encoder *e;
  yaml_event_t ev;
  luaL_checkany(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  e = (Encoder *)lua_newuserdatauv(L, sizeof(Encoder), 0);
  e->live = 0;  /* born closed */
  memset(&e->out, 0, sizeof(e->out));
  luaL_setmetatable(L, ENCODER);
  if (!yaml_emitter_initialize(&e->emitter)) return luaL_error(L, "not enough memory");
  e->live = 1;
  yaml_emitter_set_output(&e->emitter, write_handler, e);
  yaml_emitter_set_unicode(&e->emitter, 1);
  yaml_emitter_set_indent(&e->emitter, 2);
  yaml_emitter_set_width(&e->emitter, -1);  /* never fold long lines */
  yaml_emitter_set_break(&e->emitter, YAML_LN_BREAK);
  lua_newtable(L);  /* E_VISITING: tables being encoded, to catch cycles */
  emit(L, e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
  emit(L, e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
  encode_value(L, e, E_VALUE, 0);
  emit(L, e, &ev, yaml_document_end_event_initialize(&ev, 1));
  emit(L, e, &ev, yaml_stream_end_event_initialize(&ev));
  if (!yaml_emitter_flush(&e->emitter)) emitter_error(L, e);
  lua_pushlstring(L, e->out.data ? e->out.data : "", e->out.len);
  lua_pushcfunction(L, encoder_gc);  /* free the emitter now, not at GC */
  lua_pushvalue(L, E_ENCODER);
  lua_call(L, 1, 0);
  return 1;
}

/* }====================================================== */


static const luaL_Reg yaml_funcs[] = {
  {"decode", yaml_decode},
  {"decode_all", yaml_decode_all},
  {"encode", yaml_encode},
  {NULL, NULL}
};

int luaopen_regsh_core_yaml (lua_State *L) {
  regsh_newclass(L, DECODER, decoder_gc, NULL, NULL, 0);
  regsh_newclass(L, ENCODER, encoder_gc, NULL, NULL, 0);
  lua_pop(L, 2);
  luaL_newlib(L, yaml_funcs);
  lua_pushstring(L, yaml_get_version_string());
  lua_setfield(L, -2, "libyaml_version");
  lua_pushlightuserdata(L, NULL);  /* the same value as cjson.null */
  lua_setfield(L, -2, "null");
  return 1;
}
