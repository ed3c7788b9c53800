-- regsh.fs: files, directories, atomic writes, removal, stat, terminals
-- (echo off and back on Ctrl-C, on a real pseudo-terminal).
local fs = require "regsh.fs"
local cmd = require "support.cmd"

local OCTAL_600, OCTAL_700 = tonumber("600", 8), tonumber("700", 8)

describe("regsh.fs", function()
  local dir

  before_each(function() dir = assert(fs.temp_dir("fs-spec")) end)
  after_each(function() assert(fs.remove_tree(dir)) end)

  it("makes private temporary directories under $TMPDIR", function()
    local inner = assert(fs.temp_dir())
    assert.matches("^/tmp/regsh%.", inner)
    assert.equal(OCTAL_700, fs.stat(inner).mode)
    assert(fs.remove_tree(inner))
    local out, status = cmd.regsh({"-e", "print(regsh.fs.temp_dir('x'))"}, nil, {TMPDIR = dir})
    assert.equal(0, status)
    assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/x%.%w+\n$", out)
    assert.has_error(function() fs.temp_dir("a/b") end)
  end)

  it("writes atomically with the mode asked for, replacing a file", function()
    local path = dir .. "/config.json"
    assert(fs.write_atomic(path, "old"))
    assert.equal(tonumber("644", 8), fs.stat(path).mode)
    assert(fs.write_atomic(path, "new\0binary", OCTAL_600))
    assert.equal("new\0binary", fs.read_file(path))
    assert.equal(OCTAL_600, fs.stat(path).mode)
    assert.same({"config.json"}, fs.readdir(dir))  -- no temporary file left behind
    assert(fs.write_atomic(path, ""))
    assert.equal("", fs.read_file(path))
  end)

  it("fails to write where it cannot, leaving nothing behind", function()
    local ok, err, code = fs.write_atomic(dir .. "/no/such/dir/f", "x")
    assert.is_nil(ok)
    assert.equal("ENOENT", code)
    assert.equal("ENOENT: " .. dir .. "/no/such/dir/f: no such file or directory", err)
    assert(fs.mkdir(dir .. "/target"))
    ok, err, code = fs.write_atomic(dir .. "/target", "x")  -- a directory is in the way
    assert.is_nil(ok)
    assert.equal("EISDIR", code, err)
    assert.same({"target"}, fs.readdir(dir))
    assert.has_error(function() fs.write_atomic(dir .. "/f", "x", -1) end)
    assert.has_error(function() fs.write_atomic(dir .. "/f", nil) end)
  end)

  it("makes parents like mkdir -p, with the mode, and refuses a file in the way", function()
    assert(fs.mkdir(dir .. "/a/b/c/", OCTAL_700))
    assert.equal("directory", fs.stat(dir .. "/a/b/c").type)
    assert.equal(OCTAL_700, fs.stat(dir .. "/a/b").mode)
    assert(fs.write_atomic(dir .. "/file", "x"))
    local ok, err, code = fs.mkdir(dir .. "/file/sub")
    assert.is_nil(ok)
    assert.equal("EEXIST", code)
    assert.equal("EEXIST: " .. dir .. "/file: exists and is not a directory", err)
  end)

  it("removes trees without following links, and says why it cannot", function()
    local outside = assert(fs.temp_dir("fs-spec-outside"))
    assert(fs.write_atomic(outside .. "/keep", "precious"))
    assert(fs.mkdir(dir .. "/t/sub"))
    assert(fs.write_atomic(dir .. "/t/sub/f", "x"))
    assert(os.execute("ln -s " .. outside .. " " .. dir .. "/t/link"))
    assert.equal("link", fs.lstat(dir .. "/t/link").type)
    assert.equal("directory", fs.stat(dir .. "/t/link").type)
    assert(fs.remove_tree(dir .. "/t"))
    assert.is_nil(fs.lstat(dir .. "/t"))
    assert.equal("precious", fs.read_file(outside .. "/keep"))
    assert(fs.remove_tree(outside))
    assert(fs.write_atomic(dir .. "/file", "x"))
    local ok, err, code = fs.remove_tree(dir .. "/file/x")  -- a file where a directory should be
    assert.is_nil(ok)
    assert.equal("ENOTDIR", code, err)
    ok, err, code = fs.remove(dir .. "/missing")
    assert.is_nil(ok)
    assert.equal("ENOENT", code, err)
  end)

  it("names the path and errno in read and stat failures", function()
    local data, err, code = fs.read_file(dir)
    assert.is_nil(data)
    assert.equal("EISDIR", code)
    assert.equal("EISDIR: " .. dir .. ": illegal operation on a directory", err)
    data, err, code = fs.stat(dir .. "/x/y")
    assert.is_nil(data)
    assert.equal("ENOENT", code)
    assert.equal("ENOENT: " .. dir .. "/x/y: no such file or directory", err)
    data, err, code = fs.readdir(dir .. "/missing")
    assert.equal("ENOENT", code, err)
    assert.has_error(function() fs.read_file(nil) end)
    assert.has_error(function() fs.stat(false) end)
  end)

  it("tells terminals from pipes and files", function()
    local f = assert(io.open(dir .. "/plain", "w"))
    assert.is_false(fs.isatty(f))
    local _, _, code = fs.echo_off(f)
    assert.equal("ENOTTY", code)
    f:close()
    assert.has_error(function() fs.isatty(f) end)  -- a closed file
    assert.has_error(function() fs.isatty("stdin") end)
    local out = cmd.sh("script -qec " .. cmd.quote(cmd.bin
      .. " -e 'print(regsh.fs.isatty(io.stdin), regsh.fs.echo(io.stdin))'") .. " /dev/null")
    assert.matches("true\ttrue", out, 1, true)
  end)
end)

describe("regsh login on a terminal", function()
  -- tests/support/pty_prompt.py runs the command on a pseudo-terminal,
  -- answers the user name, and sends SIGINT once regsh waits at the password
  -- prompt; it reports the terminal's ECHO flag at each prompt and afterwards
  local function run_at_prompt(answers)
    local words = {"python3", "tests/support/pty_prompt.py"}
    for _, a in ipairs(answers) do words[#words + 1] = cmd.quote(a) end
    words[#words + 1] = "--"
    words[#words + 1] = cmd.quote(cmd.bin)
    -- port 1: nothing listens, and nothing is reached before the password
    words[#words + 1] = "login 127.0.0.1:1"
    local out, status, err = cmd.sh(table.concat(words, " "))
    assert.equal(0, status, err)
    return require("regsh.json").decode(out)
  end

  it("turns echo off for the password and back on when interrupted there", function()
    local r = run_at_prompt({"Username: =carol", "Password: =^C"})
    assert.is_true(r.echo_at["Username: "])
    assert.is_false(r.echo_at["Password: "])
    assert.is_true(r.echo_after, r.output)
    assert.equal(130, r.status, r.output)  -- interrupted at once, not killed at the deadline
    assert.matches("regsh login: interrupted", r.output, 1, true)
  end)

  it("turns echo back on after a password is typed", function()
    local r = run_at_prompt({"Username: =carol", "Password: =secret-pw"})
    assert.is_false(r.echo_at["Password: "])
    assert.is_true(r.echo_after)
    assert.is_nil(r.output:find("secret-pw", 1, true))
    assert.matches("ECONNREFUSED", r.output, 1, true)
  end)
end)
