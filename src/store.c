/*
** store.c: regsh.core.store, SQLite connections for the state store
** (lua/regsh/store.lua owns the schema and the queries). Statements are
** prepared once and cached per connection, and every value is bound as a
** parameter: there is no call here that puts a value into SQL text.
*/
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <sqlite3.h>

#include "util.h"

int luaopen_regsh_core_store(lua_State *L);

#define DATABASE "regsh.store.database"

/* Cached statements per connection: beyond this many distinct SQL texts the
** cache is emptied (the store's queries are a few dozen fixed strings). */
#define CACHE_LIMIT 64

/* uservalues of a database: 1 its path, 2 the cache (SQL text -> statement) */
#define UV_PATH  1
#define UV_CACHE 2

typedef struct {
  sqlite3 *db;        /* NULL once closed (or before opening) */
  int cached;         /* statements in the cache */
} Database;


static Database *check_database (lua_State *L) {
  Database *d = (Database *)luaL_checkudata(L, 1, DATABASE);
  if (d->db == NULL) luaL_error(L, "attempt to use a closed store database");
  return d;
}

static void finalize_all (Database *d) {
  sqlite3_stmt *stmt;
  while ((stmt = sqlite3_next_stmt(d->db, NULL)) != NULL) sqlite3_finalize(stmt);
  d->cached = 0;
}

static int database_gc (lua_State *L) {
  Database *d = (Database *)luaL_checkudata(L, 1, DATABASE);
  if (d->db) {
    finalize_all(d);
    sqlite3_close_v2(d->db);
    d->db = NULL;
  }
  return 0;
}

/* The regsh code of an SQLite result: the errno names where SQLite reports
** a system error, ESTORE for a file that is no (sound) SQLite database, NULL
** for what only a bug in the caller's SQL or arguments can cause. */
static const char *result_code (sqlite3 *db, int rc) {
  int sys = db ? sqlite3_system_errno(db) : 0;
  switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: return "EBUSY";
    case SQLITE_NOMEM: return "ENOMEM";
    case SQLITE_FULL: return "ENOSPC";
    case SQLITE_TOOBIG: return "ETOOBIG";
    case SQLITE_INTERRUPT: return "EINTR";
    case SQLITE_CONSTRAINT: return "EINVAL";
    case SQLITE_READONLY: return "EACCES";
    case SQLITE_PERM: return "EPERM";
    case SQLITE_CORRUPT: case SQLITE_NOTADB: return "ESTORE";
    case SQLITE_CANTOPEN: case SQLITE_IOERR: case SQLITE_PROTOCOL:
      return sys ? regsh_errno_code(sys) : "EIO";
    default: return NULL;
  }
}

/* [-0, +3 or raise] the outcome of a failed call on d: a fail tuple
** "CODE: path: sqlite's message", or an error for SQL or usage bugs */
static int fail (lua_State *L, Database *d, int rc, const char *sql) {
  const char *code = result_code(d->db, rc);
  const char *message = sqlite3_errmsg(d->db);
  lua_getiuservalue(L, 1, UV_PATH);
  if (code == NULL)
    return luaL_error(L, "store %s: %s (in: %s)", lua_tostring(L, -1), message, sql);
  return regsh_fail(L, code, "%s: %s", lua_tostring(L, -1), message);
}

/* The prepared statement of the SQL text at index 2, from the cache or new;
** NULL with the fail tuple pushed (after raising for bad SQL). */
static sqlite3_stmt *prepare (lua_State *L, Database *d) {
  size_t len;
  const char *sql = luaL_checklstring(L, 2, &len);
  sqlite3_stmt *stmt;
  const char *tail;
  int rc;
  lua_getiuservalue(L, 1, UV_CACHE);      /* [cache] */
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) == LUA_TLIGHTUSERDATA) {
    stmt = (sqlite3_stmt *)lua_touserdata(L, -1);
    lua_pop(L, 2);
    sqlite3_reset(stmt);  /* a run cut short by a Lua error left it mid-way */
    sqlite3_clear_bindings(stmt);
    return stmt;
  }
  lua_pop(L, 1);                          /* [cache] */
  rc = sqlite3_prepare_v3(d->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    lua_pop(L, 1);
    fail(L, d, rc, sql);
    return NULL;
  }
  if (stmt == NULL) luaL_error(L, "store: no SQL statement in: %s", sql);
  if (*tail != '\0' && strspn(tail, " \t\r\n;") != strlen(tail)) {
    sqlite3_finalize(stmt);
    luaL_error(L, "store: one SQL statement per call (exec_script runs several): %s", sql);
  }
  if (d->cached >= CACHE_LIMIT) {
    finalize_all(d);
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, UV_CACHE);
  }
  lua_pushvalue(L, 2);
  lua_pushlightuserdata(L, stmt);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  d->cached++;
  return stmt;
}

/* Bind the arguments from index 3 on by their Lua type. */
static void bind (lua_State *L, sqlite3_stmt *stmt) {
  int n = lua_gettop(L) - 2;
  int expected = sqlite3_bind_parameter_count(stmt);
  if (n != expected)
    luaL_error(L, "store: %d value(s) given for %d parameter(s) in: %s", n, expected,
               sqlite3_sql(stmt));
  for (int i = 1; i <= n; i++) {
    int arg = i + 2, rc = SQLITE_OK;
    switch (lua_type(L, arg)) {
      case LUA_TNIL: rc = sqlite3_bind_null(stmt, i); break;
      case LUA_TBOOLEAN: rc = sqlite3_bind_int(stmt, i, lua_toboolean(L, arg)); break;
      case LUA_TNUMBER:
        if (lua_isinteger(L, arg))
          rc = sqlite3_bind_int64(stmt, i, (sqlite3_int64)lua_tointeger(L, arg));
        else rc = sqlite3_bind_double(stmt, i, (double)lua_tonumber(L, arg));
        break;
      case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, arg, &len);
        rc = sqlite3_bind_text64(stmt, i, s, (sqlite3_uint64)len, SQLITE_TRANSIENT,
                                 SQLITE_UTF8);
        break;
      }
      default:
        luaL_argerror(L, arg, lua_pushfstring(L, "nil, boolean, number or string expected, got %s",
                                              luaL_typename(L, arg)));
    }
    if (rc != SQLITE_OK) luaL_error(L, "store: cannot bind value %d: %s", i, sqlite3_errstr(rc));
  }
}

/* [-0, +1, m] the current row as a table keyed by column name (NULL: absent) */
static void push_row (lua_State *L, sqlite3_stmt *stmt) {
  int columns = sqlite3_column_count(stmt);
  lua_createtable(L, 0, columns);
  for (int c = 0; c < columns; c++) {
    switch (sqlite3_column_type(stmt, c)) {
      case SQLITE_NULL: continue;
      case SQLITE_INTEGER: lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(stmt, c)); break;
      case SQLITE_FLOAT: lua_pushnumber(L, (lua_Number)sqlite3_column_double(stmt, c)); break;
      default: {  /* text or blob: the bytes as they are, NULs included */
        const void *p = sqlite3_column_blob(stmt, c);
        lua_pushlstring(L, p ? (const char *)p : "", (size_t)sqlite3_column_bytes(stmt, c));
      }
    }
    lua_setfield(L, -2, sqlite3_column_name(stmt, c));
  }
}

/* Step stmt to its end; rows (if want_rows) collected into the table at the
** top (limit: stop after that many). 0 on success, else the fail tuple is
** pushed and its size returned. */
static int run (lua_State *L, Database *d, sqlite3_stmt *stmt, int want_rows, int limit) {
  int rc, n = 0;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (!want_rows) continue;
    push_row(L, stmt);
    lua_rawseti(L, -2, ++n);
    if (limit > 0 && n >= limit) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    const char *sql = lua_tostring(L, 2);
    sqlite3_reset(stmt);
    return fail(L, d, rc, sql);
  }
  sqlite3_reset(stmt);  /* ends its read of the database now, not at its next use */
  return 0;
}

/* db:exec(sql, ...) -> number of rows changed | fail */
static int database_exec (lua_State *L) {
  Database *d = check_database(L);
  sqlite3_stmt *stmt = prepare(L, d);
  int failed;
  if (stmt == NULL) return 3;
  bind(L, stmt);
  failed = run(L, d, stmt, 0, 0);
  if (failed) return failed;
  lua_pushinteger(L, (lua_Integer)sqlite3_changes64(d->db));
  return 1;
}

/* db:rows(sql, ...) -> array of rows | fail */
static int database_rows (lua_State *L) {
  Database *d = check_database(L);
  sqlite3_stmt *stmt = prepare(L, d);
  int failed;
  if (stmt == NULL) return 3;
  bind(L, stmt);
  lua_newtable(L);
  failed = run(L, d, stmt, 1, 0);
  return failed ? failed : 1;
}

/* db:first(sql, ...) -> row | nil when there is none | fail */
static int database_first (lua_State *L) {
  Database *d = check_database(L);
  sqlite3_stmt *stmt = prepare(L, d);
  int failed;
  if (stmt == NULL) return 3;
  bind(L, stmt);
  lua_newtable(L);
  failed = run(L, d, stmt, 1, 1);
  if (failed) return failed;
  lua_rawgeti(L, -1, 1);
  return 1;
}

/* db:exec_script(sql) -> true | fail: several statements and no values, for
** schema migrations (fixed text in lua/regsh/store.lua) */
static int database_exec_script (lua_State *L) {
  Database *d = check_database(L);
  const char *sql = luaL_checkstring(L, 2);
  int rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) return fail(L, d, rc, sql);
  lua_pushboolean(L, 1);
  return 1;
}

/* db:in_transaction() -> whether a transaction is open */
static int database_in_transaction (lua_State *L) {
  Database *d = check_database(L);
  lua_pushboolean(L, !sqlite3_get_autocommit(d->db));
  return 1;
}

static int database_tostring (lua_State *L) {
  Database *d = (Database *)luaL_checkudata(L, 1, DATABASE);
  lua_getiuservalue(L, 1, UV_PATH);
  lua_pushfstring(L, "regsh.store.database (%s)%s", lua_tostring(L, -1),
                  d->db ? "" : " closed");
  return 1;
}

/* SQLite's own files (-wal, -shm) take the mode of the database file, so
** making it 0600 before SQLite does keeps all of them private. */
static int create_private (lua_State *L, const char *path) {
  int fd;
  if (strcmp(path, ":memory:") == 0 || *path == '\0') return 0;
  do fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return regsh_fail_errno(L, errno, "%s", path);
  close(fd);
  return 0;
}

/* open(path [, busy_timeout_ms]) -> db | fail */
static int store_open (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer busy = luaL_optinteger(L, 2, 5000);
  Database *d;
  int rc, failed;
  luaL_argcheck(L, busy >= 0 && busy <= 3600000, 2, "busy timeout out of range");
  luaL_argcheck(L, strncmp(path, "file:", 5) != 0, 1, "URI file names are not accepted");
  d = (Database *)lua_newuserdatauv(L, sizeof(Database), 2);
  d->db = NULL;  /* born closed: __gc is safe whatever fails below */
  d->cached = 0;
  luaL_setmetatable(L, DATABASE);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, UV_PATH);
  lua_newtable(L);
  lua_setiuservalue(L, -2, UV_CACHE);
  lua_replace(L, 1);  /* the database at index 1, as its methods expect */
  lua_settop(L, 1);
  if ((failed = create_private(L, path)) != 0) return failed;
  rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                       SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
  if (rc != SQLITE_OK) {
    if (d->db == NULL) return luaL_error(L, "not enough memory");
    failed = fail(L, d, rc, "open");
    sqlite3_close_v2(d->db);
    d->db = NULL;
    return failed;
  }
  sqlite3_busy_timeout(d->db, (int)busy);
  sqlite3_extended_result_codes(d->db, 1);
  lua_settop(L, 1);
  return 1;
}

static int store_version (lua_State *L) {
  lua_pushstring(L, sqlite3_libversion());
  return 1;
}

static const luaL_Reg database_methods[] = {
  {"close", database_gc},
  {"exec", database_exec},
  {"exec_script", database_exec_script},
  {"first", database_first},
  {"in_transaction", database_in_transaction},
  {"rows", database_rows},
  {NULL, NULL}
};

static const luaL_Reg database_meta[] = {
  {"__tostring", database_tostring},
  {NULL, NULL}
};

static const luaL_Reg store_funcs[] = {
  {"open", store_open},
  {NULL, NULL}
};

int luaopen_regsh_core_store (lua_State *L) {
  regsh_newclass(L, DATABASE, database_gc, database_meta, database_methods, 0);
  lua_pop(L, 1);
  luaL_newlib(L, store_funcs);
  store_version(L);
  lua_setfield(L, -2, "sqlite_version");
  return 1;
}
