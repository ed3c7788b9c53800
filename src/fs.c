/*
** fs.c: regsh.core.fs, the file-system and terminal calls Lua's io and os
** lack: stat, mkdir, private temp dirs, atomic writes with a mode, directory
** listing, and terminal echo and line input. lua/regsh/fs.lua builds
** mkdir -p, recursive removal and the echo guard on these.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <dirent.h>

#include <lauxlib.h>
#include <lualib.h>
#include <uv.h>

#include "util.h"

int luaopen_regsh_core_fs(lua_State *L);

/* fail "CODE: what: reason" for the errno the last call left */
static int fail_errno (lua_State *L, const char *what) {
  return regsh_fail_errno(L, errno, "%s", what);
}

/* a file descriptor from an integer or an open Lua file (io.stdin) */
static int check_fd (lua_State *L, int arg) {
  luaL_Stream *stream = (luaL_Stream *)luaL_testudata(L, arg, LUA_FILEHANDLE);
  if (stream != NULL) {
    if (stream->closef == NULL) luaL_argerror(L, arg, "attempt to use a closed file");
    return fileno(stream->f);
  }
  return (int)luaL_checkinteger(L, arg);
}

static mode_t check_mode (lua_State *L, int arg, lua_Integer def) {
  lua_Integer mode = luaL_optinteger(L, arg, def);
  luaL_argcheck(L, mode >= 0 && mode <= 07777, arg, "mode must be within 0..0x0fff (07777)");
  return (mode_t)mode;
}


/*
** {======================================================
** Files and directories
** =======================================================
*/

static const char *type_name (mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISDIR(mode)) return "directory";
  if (S_ISLNK(mode)) return "link";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "char";
  if (S_ISBLK(mode)) return "block";
  return "other";
}

static int push_stat (lua_State *L, const char *path, int follow) {
  struct stat st;
  if ((follow ? stat(path, &st) : lstat(path, &st)) != 0) return fail_errno(L, path);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, type_name(st.st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, (lua_Integer)st.st_mtime);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, (lua_Integer)st.st_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)st.st_gid);
  lua_setfield(L, -2, "gid");
  return 1;
}

/* stat(path) -> {type, size, mode, mtime, uid, gid} | fail */
static int fs_stat (lua_State *L) {
  return push_stat(L, luaL_checkstring(L, 1), 1);
}

/* lstat(path): stat that describes a symbolic link, not its target */
static int fs_lstat (lua_State *L) {
  return push_stat(L, luaL_checkstring(L, 1), 0);
}

/* mkdir(path [, mode]) -> true | fail (one level; mode before the umask) */
static int fs_mkdir (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (mkdir(path, check_mode(L, 2, 0777)) != 0) return fail_errno(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* mkdtemp(template) -> path | fail: a new directory, mode 0700 */
static int fs_mkdtemp (lua_State *L) {
  size_t len;
  const char *template = luaL_checklstring(L, 1, &len);
  char path[PATH_MAX];
  if (len >= sizeof(path)) {
    errno = ENAMETOOLONG;
    return fail_errno(L, template);
  }
  memcpy(path, template, len + 1);
  if (mkdtemp(path) == NULL) return fail_errno(L, template);
  lua_pushstring(L, path);
  return 1;
}

/* remove(path) -> true | fail: a file, a link or an empty directory */
static int fs_remove (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (remove(path) != 0) return fail_errno(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* readdir(path) -> {names...} | fail, without "." and ".." */
static int fs_readdir (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR *dir;
  struct dirent *entry;
  int n = 0;
  lua_newtable(L);  /* before opendir: the only call here that may raise... */
  dir = opendir(path);
  if (dir == NULL) return fail_errno(L, path);
  while ((entry = readdir(dir)) != NULL) {
    const char *name = entry->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
    lua_pushstring(L, name);  /* ...besides this one, out of memory only */
    lua_rawseti(L, -2, ++n);
  }
  closedir(dir);
  return 1;
}

/* read_file(path) -> contents | fail */
static int fs_read_file (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_Buffer b;
  ssize_t got;
  int fd;
  luaL_buffinit(L, &b);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(L, path);
  do {
    char *p = luaL_prepbuffer(&b);  /* raises only when out of memory */
    got = read(fd, p, LUAL_BUFFERSIZE);
    if (got > 0) luaL_addsize(&b, (size_t)got);
  } while (got > 0 || (got < 0 && errno == EINTR));
  if (got < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return fail_errno(L, path);
  }
  close(fd);
  luaL_pushresult(&b);
  return 1;
}

static int write_all (int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* write_atomic(path, data [, mode]) -> true | fail. A temporary file beside
** path (so the rename stays on one file system) gets the mode, the data and
** an fsync, then replaces path: readers see the old file or the new one. */
static int fs_write_atomic (lua_State *L) {
  size_t plen, len;
  const char *path = luaL_checklstring(L, 1, &plen);
  const char *data = luaL_checklstring(L, 2, &len);
  mode_t mode = check_mode(L, 3, 0644);
  char tmp[PATH_MAX];
  int fd, e;
  if (plen + sizeof(".XXXXXX") > sizeof(tmp)) {
    errno = ENAMETOOLONG;
    return fail_errno(L, path);
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".XXXXXX", sizeof(".XXXXXX"));
  fd = mkstemp(tmp);  /* created 0600: nobody else can open it meanwhile */
  if (fd < 0) return fail_errno(L, path);
  if (fchmod(fd, mode) == 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0) {
    if (close(fd) == 0 && rename(tmp, path) == 0) {
      lua_pushboolean(L, 1);
      return 1;
    }
    fd = -1;
  }
  e = errno;
  if (fd >= 0) close(fd);
  unlink(tmp);
  errno = e;
  return fail_errno(L, path);
}

/* }====================================================== */


/*
** {======================================================
** Terminals
** =======================================================
*/

/* isatty(fd | file) -> boolean */
static int fs_isatty (lua_State *L) {
  lua_pushboolean(L, isatty(check_fd(L, 1)));
  return 1;
}

/* echo(fd | file [, on]) -> whether echo was on | fail (ENOTTY...). Without
** `on` it only reports. */
static int fs_echo (lua_State *L) {
  int fd = check_fd(L, 1);
  struct termios t;
  int was;
  if (tcgetattr(fd, &t) != 0) return fail_errno(L, "terminal");
  was = (t.c_lflag & ECHO) != 0;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_toboolean(L, 2)) t.c_lflag |= ECHO;
    else t.c_lflag &= ~(tcflag_t)ECHO;
    if (tcsetattr(fd, TCSANOW, &t) != 0) return fail_errno(L, "terminal");
  }
  lua_pushboolean(L, was);
  return 1;
}

/*
** read_line(fd | file) -> line without "\n" | nil at end of input | fail
** "EINTR" when a signal arrived before anything was read. It waits in poll(),
** which a signal interrupts even where read() would be restarted, so Ctrl-C
** at a prompt reaches Lua (and the echo guard) at once. Reads byte by byte:
** nothing after the line is consumed. Do not mix with io.stdin's buffer.
*/
static int fs_read_line (lua_State *L) {
  int fd = check_fd(L, 1);
  luaL_Buffer b;
  size_t n = 0;
  luaL_buffinit(L, &b);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    ssize_t got;
    if (poll(&p, 1, -1) < 0) {
      if (errno == EINTR && n == 0) return regsh_fail(L, "EINTR", "interrupted");
      if (errno == EINTR) continue;
      return fail_errno(L, "read");
    }
    got = read(fd, &c, 1);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return fail_errno(L, "read");
    if (got == 0) {
      if (n == 0) {
        luaL_pushfail(L);
        return 1;
      }
      break;
    }
    if (c == '\n') break;
    luaL_addchar(&b, c);
    n++;
  }
  luaL_pushresult(&b);
  return 1;
}

/* }====================================================== */


static const luaL_Reg fs_funcs[] = {
  {"echo", fs_echo},
  {"isatty", fs_isatty},
  {"lstat", fs_lstat},
  {"mkdir", fs_mkdir},
  {"mkdtemp", fs_mkdtemp},
  {"read_file", fs_read_file},
  {"read_line", fs_read_line},
  {"readdir", fs_readdir},
  {"remove", fs_remove},
  {"stat", fs_stat},
  {"write_atomic", fs_write_atomic},
  {NULL, NULL}
};

int luaopen_regsh_core_fs (lua_State *L) {
  luaL_newlib(L, fs_funcs);
  return 1;
}
