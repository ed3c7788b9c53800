-- regsh.cli.quick parses plain command lines without lua-argparse: wherever
-- it answers, its answer is argparse's, and it leaves every other line
-- (help, bundles, bad values, unknown flags) to argparse. Checked on every
-- command, with lines made from each command's own declaration.
local cli = require "regsh.cli"
local quick = require "regsh.cli.quick"
local argparse = require "argparse"

-- argparse's answer for argv, as cli.main builds the parser
local function by_argparse(argv)
  local root = argparse("regsh"):command_target("command")
  local spec = cli.load(argv[1])
  local cmd = root:command(argv[1])
  if spec.configure then spec.configure(cmd) end
  cmd:flag("-v --verbose", "")
  cmd:flag("-q --quiet", "")
  local ok, args = root:pparse(argv)
  return ok and args or nil
end

local function line(...)
  local out = {}
  for _, part in ipairs({...}) do
    for _, word in ipairs(part) do out[#out + 1] = word end
  end
  return out
end

-- a value the item accepts
local function value_for(item)
  local choices = rawget(item, "choice_list")
  if choices then return choices[#choices] end
  if rawget(item, "converter") then return "7" end
  return "some-value"
end

describe("regsh.cli.quick", function()
  it("answers as argparse does on lines made from every command's flags", function()
    local answered = 0
    for _, name in ipairs(cli.commands) do
      local d = quick.declare(cli.load(name))
      local positional = {}
      for i in ipairs(rawget(d, "arguments")) do positional[i] = "host.test/repo" .. i end
      local lines = {line({name}, positional), line({name, "--"}, positional)}
      for _, item in ipairs(rawget(d, "items")) do
        for alias in pairs(rawget(d, "by_alias")) do
          if rawget(d, "by_alias")[alias] == item then
            if rawget(item, "kind") == "flag" then
              lines[#lines + 1] = line({name, alias}, positional)
            else
              local v = value_for(item)
              lines[#lines + 1] = line({name}, positional, {alias, v})
              lines[#lines + 1] = line({name, alias, v}, positional)
              if alias:sub(1, 2) == "--" then
                lines[#lines + 1] = line({name}, positional, {alias .. "=" .. v})
              end
            end
          end
        end
      end
      for _, argv in ipairs(lines) do
        local mine = quick.parse(cli.load(name), argv)
        if mine then
          answered = answered + 1
          assert.same(by_argparse(argv), mine, table.concat(argv, " "))
        end
      end
      if rawget(d, "unsupported") then
        assert.is_nil(quick.parse(cli.load(name), lines[1]), name)
      end
    end
    assert.is_true(answered > 100, answered .. " lines answered")
  end)

  it("answers the plain lines of the one-line commands", function()
    for _, argv in ipairs({
      {"digest", "127.0.0.1:5000/app:v1"},
      {"digest", "127.0.0.1:5000/app:v1", "-o", "json", "--ca-file", "/x.pem"},
      {"ls", "127.0.0.1:5000/app", "--digests", "--timeout=3"},
      {"catalog", "127.0.0.1:5000", "-v"},
    }) do
      local args = quick.parse(cli.load(argv[1]), argv)
      assert.is_table(args, table.concat(argv, " "))
      assert.same(by_argparse(argv), args)
    end
  end)

  it("leaves help, bundles, repeats and bad values to argparse", function()
    local spec = cli.load("digest")
    for _, argv in ipairs({
      {"digest", "--help"}, {"digest", "r", "-h"}, {"digest", "r", "-vq"},
      {"digest", "r", "-ojson"}, {"digest", "r", "-v", "-v"}, {"digest", "r", "--nope"},
      {"digest"}, {"digest", "r", "s"}, {"digest", "r", "-o", "yaml"},
      {"digest", "r", "--timeout", "soon"}, {"digest", "r", "--timeout"},
      {"digest", "r", "--insecure=yes"}, {"digest", "r", "--ca-file", "-v"},
    }) do
      assert.is_nil(quick.parse(spec, argv), table.concat(argv, " "))
    end
  end)
end)
