-- regsh.store: the SQLite state store on real files in a temporary directory:
-- migrations, reopening, refusal of a newer schema, facts, first-seen times,
-- runs, two regsh processes writing at once, and values that look like SQL.
local store = require "regsh.store"
local core = require "regsh.core.store"
local fs = require "regsh.fs"
local cmd = require "support.cmd"

local BIG = (1 << 53) + 1  -- past a double's exact integers
local A = "sha256:" .. string.rep("a", 64)
local B = "sha256:" .. string.rep("b", 64)
local C = "sha256:" .. string.rep("c", 64)

describe("regsh.store", function()
  local dir, path

  before_each(function()
    dir = assert(fs.temp_dir("store-spec"))
    path = dir .. "/state/state.db"
  end)
  after_each(function() assert(fs.remove_tree(dir)) end)

  it("creates a private directory and file, in WAL mode, at the newest schema", function()
    local st = assert(store.open(path))
    assert.equal(path, st.path)
    assert.equal(tonumber("700", 8), fs.stat(dir .. "/state").mode)
    assert.equal(tonumber("600", 8), fs.stat(path).mode)
    st:close()
    local db = assert(core.open(path))
    assert.equal(store.schema_version, db:first("PRAGMA user_version").user_version)
    assert.equal("wal", db:first("PRAGMA journal_mode").journal_mode)
    local tables = {}
    for _, row in ipairs(db:rows("SELECT name FROM sqlite_schema WHERE type = 'table'")) do
      tables[row.name] = true
    end
    assert.is_true(tables.digest_facts and tables.repository_members and tables.runs)
    db:close()
  end)

  it("keeps its data across a reopen and migrates only once", function()
    local st = assert(store.open(path))
    assert(st:put_facts({{digest = A, size = 10}}))
    st:close()
    assert.has_error(function() st:facts({A}) end, "attempt to use a closed store database")
    st = assert(store.open(path))
    assert.equal(10, st:facts({A})[A].size)
    st:close()
  end)

  it("refuses a store written by a newer regsh, and a file that is no database", function()
    assert(store.open(path)):close()
    local db = assert(core.open(path))
    assert(db:exec("PRAGMA user_version = 99"))
    db:close()
    local st, err, code = store.open(path)
    assert.is_nil(st)
    assert.equal("ESTORE", code)
    assert.equal("ESTORE: " .. path .. ": schema version 99 is newer than this regsh's ("
      .. store.schema_version .. "): upgrade regsh, or use another --state", err)

    local junk = dir .. "/junk.db"
    assert(fs.write_atomic(junk, string.rep("not a database\n", 100)))
    st, err, code = store.open(junk)
    assert.is_nil(st)
    assert.equal("ESTORE", code)
    assert.matches("^ESTORE: " .. junk:gsub("%p", "%%%0") .. ": file is not a database", err)
  end)

  it("round-trips facts: nil fields, arrays, big integers; a known digest keeps its facts", function()
    local st = assert(store.open(path))
    local index = {digest = A, media_type = "application/vnd.oci.image.index.v1+json", size = BIG,
                   created = 1700000000, platforms = {"linux/amd64", "linux/arm64/v8"},
                   children = {B, C}, artifact_type = "application/x", config = C}
    assert.equal(2, st:put_facts({index, {digest = B, platforms = {}}}))
    assert.equal(0, st:put_facts({{digest = A, size = 1}}))  -- facts never change
    local facts = assert(st:facts({A, B, C}))
    assert.same(index, facts[A])
    assert.equal(BIG, facts[A].size)
    assert.equal("integer", math.type(facts[A].size))
    assert.same({digest = B, platforms = {}}, facts[B])
    assert.is_nil(facts[B].subject)
    assert.is_nil(facts[C])
    assert.has_error(function() st:put_facts({{digest = C, size = 1.5}}) end,
                     "put_facts: " .. C .. ": field 'size' must be a integer, got number")
    assert.has_error(function() st:put_facts({{digest = C, colour = "red"}}) end,
                     "put_facts: " .. C .. ": unknown field 'colour'")
    st:close()
  end)

  it("looks up many digests in chunks", function()
    local st = assert(store.open(path))
    local list, digests = {}, {}
    for i = 1, 1234 do
      digests[i] = string.format("sha256:%064x", i)
      list[i] = {digest = digests[i], size = i}
    end
    assert.equal(1234, st:put_facts(list))
    local facts = assert(st:facts(digests))
    local n = 0
    for d, f in pairs(facts) do
      n = n + 1
      assert.equal(tonumber(d:sub(8), 16), f.size)
    end
    assert.equal(1234, n)
    st:close()
  end)

  it("records first-seen times that never move later, per repository", function()
    local st = assert(store.open(path))
    assert.same({[A] = 100, [B] = 100}, st:seen("r:5000", "app", {A, B}, 100))
    assert.same({[A] = 100, [C] = 200}, st:seen("r:5000", "app", {A, C}, 200))
    assert.same({[A] = 50}, st:seen("r:5000", "app", {A}, 50))  -- an earlier sighting wins
    assert.same({[A] = 300}, st:seen("r:5000", "other", {A}, 300))
    assert.same({[A] = 50, [B] = 100, [C] = 200}, st:members("r:5000", "app"))
    assert.same({}, st:members("other:5000", "app"))
    st:close()
  end)

  it("forgets deleted digests of one repository only, keeping their facts", function()
    local st = assert(store.open(path))
    assert(st:put_facts({{digest = A}}))
    assert(st:seen("r", "app", {A, B}, 1))
    assert(st:seen("r", "web", {A}, 1))
    assert.equal(1, st:forget("r", "app", {A, C}))
    assert.same({[B] = 1}, st:members("r", "app"))
    assert.same({[A] = 1}, st:members("r", "web"))
    assert.is_table(st:facts({A})[A])
    assert.same({[A] = 5}, st:seen("r", "app", {A}, 5))  -- seen again: a new first sighting
    st:close()
  end)

  it("records runs, newest first, per kind", function()
    local st = assert(store.open(path))
    local before = os.time()
    local one = assert(st:run_begin("purge", {filter = {"app:^dev-"}, ago = "10d"}))
    local two = assert(st:run_begin("task", nil))
    local three = assert(st:run_begin("purge", {}))
    assert(st:run_end(one, "succeeded", {deleted_tags = 3}))
    local runs = assert(st:runs("purge"))
    assert.equal(2, #runs)
    assert.same({three, one}, {runs[1].id, runs[2].id})
    assert.equal("running", runs[1].status)
    assert.is_nil(runs[1].ended)
    assert.equal("succeeded", runs[2].status)
    assert.same({filter = {"app:^dev-"}, ago = "10d"}, runs[2].info)
    assert.same({deleted_tags = 3}, runs[2].result)
    assert.is_true(runs[2].started >= before and runs[2].ended >= runs[2].started)
    assert.equal(1, #st:runs("purge", 1))
    assert.same({three, two, one}, {st:runs()[1].id, st:runs()[2].id, st:runs()[3].id})
    assert.has_error(function() st:run_end(999, "failed") end)
    st:close()
  end)

  it("stores strings that look like SQL, and NUL bytes, verbatim", function()
    local st = assert(store.open(path))
    local evil = "x'); DROP TABLE digest_facts; --"
    local quoted = 'a"b\'c\0d'
    assert(st:put_facts({{digest = evil, media_type = quoted, platforms = {evil}}}))
    assert(st:seen(evil, quoted, {evil}, 7))
    local facts = assert(st:facts({evil, "' OR 1=1 --"}))
    assert.equal(quoted, facts[evil].media_type)
    assert.same({evil}, facts[evil].platforms)
    assert.is_nil(facts["' OR 1=1 --"])
    assert.same({[evil] = 7}, st:members(evil, quoted))
    assert.same({}, st:members(evil, "' OR '1'='1"))
    local id = assert(st:run_begin("'; DELETE FROM runs; --", {q = evil}))
    assert.equal(evil, st:runs("'; DELETE FROM runs; --")[1].info.q)
    assert.equal(id, st:runs()[1].id)
    st:close()
  end)

  it("rolls a transaction back on an error or a fail tuple", function()
    local st = assert(store.open(path))
    assert.has_error(function()
      st:transaction(function()
        assert(st:seen("r", "app", {A}, 1))
        error("boom")
      end)
    end, "boom")
    local ok, err, code = st:transaction(function()
      assert(st:seen("r", "app", {B}, 1))
      return nil, "EINVAL: no", "EINVAL"
    end)
    assert.same({nil, "EINVAL: no", "EINVAL"}, {ok, err, code})
    assert.same({}, st:members("r", "app"))
    assert.same({7, 8}, {st:transaction(function(a, b) return a, b end, 7, 8)})
    st:close()
  end)

  it("fails with EBUSY naming the file when another process holds the write lock too long", function()
    local st = assert(store.open(path, {busy_timeout = 0}))
    local other = assert(core.open(path, 0))
    assert(other:exec("BEGIN IMMEDIATE"))
    local ok, err, code = st:seen("r", "app", {A}, 1)
    assert.is_nil(ok)
    assert.equal("EBUSY", code)
    assert.equal("EBUSY: " .. path .. ": database is locked", err)
    assert(other:exec("ROLLBACK"))
    assert(st:seen("r", "app", {A}, 1))
    other:close()
    st:close()
  end)

  it("works with two regsh processes writing at once", function()
    local script = [[
local store = require "regsh.store"
local dir, me, other = ...
local function exists(p) return regsh.fs.stat(p) ~= nil end
assert(regsh.fs.write_atomic(dir .. "/" .. me, ""))
local st = assert(store.open(dir .. "/shared/state.db"))
-- whoever takes the write lock first holds it until the other has started,
-- so the other meets a locked database (in its open or its first write)
assert(st:transaction(function()
  assert(st:run_begin("writer", {me = me}))
  for _ = 1, 3000 do  -- a bound, not a timing: the other may have died
    if exists(dir .. "/" .. other) then break end
    regsh.sleep(0.01)
  end
  return true
end))
for i = 1, 200 do
  local d = string.format("sha256:%s%063x", me, i)
  assert(st:put_facts({{digest = d, size = i}}))
  assert(st:seen("r", "app", {d}, i))
end
print("done")
]]
    local file = dir .. "/writer.lua"
    assert(fs.write_atomic(file, script))
    local line = string.format("(%s %s %s a b & %s %s %s b a & wait) ",
      cmd.quote(cmd.bin), cmd.quote(file), cmd.quote(dir),
      cmd.quote(cmd.bin), cmd.quote(file), cmd.quote(dir))
    local out, status, err = cmd.sh(line)
    assert.equal(0, status, err)
    assert.equal("done\ndone\n", out, err)
    local st = assert(store.open(dir .. "/shared/state.db"))
    local members = assert(st:members("r", "app"))
    local n = 0
    for _ in pairs(members) do n = n + 1 end
    assert.equal(400, n)
    assert.equal(2, #st:runs("writer"))
    st:close()
  end)

  it("names the path when it cannot create the store", function()
    local locked = dir .. "/locked"
    assert(fs.mkdir(locked, tonumber("500", 8)))
    local target = locked .. "/sub/state.db"
    local probe = io.open(locked .. "/probe", "w")
    if probe then  -- root ignores the mode: use a directory of sysfs instead
      probe:close()
      target = "/sys/kernel/state.db"
    end
    local st, err, code = store.open(target)
    assert.is_nil(st)
    assert.equal("EACCES", code)
    assert.matches("^EACCES: /[^:]+: permission denied$", err)
    assert.truthy(err:find(probe and target or locked .. "/sub", 1, true))

    local file = dir .. "/file"
    assert(fs.write_atomic(file, "x"))
    st, err, code = store.open(file .. "/state.db")
    assert.is_nil(st)
    assert.equal("EEXIST", code)
    assert.equal("EEXIST: " .. file .. ": exists and is not a directory", err)
  end)

  it("finds its default path from XDG_STATE_HOME, else HOME", function()
    local out, status, err = cmd.regsh({"-e", "print(regsh.store.default_path())"}, nil,
                                       {XDG_STATE_HOME = "/x/state", HOME = "/home/u"})
    assert.equal(0, status, err)
    assert.equal("/x/state/regsh/state.db\n", out)
    out = cmd.regsh({"-e", "print(regsh.store.default_path())"}, nil,
                    {XDG_STATE_HOME = "relative", HOME = "/home/u"})
    assert.equal("/home/u/.local/state/regsh/state.db\n", out)
    out, status, err = cmd.regsh({"-e", "local st = assert(regsh.store.open()); print(st.path)"},
                                 nil, {XDG_STATE_HOME = dir .. "/xdg"})
    assert.equal(0, status, err)
    assert.equal(dir .. "/xdg/regsh/state.db\n", out)
    assert.equal("file", fs.stat(dir .. "/xdg/regsh/state.db").type)
  end)

  it("raises on misuse", function()
    local st = assert(store.open(":memory:"))
    assert.has_error(function() st:facts("sha256:a") end)
    assert.has_error(function() st:facts({1}) end)
    assert.has_error(function() st:seen("r", "app", {A}, 1.5) end)
    assert.has_error(function() st:runs(nil, "10") end)
    assert.has_error(function() store.open(path, {busy = 1}) end, "unknown option 'busy'")
    local db = assert(core.open(":memory:"))
    assert.has_error(function() db:exec("SELECT ?", {}) end)
    assert.has_error(function() db:exec("SELECT ?") end)
    assert.has_error(function() db:exec("SELECT 1; SELECT 2") end)
    assert.has_error(function() db:exec("SELEC 1") end)
    assert.is_nil(db:first("SELECT 1 WHERE 0"))
    db:close()
    st:close()
  end)
end)
