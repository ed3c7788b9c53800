-- tests/mutate.lua: the mutation check behind scripts/mutate. Each mutant in
-- tests/mutants.lua is one small edit to one file; it is applied to a copy of
-- the tree, the specs named with it run against that copy, and the mutant
-- must make them fail. A mutant that survives means a test claims more than
-- it checks. Lua mutants load through REGSH_LUA_PATH (no rebuild); C mutants
-- rebuild one copy of the tree incrementally.
-- With --shard I/N this process takes its share of the mutants, so that N
-- processes (scripts/mutate runs two) check them at once, each on its own
-- copy: every C mutant goes to shard 0, which owns the one C build, and the
-- Lua mutants fill the shards so each gets about the same work.
--   regsh tests/mutate.lua ROOT BUILD_DIR [--list] [--tag TAG] [--shard I/N] [NAME...]
local root, build = arg[1], arg[2]
assert(root and build,
  "usage: regsh tests/mutate.lua ROOT BUILD_DIR [--list] [--tag TAG] [--shard I/N] [NAME...]")

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function run(line)
  local ok, _, status = os.execute(line)
  return ok == true, status
end

local function must(line)
  local ok, status = run(line)
  if not ok then error("mutate: command failed (" .. tostring(status) .. "): " .. line, 0) end
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Replace the one occurrence of `from` in text with `to`; a mutant whose
-- text is missing or ambiguous is stale and must be rewritten, not skipped.
local function mutate_text(text, m)
  local first = text:find(m.from, 1, true)
  if not first then return nil, "its text no longer occurs in " .. m.file end
  if text:find(m.from, first + 1, true) then
    return nil, "its text occurs more than once in " .. m.file
  end
  return text:sub(1, first - 1) .. m.to .. text:sub(first + #m.from)
end

local mutants = dofile(root .. "/tests/mutants.lua")
local listing, wanted, tag, shard, shards = false, {}, nil, 0, 1
local i = 3
while arg[i] do
  if arg[i] == "--list" then listing = true
  elseif arg[i] == "--tag" then i = i + 1; tag = arg[i]
  elseif arg[i] == "--shard" then
    i = i + 1
    shard, shards = (arg[i] or ""):match("^(%d+)/(%d+)$")
    shard, shards = tonumber(shard), tonumber(shards)
    assert(shard and shards > 0 and shard < shards, "mutate: --shard takes I/N with 0 <= I < N")
  else wanted[arg[i]] = true end
  i = i + 1
end

local function is_lua_mutant(m)
  return m.file:match("^lua/") ~= nil or m.file:match("^policies/") ~= nil
end

local selected, seen = {}, {}
for _, m in ipairs(mutants) do
  assert(not seen[m.name], "mutate: two mutants named " .. m.name)
  seen[m.name] = true
  assert(m.file and m.from and m.to and m.specs and m.why, "mutate: mutant " .. m.name
         .. " needs file, from, to, specs and why")
  local by_name = next(wanted) == nil or wanted[m.name]
  local by_tag = tag == nil or (m.tags or {})[tag]
  if by_name and by_tag then selected[#selected + 1] = m end
end
for name in pairs(wanted) do
  if not seen[name] then error("mutate: no mutant named " .. name, 0) end
end
if shards > 1 then
  -- C mutants (a rebuild each) weigh as two Lua ones
  local load, mine = {}, {}
  for s = 0, shards - 1 do load[s] = 0 end
  for _, m in ipairs(selected) do
    if not is_lua_mutant(m) then
      load[0] = load[0] + 2
      if shard == 0 then mine[#mine + 1] = m end
    end
  end
  for _, m in ipairs(selected) do
    if is_lua_mutant(m) then
      local least = 0
      for s = 1, shards - 1 do if load[s] < load[least] then least = s end end
      load[least] = load[least] + 1
      if least == shard then mine[#mine + 1] = m end
    end
  end
  selected = mine
end

if listing then
  for _, m in ipairs(selected) do print(string.format("%-40s %s", m.name, m.why)) end
  os.exit(0)
end

-- One copy of the tree for every mutant; C mutants get a build of it.
local work = os.getenv("TMPDIR") or "/tmp"
work = io.popen("mktemp -d " .. quote(work .. "/regsh-mutate.XXXXXX")):read("l")
local copy = work .. "/tree"
must("mkdir -p " .. quote(copy) .. " && cd " .. quote(root)
     .. " && git ls-files -z --cached --others --exclude-standard"
     .. " | xargs -0 cp --parents -t " .. quote(copy))
local copy_build = work .. "/build"
local copy_built = false

local function build_copy()
  return run("cmake --build " .. quote(copy_build) .. " -j2 >" .. quote(work .. "/build.log") .. " 2>&1")
end

-- The unmutated copy must build, or every C mutant would pass for caught.
local function prepare_c_build()
  if copy_built then return end
  must("cmake -S " .. quote(copy) .. " -B " .. quote(copy_build)
       .. " -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null")
  assert(build_copy(), "mutate: the unmutated copy does not build; see " .. work .. "/build.log")
  copy_built = true
end

local function spec_command(bin, m, lua_path)
  local words = {}
  if lua_path then words[#words + 1] = "REGSH_LUA_PATH=" .. quote(lua_path) end
  words[#words + 1] = "REGSH_BIN=" .. quote(bin)
  words[#words + 1] = quote(bin) .. " /usr/bin/busted --ignore-lua -o TAP"
  words[#words + 1] = "--helper=tests/helper.lua"
  if m.filter then words[#words + 1] = "--filter=" .. quote(m.filter) end
  for _, spec in ipairs(m.specs) do words[#words + 1] = quote(spec) end
  return "cd " .. quote(root) .. " && " .. table.concat(words, " ")
         .. " >" .. quote(work .. "/spec.log") .. " 2>&1"
end

local caught, survived, broken = 0, {}, {}
for n, m in ipairs(selected) do
  local path = copy .. "/" .. m.file
  local original = read(path)
  local mutated, why_stale = mutate_text(original, m)
  local verdict
  if not mutated then
    verdict = "STALE (" .. why_stale .. ")"
    broken[#broken + 1] = m.name
  else
    -- lua/ and policies/ load from the copy through REGSH_LUA_PATH (the
    -- policy specs find policies/ next to it): no rebuild
    local lua_mutant = is_lua_mutant(m)
    if not lua_mutant then prepare_c_build() end
    write(path, mutated)
    local failed
    if lua_mutant then
      failed = not run(spec_command(build .. "/regsh", m, copy .. "/lua"))
    elseif build_copy() then
      failed = not run(spec_command(copy_build .. "/regsh", m, nil))
    else
      failed = true -- a mutant that does not compile is caught by the build
    end
    write(path, original)
    if failed then
      caught = caught + 1
      verdict = "caught"
    else
      verdict = "SURVIVED"
      survived[#survived + 1] = m.name
    end
  end
  print(string.format("[%d/%d] %-40s %s", n, #selected, m.name, verdict))
  io.stdout:flush()
end
if copy_built then assert(build_copy(), "mutate: the unmutated copy no longer builds") end
if os.getenv("MUTATE_KEEP") then print("mutate: kept " .. work) else must("rm -rf " .. quote(work)) end

print(string.format("mutate: %d of %d mutants caught", caught, #selected))
for _, name in ipairs(survived) do print("mutate: survived: " .. name) end
for _, name in ipairs(broken) do print("mutate: stale: " .. name) end
os.exit((#survived == 0 and #broken == 0) and 0 or 1)
