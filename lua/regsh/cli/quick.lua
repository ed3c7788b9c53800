-- regsh.cli.quick: the command line of a plain invocation, parsed without
-- lua-argparse (whose loading costs a one-line command more than its
-- request). A command's configure() runs against a recorder with argparse's
-- builder methods; parse() then reads argv for the plain cases only: every
-- declared argument once, `--name value`, `--name=value`, `-x value`, flags.
-- Anything else (help, a bundle like -vq, a repeated flag, a bad value, an
-- unknown flag, a declaration it does not know) returns nil, and argparse
-- parses the line: its result and its messages stay the one truth, and a
-- spec checks that both agree wherever this one answers.
local M = {}

-- Declarations answer any method name (an unknown one marks them
-- unsupported), so their own fields are read raw.
local field = rawget

local Declaration = {}

-- argparse's default target: the first long alias ("--max-pages" ->
-- max_pages), else the first alias without its dash
local function target_of(aliases)
  for _, alias in ipairs(aliases) do
    if alias:sub(1, 2) == "--" then return (alias:sub(3):gsub("-", "_")) end
  end
  return (aliases[1]:gsub("^%-+", ""):gsub("-", "_"))
end

-- A declared option, flag or argument: the builder methods a command may
-- chain; one this parser does not know makes the command unsupported.
local Item = {}
Item.__index = function(_, method)
  if Item[method] then return Item[method] end
  return function(self)
    rawset(field(self, "owner"), "unsupported", method)
    return self
  end
end
function Item:argname() return self end
function Item:choices(list) rawset(self, "choice_list", list) return self end
function Item:default(value) rawset(self, "default_value", value) return self end
function Item:target(name) rawset(self, "target_name", name) return self end
function Item:convert(f) rawset(self, "converter", f) return self end

local function declare(self, kind, name, _, default, convert, extra)
  local item = setmetatable({owner = self, kind = kind, default_value = default,
                             converter = convert}, Item)
  if extra ~= nil then rawset(self, "unsupported", kind .. " with args or count") end
  if kind == "argument" then
    if default ~= nil then rawset(self, "unsupported", "argument with a default") end
    rawset(item, "target_name", name)
    local arguments = field(self, "arguments")
    arguments[#arguments + 1] = item
    return item
  end
  local aliases, by_alias = {}, field(self, "by_alias")
  for alias in name:gmatch("%S+") do
    aliases[#aliases + 1] = alias
    by_alias[alias] = item
  end
  rawset(item, "default_target", target_of(aliases))
  if kind == "flag" and (default ~= nil or convert ~= nil) then
    rawset(self, "unsupported", "flag with a default")
  end
  local items = field(self, "items")
  items[#items + 1] = item
  return item
end

function Declaration:option(...) return declare(self, "option", ...) end
function Declaration:flag(...) return declare(self, "flag", ...) end
function Declaration:argument(...) return declare(self, "argument", ...) end
function Declaration:description() return self end
function Declaration:epilog() return self end

local declaration_meta = {
  __index = function(self, method)
    if Declaration[method] then return Declaration[method] end
    return function()
      rawset(self, "unsupported", method)
      return self
    end
  end,
}

--- declare(spec) -> the recorded declaration of a command (configure() run
--- against the recorder, plus the -v/-q flags cli.lua adds to every command).
function M.declare(spec)
  local d = setmetatable({items = {}, arguments = {}, by_alias = {}}, declaration_meta)
  if spec.configure then spec.configure(d) end
  d:flag("-v --verbose")
  d:flag("-q --quiet")
  return d
end

-- value converted and checked as argparse would, or nil when argparse
-- should speak (its message for a bad value)
local function accept(item, value)
  local choices, convert = field(item, "choice_list"), field(item, "converter")
  if choices then
    local ok = false
    for _, c in ipairs(choices) do ok = ok or c == value end
    if not ok then return nil end
  end
  if convert then return convert(value) end
  return value
end

--- parse(spec, argv) -> args | nil. argv[1] is the command; args is what
--- argparse's pparse gives for the same line, or nil for argparse to parse.
function M.parse(spec, argv)
  local d = M.declare(spec)
  if field(d, "unsupported") then return nil end
  local name = argv[1]
  local args, seen, positional = {command = name, [name] = true}, {}, {}
  local i, n, only_positional = 2, #argv, false
  while i <= n do
    local word = argv[i]
    if only_positional or word == "-" or word:sub(1, 1) ~= "-" then
      positional[#positional + 1] = word
    elseif word == "--" then
      only_positional = true
    else
      local alias, value = word:match("^(%-%-[^=]+)=(.*)$")
      alias = alias or word
      local item = field(d, "by_alias")[alias]
      -- "-ojson", "-vq", "--help", an unknown flag, twice: argparse's call
      if not item or seen[item] then return nil end
      seen[item] = true
      local target = field(item, "target_name") or field(item, "default_target")
      if field(item, "kind") == "flag" then
        if value then return nil end
        args[target] = true
      else
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil or (value:sub(1, 1) == "-" and value ~= "-") then return nil end
        end
        local converted = accept(item, value)
        if converted == nil then return nil end
        args[target] = converted
      end
    end
    i = i + 1
  end
  local arguments = field(d, "arguments")
  if #positional ~= #arguments then return nil end
  for k, item in ipairs(arguments) do
    local value = accept(item, positional[k])
    if value == nil then return nil end
    args[field(item, "target_name")] = value
  end
  for _, item in ipairs(field(d, "items")) do
    local default = field(item, "default_value")
    if not seen[item] and default ~= nil then
      args[field(item, "target_name") or field(item, "default_target")] = default
    end
  end
  return args
end

return M
