/*
** archive.c: regsh.core.archive, tar archives through libarchive: extract
** one into a directory refusing every entry that could reach outside it,
** list one, and pack files into one deterministically. The policy (what a
** context holds, which files go in) is lua/regsh/context.lua's. Every call
** reads its Lua arguments first and pushes results only after libarchive's
** handles are closed, so no Lua error can unwind through libarchive.
*/
#define _XOPEN_SOURCE 700  /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <lauxlib.h>

#include "util.h"

int luaopen_regsh_core_archive(lua_State *L);

#define DEFAULT_MAX_ENTRIES 1000000
#define DEFAULT_MAX_BYTES   ((lua_Integer)16 << 30)   /* 16 GiB */
#define BLOCK_SIZE          65536

/* How a call ended: code NULL is success; else a regsh code and a message
** (the path the call is about is prefixed when the tuple is pushed). */
typedef struct {
  const char *code;
  char message[PATH_MAX + 256];
} Outcome;

static void set_outcome (Outcome *o, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_outcome (Outcome *o, const char *code, const char *fmt, ...) {
  va_list ap;
  if (o->code) return;  /* the first failure is the one to tell */
  o->code = code;
  va_start(ap, fmt);
  vsnprintf(o->message, sizeof(o->message), fmt, ap);
  va_end(ap);
}

/* A failure libarchive reports: a system error keeps its errno name (a
** missing file is ENOENT, a full disk ENOSPC); everything else (a damaged
** or unknown format, a refused entry) is EARCHIVE. libarchive's own error
** numbers are EILSEQ (format), EINVAL (misuse) and -1 (anything else). */
static void archive_outcome (Outcome *o, struct archive *a, const char *what) {
  int err = archive_errno(a);
  const char *text = archive_error_string(a);
  if (text == NULL) text = "unknown libarchive error";
  if (err > 0 && err != EILSEQ && err != EINVAL)
    set_outcome(o, regsh_errno_code(err), "%s: %s", what, text);
  else
    set_outcome(o, "EARCHIVE", "%s: %s", what, text);
}

static int push_outcome (lua_State *L, const Outcome *o, const char *path) {
  return regsh_fail(L, o->code, "%s: %s", path, o->message);
}

/* A reader for tar in any of the compressions libarchive links. */
static struct archive *open_reader (const char *path, Outcome *o) {
  struct archive *a = archive_read_new();
  if (a == NULL) {
    set_outcome(o, "ENOMEM", "out of memory");
    return NULL;
  }
  archive_read_support_format_tar(a);
  archive_read_support_format_empty(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  if (archive_read_open_filename(a, path, BLOCK_SIZE) != ARCHIVE_OK) {
    archive_outcome(o, a, "cannot open");
    archive_read_free(a);
    return NULL;
  }
  return a;
}

/*
** Entry names: relative, made of plain components. normalize_name drops
** "." components and repeated slashes, refuses "..", and strips the first
** `strip` components (tar --strip-components); it writes the result to out
** and returns 1, or 0 when nothing is left (the entry is skipped), or -1
** when the name is unsafe.
*/
static int normalize_name (const char *name, int strip, char *out, size_t size) {
  size_t len = 0;
  const char *p = name;
  if (*name == '/') return -1;
  while (*p) {
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') return -1;
    if (n > 0 && !(n == 1 && p[0] == '.')) {
      if (strip > 0) strip--;
      else {
        if (len + n + 2 > size) return -1;
        if (len > 0) out[len++] = '/';
        memcpy(out + len, p, n);
        len += n;
      }
    }
    p += n;
    if (*p == '/') p++;
  }
  out[len] = '\0';
  return len > 0 ? 1 : 0;
}

/* Whether a symbolic link at relative path `name` with target `target`
** stays inside the tree, read lexically: no absolute target, and no ".."
** that climbs above the top. (Chains of links are checked again on disk
** once everything is extracted: see check_links.) */
static int link_inside (const char *name, const char *target) {
  int depth = 0;
  const char *p;
  if (*target == '/' || *target == '\0') return 0;
  for (p = name; *p; p++) if (*p == '/') depth++;  /* directories above the link */
  p = target;
  while (*p) {
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (--depth < 0) return 0;
    }
    else if (n > 0 && !(n == 1 && p[0] == '.')) depth++;
    p += n;
    if (*p == '/') p++;
  }
  return 1;
}

/* Whether no prefix of the relative path `name` under root is a symbolic
** link: a hard link made through one could name a file outside. */
static int no_link_on_path (const char *root, const char *name) {
  char path[PATH_MAX];
  size_t rootlen = strlen(root);
  struct stat st;
  if (rootlen + 1 + strlen(name) + 1 > sizeof(path)) return 0;
  memcpy(path, root, rootlen);
  path[rootlen] = '/';
  strcpy(path + rootlen + 1, name);
  for (char *p = path + rootlen + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode)) return 0;
      *p = c;
      if (c == '\0') return 1;
    }
  }
}

typedef struct {
  const char *path, *dest;
  lua_Integer max_entries, max_bytes;
  int strip;
  /* results */
  lua_Integer entries, bytes;
  char root[PATH_MAX];      /* dest, resolved */
  char **links;             /* relative names of the symbolic links made */
  size_t nlinks, caplinks;
} Extract;

static int remember_link (Extract *x, const char *name) {
  if (x->nlinks == x->caplinks) {
    size_t cap = x->caplinks ? 2 * x->caplinks : 16;
    char **grown = realloc(x->links, cap * sizeof(*grown));
    if (grown == NULL) return 0;
    x->links = grown;
    x->caplinks = cap;
  }
  if ((x->links[x->nlinks] = strdup(name)) == NULL) return 0;
  x->nlinks++;
  return 1;
}

static void free_links (Extract *x) {
  for (size_t i = 0; i < x->nlinks; i++) free(x->links[i]);
  free(x->links);
  x->links = NULL;
  x->nlinks = x->caplinks = 0;
}

/* After extraction: every link, resolved on disk through the links it
** passes, must land inside the tree (a dangling one is harmless). One that
** does not is removed again. */
static void check_links (Extract *x, Outcome *o) {
  size_t rootlen = strlen(x->root);
  for (size_t i = 0; i < x->nlinks && !o->code; i++) {
    char path[PATH_MAX], resolved[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", x->root, x->links[i]) >= sizeof(path)) {
      /* a path cut short could resolve somewhere else: refuse, never guess */
      set_outcome(o, "EARCHIVE", "unsafe entry '%s': a link whose path is too long to check",
                  x->links[i]);
      continue;
    }
    if (realpath(path, resolved) == NULL) continue;
    if (strncmp(resolved, x->root, rootlen) != 0
        || (resolved[rootlen] != '/' && resolved[rootlen] != '\0')) {
      unlink(path);
      set_outcome(o, "EARCHIVE", "unsafe entry '%s': a symbolic link that leads outside",
                  x->links[i]);
    }
  }
}

/* Copy the data of the current entry, counting it against max_bytes. */
static int copy_data (Extract *x, struct archive *in, struct archive *out,
                      const char *name, Outcome *o) {
  for (;;) {
    const void *buf;
    size_t size;
    la_int64_t offset;
    int r = archive_read_data_block(in, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return 1;
    if (r < ARCHIVE_WARN) {
      archive_outcome(o, in, name);
      return 0;
    }
    x->bytes += (lua_Integer)size;
    if (x->bytes > x->max_bytes) {
      set_outcome(o, "ETOOBIG", "more than max_bytes (%lld) of content",
                  (long long)x->max_bytes);
      return 0;
    }
    if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN) {
      archive_outcome(o, out, name);
      return 0;
    }
  }
}

/* One entry: checked, renamed under the root, written. 0 stops the run. */
static int extract_entry (Extract *x, struct archive *in, struct archive *out,
                          struct archive_entry *e, Outcome *o) {
  char name[PATH_MAX], full[PATH_MAX + PATH_MAX], raw[PATH_MAX];
  const char *stored = archive_entry_pathname(e);
  const char *hardlink = archive_entry_hardlink(e);
  int linked = hardlink != NULL;  /* hardlink is freed once replaced below */
  mode_t type = archive_entry_filetype(e);
  int r;
  if (stored == NULL) {
    set_outcome(o, "EARCHIVE", "an entry has no readable name");
    return 0;
  }
  /* a copy: renaming the entry below frees the stored name */
  if ((size_t)snprintf(raw, sizeof(raw), "%s", stored) >= sizeof(raw)) {
    set_outcome(o, "ENAMETOOLONG", "an entry's name is longer than %d bytes", PATH_MAX - 1);
    return 0;
  }
  r = normalize_name(raw, x->strip, name, sizeof(name));
  if (r < 0) {
    set_outcome(o, "EARCHIVE", "unsafe entry '%s': an absolute path or '..'", raw);
    return 0;
  }
  if (r == 0) return 1;  /* the top itself, or stripped away */
  if (hardlink == NULL && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
    set_outcome(o, "EARCHIVE", "unsafe entry '%s': a device, FIFO or socket", raw);
    return 0;
  }
  if (type == AE_IFLNK && !link_inside(name, archive_entry_symlink(e)
                                              ? archive_entry_symlink(e) : "")) {
    set_outcome(o, "EARCHIVE", "unsafe entry '%s': a symbolic link that leads outside", raw);
    return 0;
  }
  if (hardlink != NULL) {
    char target[PATH_MAX];
    if (normalize_name(hardlink, x->strip, target, sizeof(target)) <= 0
        || !no_link_on_path(x->root, target)) {
      set_outcome(o, "EARCHIVE", "unsafe entry '%s': a hard link to '%s'", raw, hardlink);
      return 0;
    }
    if ((size_t)snprintf(full, sizeof(full), "%s/%s", x->root, target) >= sizeof(full)) {
      set_outcome(o, "ENAMETOOLONG", "entry '%s': hard link target too long", raw);
      return 0;
    }
    archive_entry_copy_hardlink(e, full);
  }
  if (++x->entries > x->max_entries) {
    set_outcome(o, "ETOOBIG", "more than max_entries (%lld) entries",
                (long long)x->max_entries);
    return 0;
  }
  if (archive_entry_size_is_set(e) && archive_entry_size(e) > x->max_bytes - x->bytes) {
    set_outcome(o, "ETOOBIG", "more than max_bytes (%lld) of content", (long long)x->max_bytes);
    return 0;
  }
  if ((size_t)snprintf(full, sizeof(full), "%s/%s", x->root, name) >= sizeof(full)) {
    set_outcome(o, "ENAMETOOLONG", "entry '%s': name too long", raw);
    return 0;
  }
  archive_entry_copy_pathname(e, full);
  archive_entry_set_perm(e, archive_entry_perm(e) & 0777);  /* no setuid, setgid, sticky */
  if (archive_write_header(out, e) < ARCHIVE_WARN) {
    archive_outcome(o, out, raw);
    return 0;
  }
  if (type == AE_IFLNK && !linked && !remember_link(x, name)) {
    set_outcome(o, "ENOMEM", "out of memory");
    return 0;
  }
  if (!linked && type == AE_IFREG && !copy_data(x, in, out, raw, o)) return 0;
  if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
    archive_outcome(o, out, raw);
    return 0;
  }
  return 1;
}

static void run_extract (Extract *x, Outcome *o) {
  struct archive *in, *out;
  struct archive_entry *e;
  struct stat st;
  /* resolved, so that the secure-symlinks check does not trip over a link
  ** in the destination's own path (such as /tmp on some systems) */
  if (realpath(x->dest, x->root) == NULL) {
    set_outcome(o, regsh_errno_code(errno), "%s: %s", x->dest, strerror(errno));
    return;
  }
  if (stat(x->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
    set_outcome(o, "ENOTDIR", "%s: not a directory", x->dest);
    return;
  }
  if ((in = open_reader(x->path, o)) == NULL) return;
  out = archive_write_disk_new();
  if (out == NULL) {
    archive_read_free(in);
    set_outcome(o, "ENOMEM", "out of memory");
    return;
  }
  /* Entry names are checked (and made absolute under the root) above, so
  ** SECURE_NOABSOLUTEPATHS cannot be used; these two still refuse writing
  ** through a symbolic link and any '..' that slipped by. No owners. */
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM
                                 | ARCHIVE_EXTRACT_SECURE_SYMLINKS
                                 | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  for (;;) {
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      archive_outcome(o, in, "cannot read");
      break;
    }
    if (!extract_entry(x, in, out, e, o)) break;
  }
  if (archive_write_close(out) != ARCHIVE_OK && !o->code)  /* directory modes */
    archive_outcome(o, out, "cannot finish");
  archive_write_free(out);
  archive_read_free(in);
  if (!o->code) check_links(x, o);
  free_links(x);
}

/* extract(path, dest_dir [, {max_entries=, max_bytes=, strip=}])
** -> {entries = n, bytes = n} | fail */
static int archive_extract (lua_State *L) {
  static const char *const keys[] = {"max_entries", "max_bytes", "strip", NULL};
  Extract x;
  Outcome o;
  memset(&x, 0, sizeof(x));
  memset(&o, 0, sizeof(o));
  x.path = luaL_checkstring(L, 1);
  x.dest = luaL_checkstring(L, 2);
  x.max_entries = DEFAULT_MAX_ENTRIES;
  x.max_bytes = DEFAULT_MAX_BYTES;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    regsh_check_keys(L, 3, keys);
    x.max_entries = regsh_opt_integer(L, 3, "max_entries", DEFAULT_MAX_ENTRIES);
    x.max_bytes = regsh_opt_integer(L, 3, "max_bytes", DEFAULT_MAX_BYTES);
    x.strip = (int)regsh_opt_integer(L, 3, "strip", 0);
    luaL_argcheck(L, x.max_entries >= 0 && x.max_bytes >= 0 && x.strip >= 0
                  && x.strip <= 1000, 3, "limits and strip must be >= 0");
  }
  lua_settop(L, 2);
  run_extract(&x, &o);
  if (o.code) return push_outcome(L, &o, x.path);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, x.entries);
  lua_setfield(L, -2, "entries");
  lua_pushinteger(L, x.bytes);
  lua_setfield(L, -2, "bytes");
  return 1;
}

/* list(path) -> names | fail: entry names as stored, in order. The names
** are collected in C and pushed after the reader is closed. */
static int archive_list (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  regsh_buffer names = {0};
  Outcome o;
  struct archive *a;
  struct archive_entry *e;
  lua_Integer n = 0;
  memset(&o, 0, sizeof(o));
  if ((a = open_reader(path, &o)) != NULL) {
    for (;;) {
      int r = archive_read_next_header(a, &e);
      const char *name;
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        archive_outcome(&o, a, "cannot read");
        break;
      }
      name = archive_entry_pathname(e);
      if (name == NULL) name = "";
      if (!regsh_buffer_append(&names, name, strlen(name) + 1)) {
        set_outcome(&o, "ENOMEM", "out of memory");
        break;
      }
      n++;
    }
    archive_read_free(a);
  }
  if (o.code) {
    regsh_buffer_free(&names);
    return push_outcome(L, &o, path);
  }
  lua_createtable(L, (int)n, 0);
  {
    size_t at = 0;
    for (lua_Integer i = 1; i <= n; i++) {
      size_t len = strlen(names.data + at);
      lua_pushlstring(L, names.data + at, len);  /* may raise: then names leaks once */
      lua_rawseti(L, -2, i);
      at += len + 1;
    }
  }
  regsh_buffer_free(&names);
  return 1;
}

/* One file of a pack: the header from lstat, normalised so the archive
** depends on content, names and modes only. */
static int pack_entry (struct archive *a, struct archive_entry *e, const char *dir,
                       const char *name, Outcome *o) {
  char path[PATH_MAX];
  struct stat st;
  if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
    set_outcome(o, "ENAMETOOLONG", "%s: name too long", name);
    return 0;
  }
  if (lstat(path, &st) != 0) {
    set_outcome(o, regsh_errno_code(errno), "%s: %s", path, strerror(errno));
    return 0;
  }
  archive_entry_clear(e);
  archive_entry_copy_pathname(e, name);
  archive_entry_set_perm(e, st.st_mode & 07777);
  archive_entry_set_mtime(e, 0, 0);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  archive_entry_copy_uname(e, "");
  archive_entry_copy_gname(e, "");
  if (S_ISDIR(st.st_mode)) {
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_size(e, 0);
  } else if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
      set_outcome(o, regsh_errno_code(errno), "%s: %s", path, strerror(errno));
      return 0;
    }
    target[n] = '\0';
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_copy_symlink(e, target);
    archive_entry_set_size(e, 0);
  } else if (S_ISREG(st.st_mode)) {
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, st.st_size);
  } else {
    set_outcome(o, "EARCHIVE", "%s: cannot pack a device, FIFO or socket", path);
    return 0;
  }
  if (archive_write_header(a, e) != ARCHIVE_OK) {
    archive_outcome(o, a, name);
    return 0;
  }
  if (S_ISREG(st.st_mode)) {
    char buf[BLOCK_SIZE];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    la_int64_t left = st.st_size;
    if (fd < 0) {
      set_outcome(o, regsh_errno_code(errno), "%s: %s", path, strerror(errno));
      return 0;
    }
    while (left > 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
      if (n > left) n = (ssize_t)left;  /* grew meanwhile: the header said less */
      if (archive_write_data(a, buf, (size_t)n) < 0) {
        archive_outcome(o, a, name);
        close(fd);
        return 0;
      }
      left -= n;
    }
    close(fd);
    if (left > 0) {
      set_outcome(o, "EIO", "%s: the file shrank while it was packed", path);
      return 0;
    }
  }
  return 1;
}

/* pack(dir, files, dest_path [, {gzip = bool}]) -> true | fail: the files
** (relative names, in the order given) into a tar (gzip'd) with mtime 0,
** owner 0:0 and no owner names, so equal trees give equal bytes. */
static int archive_pack (lua_State *L) {
  static const char *const keys[] = {"gzip", NULL};
  const char *dir = luaL_checkstring(L, 1);
  const char *dest = luaL_checkstring(L, 3);
  const char **names;
  lua_Integer n;
  int gzip = 0;
  Outcome o;
  struct archive *a;
  struct archive_entry *e;
  int opened = 0;
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    regsh_check_keys(L, 4, keys);
    gzip = regsh_opt_boolean(L, 4, "gzip", 0);
  }
  n = (lua_Integer)luaL_len(L, 2);
  /* the names stay alive in the table at index 2 while C holds them */
  names = (const char **)lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(*names), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    char check[PATH_MAX];
    if (lua_rawgeti(L, 2, i) != LUA_TSTRING)
      return luaL_error(L, "bad argument #2 to 'pack' (file %d is not a string)", (int)i);
    names[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (normalize_name(names[i - 1], 0, check, sizeof(check)) <= 0
        || strcmp(check, names[i - 1]) != 0)
      return luaL_error(L, "bad argument #2 to 'pack' (file '%s' is not a plain relative name)",
                        names[i - 1]);
  }
  memset(&o, 0, sizeof(o));
  a = archive_write_new();
  e = archive_entry_new();
  if (a == NULL || e == NULL) set_outcome(&o, "ENOMEM", "out of memory");
  else {
    archive_write_set_format_pax_restricted(a);
    if (gzip) {
      archive_write_add_filter_gzip(a);
      /* no time in the gzip header either */
      archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
    }
    if (archive_write_open_filename(a, dest) != ARCHIVE_OK) archive_outcome(&o, a, "cannot create");
    else {
      opened = 1;
      for (lua_Integer i = 0; i < n && pack_entry(a, e, dir, names[i], &o); i++) {}
      if (archive_write_close(a) != ARCHIVE_OK) archive_outcome(&o, a, "cannot finish");
    }
  }
  if (e) archive_entry_free(e);
  if (a) archive_write_free(a);
  if (o.code) {
    if (opened) unlink(dest);  /* no half archive left behind */
    return push_outcome(L, &o, dest);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int archive_version (lua_State *L) {
  lua_pushstring(L, archive_version_details());
  return 1;
}

static const luaL_Reg archive_funcs[] = {
  {"extract", archive_extract},
  {"list", archive_list},
  {"pack", archive_pack},
  {"version", archive_version},
  {NULL, NULL}
};

int luaopen_regsh_core_archive (lua_State *L) {
  luaL_newlib(L, archive_funcs);
  return 1;
}
