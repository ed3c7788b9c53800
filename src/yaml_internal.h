/*
** yaml_internal.h: what the two halves of regsh.core.yaml share:
** yaml_decode.c (libyaml's parser to Lua values, the core schema, the
** module's luaopen) and yaml_encode.c (Lua values to libyaml's emitter).
** Internal to the module; not part of the host's API.
*/
#ifndef REGSH_YAML_INTERNAL_H
#define REGSH_YAML_INTERNAL_H

#include <stddef.h>
#include <lua.h>

#define MAX_DEPTH 1000            /* nesting of sequences and mappings */

/* what the core schema reads a plain scalar as */
enum { K_NULL, K_BOOL, K_INT, K_FLOAT, K_STR };

static inline int dec_digit (int c) { return c >= '0' && c <= '9'; }
static inline int hex_digit (int c) {
  return dec_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* the K_ kind of the plain scalar s[0..len); embedded zeros make a string.
** The encoder asks it whether a string written plain would read back as one. */
int regsh_yaml_scalar_kind(const char *s, size_t len);
/* whether s[0..len) is one of the NULL-ended words */
int regsh_yaml_one_of(const char *s, size_t len, const char *const words[]);

/* [-0, +0, m] make the encoder's class and add encode to the module table on
** top of the stack (at luaopen) */
void regsh_yaml_open_encoder(lua_State *L);

#endif
