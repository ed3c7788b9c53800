/*
** yaml_encode.c: regsh.core.yaml's writing half, Lua values to libyaml's
** emitter in one C pass: keys sorted, strings quoted where the core schema
** (yaml_decode.c) or a YAML 1.1 reader would take them for something else.
*/
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <yaml.h>

#include "util.h"
#include "yaml_internal.h"

#define ENCODER "regsh.yaml.encoder"

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
  if (regsh_yaml_one_of(s, len, words)) return 1;
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
  plain = regsh_yaml_scalar_kind(s, len) == K_STR && !yaml11_not_string(s, len);
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


static const luaL_Reg encode_funcs[] = {
  {"encode", yaml_encode},
  {NULL, NULL}
};

void regsh_yaml_open_encoder (lua_State *L) {
  regsh_newclass(L, ENCODER, encoder_gc, NULL, NULL, 0);
  lua_pop(L, 1);
  luaL_setfuncs(L, encode_funcs, 0);
}
