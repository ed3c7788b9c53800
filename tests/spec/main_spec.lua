-- The regsh command line (src/main.c, src/repl.c, lua/regsh/cli/): lua.c
-- compatibility, subcommand dispatch, exit statuses, the REPL.
local cmd = require "support.cmd"

local tmpfile = cmd.temp_file

describe("regsh command line #disk", function()
  it("prints versions of regsh and the libraries it embeds", function()
    local out, status = cmd.regsh({"--version"})
    assert.equal(0, status)
    assert.matches("^regsh %d+%.%d+%.%d+ %(Lua 5%.4%.%d+, libcurl %d+%.%d+%.%d+, libuv %d+%.%d+%.%d+, libyaml %d+%.%d+%.%d+%)\n$", out)
    assert.equal(out, (cmd.regsh({"-v"})))
  end)

  it("runs a script with arg and ... as lua does", function()
    local script = tmpfile("print(arg[0] == ..., select('#', ...), ...)\nprint(arg[1], arg[2], arg[-1] ~= nil)\n")
    local out, status = cmd.regsh({script, "a", "b c"})
    os.remove(script)
    assert.equal(0, status)
    assert.equal("false\t2\ta\tb c\na\tb c\ttrue\n", out)
  end)

  it("runs -e chunks and -l libraries in order", function()
    local out, status = cmd.regsh({"-l", "j=regsh.json", "-e", "print(type(j.encode))", "-e", "print(2^10)"})
    assert.equal(0, status)
    assert.equal("function\n1024.0\n", out)
  end)

  it("reads the script from stdin with -", function()
    local out, status = cmd.regsh({"-", "x"}, "print('stdin', ...)")
    assert.equal(0, status)
    assert.equal("stdin\tx\n", out)
  end)

  it("has the regsh facade as a global", function()
    local out = cmd.regsh({"-e", "print(type(regsh), regsh.version == require('regsh.core.host').version)"})
    assert.equal("table\ttrue\n", out)
  end)

  it("exits 2 with a usage message on an unknown flag", function()
    local out, status, err = cmd.regsh({"--frobnicate"})
    assert.equal(2, status)
    assert.equal("", out)
    assert.matches("unrecognized option '%-%-frobnicate'", err)
    assert.not_matches("traceback", err)
  end)

  it("exits 2 when -e has no argument", function()
    local _, status, err = cmd.regsh({"-e"})
    assert.equal(2, status)
    assert.matches("'%-e' needs an argument", err)
  end)

  it("exits 1 naming a missing script file", function()
    local _, status, err = cmd.regsh({"/nonexistent/script.lua"})
    assert.equal(1, status)
    assert.equal("regsh: cannot open /nonexistent/script.lua: No such file or directory\n", err)
  end)

  it("exits 1 with the line of a syntax error and no traceback", function()
    local script = tmpfile("local x = = 1\n")
    local _, status, err = cmd.regsh({script})
    os.remove(script)
    assert.equal(1, status)
    assert.matches(":1: unexpected symbol near '='", err)
    assert.not_matches("traceback", err)
  end)

  it("exits 1 with message and traceback on a runtime error", function()
    local _, status, err = cmd.regsh({"-e", "local function f() error('deep') end f()"})
    assert.equal(1, status)
    assert.matches("^regsh: %(command line%):1: deep\nstack traceback:", err)
  end)

  it("dispatches subcommands and lists them in help", function()
    local out, status = cmd.regsh({"help"})
    assert.equal(0, status)
    assert.matches("completion", out)
    assert.matches("Usage: regsh", out)
  end)

  it("gives subcommand usage errors exit status 2", function()
    local _, status, err = cmd.regsh({"completion", "tcsh"})
    assert.equal(2, status)
    assert.matches("regsh completion: argument 'shell' must be one of 'bash', 'zsh', 'fish'", err)
    _, status, err = cmd.regsh({"completion", "--nope"})
    assert.equal(2, status)
    assert.matches("unknown option '%-%-nope'", err)
  end)

  it("prints completion scripts for bash, zsh and fish", function()
    local bash = cmd.regsh({"completion", "bash"})
    assert.matches("complete %-F _regsh", bash)
    assert.matches("completion", bash)
    assert.matches("#compdef regsh", (cmd.regsh({"completion", "zsh"})))
    assert.matches("complete %-c regsh", (cmd.regsh({"completion", "fish"})))
  end)

  it("treats a path that is not a command name as a script", function()
    local _, status, err = cmd.regsh({"./help"})
    assert.equal(1, status)
    assert.matches("cannot open ./help", err)
  end)
end)

describe("regsh -E and output errors", function()
  it("-E ignores LUA_PATH and LUA_CPATH", function()
    local env = {LUA_PATH = "/nonexistent/?.lua", LUA_CPATH = "/nonexistent/?.so"}
    local out = cmd.regsh({"-e", "print(package.path) print(package.cpath)"}, nil, env)
    assert.matches("^/nonexistent/%?%.lua\n/nonexistent/%?%.so\n$", out)
    out = cmd.regsh({"-E", "-e", "print(package.path) print(package.cpath)"}, nil, env)
    assert.not_matches("nonexistent", out)
    assert.matches("/usr/share/lua/5.4/", out)
  end)

  for _, args in ipairs({{"-e", "print(('x'):rep(100000))"}, {"-e", "io.write('x') os.exit(0)"}, {"help"}}) do
    it("exits 1 with one line when standard output cannot be written: " .. table.concat(args, " "), function()
      local _, status, err = cmd.sh(cmd.quote(cmd.bin) .. " " .. cmd.quote(args[1])
        .. (args[2] and " " .. cmd.quote(args[2]) or "") .. " > /dev/full")
      assert.equal(1, status)
      assert.equal("regsh: error writing standard output: No space left on device\n", err)
    end)
  end
end)

describe("the REPL", function()
  it("prints expression values and keeps locals across lines of one chunk", function()
    local input = "1 + 1\n{a = 1, 'x'}\nfunction f(n)\n  return n * 2\nend\nf(21)\n"
    local out, status = cmd.regsh({"-e", "_PROMPT = '' _PROMPT2 = ''", "-i"}, input)
    assert.equal(0, status)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^regsh ", lines[1])  -- -i shows the version first, as lua -i does
    assert.equal("2", lines[2])
    assert.equal("{", lines[3])
    assert.equal('  "x",', lines[4])
    assert.equal("  a = 1,", lines[5])
    assert.equal("}", lines[6])
    assert.equal("42", lines[7])
  end)

  it("reports an error and carries on", function()
    local out, _, err = cmd.regsh({"repl"}, "error('oops')\nprint('still here')\n")
    assert.matches("oops", err)
    assert.matches("still here", out)
  end)

  -- on a terminal (a pty driven by tests/support/pty_session.py): input comes
  -- through the loop, so tasks run while the prompt waits
  local function session(steps, args)
    local words = {"NO_COLOR=1", "python3", "tests/support/pty_session.py"}  -- plain values
    for _, step in ipairs(steps) do words[#words + 1] = cmd.quote(step) end
    words[#words + 1] = "--"
    words[#words + 1] = cmd.quote(cmd.bin)
    for _, a in ipairs(args or {}) do words[#words + 1] = cmd.quote(a) end
    return cmd.sh(table.concat(words, " "))
  end

  it("runs a task spawned at the prompt while the prompt waits", function()
    local out, status = session({"expect:> ",
      'send:regsh.spawn(function() regsh.sleep(0.1) print("ti" .. "ck") end)\n',
      "expect:tick", "send:\\x04"})
    assert.matches("> tick\r?\n", out)  -- printed at the waiting prompt
    assert.equal(0, status)
  end)

  it("drops the typed line on Ctrl-C at the prompt and interrupts running code", function()
    local out, status = session({"expect:> ", "send:abc\\x03", "expect:> ",
      -- "running" (not its echo) shows the chunk runs: Ctrl-C is not at the prompt
      'send:print("run" .. "ning") while true do end\n', "expect:running",
      "send:\\x03", "expect:interrupted!",
      "expect:> ", "send:1 + 1\n", "expect:2", "send:\\x04"})
    assert.matches("interrupted!", out)
    assert.matches("\n2\r?\n", out)  -- the session went on
    assert.equal(0, status)
  end)

  it("ends with status 143 on SIGTERM at the prompt", function()
    local _, status = session({"expect:> ", "signal:TERM"})
    assert.equal(143, status)
  end)
end)

describe("regsh options documented in docs/reference/cli.md", function()
  it("prints its usage with --help, exit 0, and runs nothing after it", function()
    local out, status, err = cmd.regsh({"--help", "-e", "print('ran')"})
    assert.equal(0, status, err)
    assert.matches("^usage: regsh %[options%] %[script %[args%]%]\n", out)
    for _, option in ipairs{"-e stat", "-l mod", "-E ", "-W ", "--help", "-- "} do
      assert.matches("\n  " .. option, out, 1, true)
    end
    assert.is_nil(out:find("ran", 1, true))
  end)

  it("prints one command's help with `help COMMAND`, the same as COMMAND --help", function()
    local out, status, err = cmd.regsh({"help", "ls"})
    assert.equal(0, status, err)
    assert.matches("^Usage: regsh ls ", out)
    assert.matches("List the tags of a repository.", out, 1, true)
    assert.equal(out, (cmd.regsh({"ls", "--help"})))
    local _, bad, bad_err = cmd.regsh({"help", "nosuchcommand"})
    assert.equal(2, bad, bad_err)
    assert.matches("nosuchcommand", bad_err, 1, true)
  end)

  it("runs LUA_INIT first, and not with -E", function()
    local env = {LUA_INIT = "print('init ran')"}
    assert.equal("init ran\nchunk\n", (cmd.regsh({"-e", "print('chunk')"}, nil, env)))
    assert.equal("chunk\n", (cmd.regsh({"-E", "-e", "print('chunk')"}, nil, env)))
    local file = tmpfile("print('init file ran')")
    env = {LUA_INIT_5_4 = "@" .. file, LUA_INIT = "print('not this one')"}
    assert.equal("init file ran\n", (cmd.regsh({"-e", ""}, nil, env)))
    os.remove(file)
  end)

  it("turns warnings on with -W", function()
    local _, status, err = cmd.regsh({"-e", "warn('quiet one')"})
    assert.equal(0, status, err)
    assert.equal("", err)
    _, status, err = cmd.regsh({"-W", "-e", "warn('loud one')"})
    assert.equal(0, status, err)
    assert.equal("Lua warning: loud one\n", err)
  end)

  it("stops handling options at --: what follows is the script and its arguments", function()
    local script = tmpfile("print(...)")
    local out, status, err = cmd.regsh({"-e", "io.write('first ')", "--", script, "-e", "--help"})
    os.remove(script)
    assert.equal(0, status, err)
    assert.equal("first -e\t--help\n", out)
  end)
end)
