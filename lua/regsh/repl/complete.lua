-- regsh.repl.complete: Tab's candidates. src/repl.c hands over the line up to
-- the cursor and the word under it; this answers with full replacements for
-- the word: globals, fields and methods (`reg:ta` -> `reg:tags(`),
-- repository names and tags of an open registry inside a call's string
-- argument (listed once per session), file names inside other strings.
local M = {}

-- client -> {repositories = names, tags = {[repo] = names}}: a session cache
local cache = setmetatable({}, {__mode = "k"})

local function is_client(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "regsh.registry"
end

local function common_prefix(list)
  local prefix = list[1] or ""
  for i = 2, #list do
    local s = list[i]
    local n = 0
    while n < #prefix and n < #s and prefix:byte(n + 1) == s:byte(n + 1) do n = n + 1 end
    prefix = prefix:sub(1, n)
  end
  return prefix
end

-- the value a dotted path names (`regsh.registry`, `reg`), or nil; no
-- __index runs but for plain tables' metatables' tables (methods)
local function lookup(path)
  local value = _G
  for name in path:gmatch("[^.:]+") do
    if type(value) ~= "table" then return nil end
    local v = rawget(value, name)
    if v == nil then
      local mt = getmetatable(value)
      if type(mt) == "table" and type(mt.__index) == "table" then v = rawget(mt.__index, name) end
    end
    value = v
  end
  return value
end

-- every key of t (and of the table its metatable's __index is) starting with prefix
local function keys_of(t, prefix, methods_only, out)
  local seen = {}
  local function add(tbl)
    for k, v in pairs(tbl) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and k:sub(1, #prefix) == prefix
        and not seen[k] and (not methods_only or type(v) == "function")
        and not (methods_only and k:match("^__")) then
        seen[k] = true
        out[#out + 1] = {k, v}
      end
    end
  end
  if type(t) == "table" then add(t) end
  local mt = getmetatable(t)
  if type(mt) == "table" and type(mt.__index) == "table" then add(mt.__index) end
  return out
end

local function sorted(list)
  table.sort(list)
  list.prefix = common_prefix(list)
  return list
end

local function registry_names(reg, repo)
  local c = cache[reg]
  if not c then c = {tags = {}}; cache[reg] = c end
  if repo == nil then
    if not c.repositories then c.repositories = reg:repositories() or {} end
    return c.repositories
  end
  if not c.tags[repo] then
    local names = {}
    for _, t in ipairs(reg:tags(repo) or {}) do names[#names + 1] = t.name end
    c.tags[repo] = names
  end
  return c.tags[repo]
end

-- inside `reg:tags("ap` or `reg:manifest("app", "v`: names from the registry
local function registry_candidates(before, word)
  local obj, method, args = before:match("([%a_][%w_.]*):([%a_][%w_]*)%s*%((.-)[\"'][^\"']*$")
  if not obj then return nil end
  local reg = lookup(obj)
  if not is_client(reg) then return nil end
  local names
  local first = args:match("^%s*[\"']([^\"']*)[\"']%s*,%s*$")
  if args:match("^%s*$") then
    if method == "repositories" or method == "each_repository" then return nil end
    names = registry_names(reg, nil)
  elseif first then
    names = registry_names(reg, first)
  else
    return nil
  end
  local out = {}
  for _, n in ipairs(names) do
    if n:sub(1, #word) == word then out[#out + 1] = n end
  end
  return sorted(out)
end

local function file_candidates(word)
  local dir, base = word:match("^(.*/)([^/]*)$")
  dir, base = dir or "", base or word
  local names = require("regsh.fs").readdir(dir == "" and "." or dir) or {}
  local out = {}
  for _, name in ipairs(names) do
    if name:sub(1, #base) == base and (base:sub(1, 1) == "." or name:sub(1, 1) ~= ".") then
      out[#out + 1] = dir .. name
    end
  end
  return sorted(out)
end

--- complete(line_before_cursor, word) -> candidates (each a full
--- replacement of word) with .prefix, their common prefix.
function M.complete(before, word)
  local quotes = select(2, before:gsub("[\"']", ""))
  if quotes % 2 == 1 then  -- inside a string
    local ok, names = pcall(registry_candidates, before, word)
    if ok and names then return names end
    return file_candidates(word)
  end
  local path, sep, partial = word:match("^(.-)([.:])([%a_]?[%w_]*)$")
  local out = {}
  if path and path ~= "" then
    local value = lookup(path)
    for _, kv in ipairs(keys_of(value, partial, sep == ":", {})) do
      local k, v = kv[1], kv[2]
      out[#out + 1] = path .. sep .. k .. (type(v) == "function" and sep == ":" and "(" or "")
    end
  else
    for _, kv in ipairs(keys_of(_G, word, false, {})) do out[#out + 1] = kv[1] end
    for _, kw in ipairs{"and", "break", "elseif", "else", "end", "false", "for", "function",
                        "if", "local", "nil", "not", "repeat", "return", "then", "true",
                        "until", "while"} do
      if kw:sub(1, #word) == word and #word > 0 then out[#out + 1] = kw end
    end
  end
  return sorted(out)
end

return M
