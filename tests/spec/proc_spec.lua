-- regsh.proc (lua/regsh/proc.lua over src/proc.c): argv without a shell,
-- env/cwd/stdin, capture and line streaming, timeouts that kill the whole
-- process group, handles that kill and reap, and the error conventions.
local proc = require "regsh.proc"
local async = require "regsh.async"
local loop = require "regsh.core.loop"

local BIN = "tests/fixtures/bin/"

-- /proc/<pid>/stat state letter, or nil when there is no such process
local function state(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:match("%) (%a)")
end

-- Running, as opposed to gone or a zombie (orphans stay zombies where PID 1
-- does not reap, as in many containers).
local function alive(pid)
  local s = state(pid)
  return s ~= nil and s ~= "Z" and s ~= "X"
end

-- poll for up to two seconds: a killed process takes a moment to go
local function eventually_dead(pid)
  for _ = 1, 100 do
    if not alive(pid) then return true end
    async.sleep(0.02)
  end
  return false
end

local function lines_of(s)
  local t = {}
  for line in s:gmatch("([^\n]*)\n") do t[#t + 1] = line end
  return t
end

describe("regsh.proc #disk", function()
  describe("run", function()
    it("returns a result table for a program that exits 0", function()
      local r = assert(proc.run{"true"})
      assert.is_true(r.ok)
      assert.equal(0, r.code)
      assert.is_nil(r.signal)
      assert.is_false(r.timed_out)
      assert.equal("", r.stdout)
      assert.equal("", r.stderr)
    end)

    it("treats a non-zero exit as a value, not a failure", function()
      local r, err = proc.run{BIN .. "exit-with", "3"}
      assert.is_nil(err)
      assert.is_false(r.ok)
      assert.equal(3, r.code)
      assert.is_nil(r.signal)
      assert.equal("out 3\n", r.stdout)
      assert.equal("err 3\n", r.stderr)
    end)

    it("reports death by a signal by its name, with no exit code", function()
      local r = assert(proc.run{"sh", "-c", "kill -KILL $$"})
      assert.equal("SIGKILL", r.signal)
      assert.is_nil(r.code)
      assert.is_false(r.ok)
    end)

    it("passes arguments as they are, without a shell", function()
      local r = assert(proc.run{"echo", "$HOME", "|", "cat", "*"})
      assert.equal("$HOME | cat *\n", r.stdout)
      -- a command line is just the name of a program that does not exist
      local res, _, code = proc.run{"echo hi"}
      assert.is_nil(res)
      assert.equal("ENOENT", code)
    end)

    it("takes argv from the argv key as well", function()
      local argv = {"printf", "%s-%s", "a", "b"}
      local r = assert(proc.run{argv = argv, cwd = "/"})
      assert.equal("a-b", r.stdout)
    end)

    it("runs /bin/sh -c with shell = true, extra elements as $1...", function()
      local r = assert(proc.run{"echo $((1 + 2)) | tr 3 X", shell = true})
      assert.equal("X\n", r.stdout)
      r = assert(proc.run{'printf "%s," "$0" "$@"', "a b", "c", shell = true})
      assert.equal("sh,a b,c,", r.stdout)
    end)

    it("round-trips stdin through cat, binary and larger than a pipe buffer", function()
      local bytes = {}
      for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
      local data = string.rep(table.concat(bytes), 8192)  -- 2 MiB
      local r = assert(proc.run{"cat", stdin = data})
      assert.is_true(r.ok)
      assert.equal(#data, #r.stdout)
      assert.is_true(r.stdout == data)
    end)

    it("survives a child that exits without reading its stdin", function()
      local r = assert(proc.run{"true", stdin = string.rep("x", 4 * 1024 * 1024)})
      assert.is_true(r.ok)
      local empty = assert(proc.run{"cat", stdin = ""})
      assert.equal("", empty.stdout)
    end)

    it("gives the child /dev/null as stdin by default", function()
      local r = assert(proc.run{"cat"})
      assert.is_true(r.ok)
      assert.equal("", r.stdout)
    end)

    it("replaces the environment with env", function()
      local r = assert(proc.run{"/usr/bin/env", env = {A = "1", B = 2}})
      local got = lines_of(r.stdout)
      table.sort(got)
      assert.same({"A=1", "B=2"}, got)
    end)

    it("lays env over regsh's environment with env_merge, false unsets", function()
      assert.is_not_nil(os.getenv("PATH"))
      local r = assert(proc.run{
        "sh", "-c", 'printf "%s|%s|%s" "${HOME-unset}" "$REGSH_T" "${PATH:+kept}"',
        env = {REGSH_T = "x y", HOME = false}, env_merge = true,
      })
      assert.equal("unset|x y|kept", r.stdout)
    end)

    it("runs in cwd", function()
      assert.equal("/\n", assert(proc.run{"pwd", cwd = "/"}).stdout)
      local r = assert(proc.run{"ls", cwd = "tests/fixtures"})
      assert.matches("\nbin\n", "\n" .. r.stdout)
    end)

    it("captures 5 MB of output whole", function()
      local r = assert(proc.run{"head", "-c", "5000000", "/dev/zero"})
      assert.is_true(r.ok)
      assert.equal(5000000, #r.stdout)
      assert.is_false(r.stdout_truncated)
    end)

    it("truncates captured output at max_output and flags it", function()
      local r = assert(proc.run{
        "sh", "-c", "head -c 300000 /dev/zero; head -c 10 /dev/zero >&2",
        max_output = 1000,
      })
      assert.is_true(r.ok)  -- the child was not blocked or killed
      assert.equal(1000, #r.stdout)
      assert.is_true(r.stdout_truncated)
      assert.equal(10, #r.stderr)
      assert.is_false(r.stderr_truncated)
    end)

    it("sends stdout and stderr where stdout, stderr ask", function()
      local r = assert(proc.run{BIN .. "exit-with", "0", stderr = "stdout"})
      assert.equal("out 0\nerr 0\n", r.stdout)
      assert.is_nil(r.stderr)
      r = assert(proc.run{BIN .. "exit-with", "0", stdout = "null"})
      assert.is_nil(r.stdout)
      assert.equal("err 0\n", r.stderr)
      r = assert(proc.run{BIN .. "exit-with", "0", stdout = "null", stderr = "stdout"})
      assert.is_nil(r.stdout)
      assert.is_nil(r.stderr)
    end)

    it("blocks the main chunk while tasks keep running", function()
      local ticks = 0
      async.spawn(function()
        for _ = 1, 3 do async.sleep(0.02); ticks = ticks + 1 end
      end)
      assert(proc.run{"sleep", "0.2"})
      assert.equal(3, ticks)
    end)
  end)

  describe("line streaming", function()
    it("calls on_stdout and on_stderr line by line, in order", function()
      local events = {}
      local r = assert(proc.run{
        "sh", "-c", "echo one; sleep 0.1; echo two >&2; sleep 0.1; printf 'three'",
        on_stdout = function(line) events[#events + 1] = "out " .. line end,
        on_stderr = function(line) events[#events + 1] = "err " .. line end,
      })
      assert.is_true(r.ok)
      -- the last line had no newline and still counts; streamed output is
      -- not captured as well
      assert.same({"out one", "err two", "out three"}, events)
      assert.is_nil(r.stdout)
      assert.is_nil(r.stderr)
    end)

    it("pauses a fast child while the callback is slow, losing nothing", function()
      local marker = os.tmpname()
      os.remove(marker)
      local n, expect, finished_early = 0, 1, nil
      local r = assert(proc.run{'seq 1 600000; touch "$1"', marker, shell = true,
                                on_stdout = function(line)
        if n == 0 then
          async.sleep(0.3)  -- without backpressure seq would be done by now
          finished_early = io.open(marker) ~= nil
        end
        if tonumber(line) == expect then expect = expect + 1 end
        n = n + 1
      end})
      os.remove(marker)
      assert.is_true(r.ok)
      assert.is_false(finished_early)
      assert.equal(600000, n)
      assert.equal(600001, expect)
    end)

    it("delivers the last lines when the process ends during a callback", function()
      local got = {}
      assert(proc.run{"sh", "-c", "echo a; sleep 0.05; echo b; echo c", on_stdout = function(line)
        if line == "a" then async.sleep(0.3) end  -- b, c and the exit come meanwhile
        got[#got + 1] = line
      end})
      assert.same({"a", "b", "c"}, got)
    end)

    it("cuts a line longer than 1 MiB into pieces", function()
      local pieces = {}
      assert(proc.run{"sh", "-c", "head -c 3000000 /dev/zero | tr '\\000' x",
                      on_stdout = function(line) pieces[#pieces + 1] = #line end})
      local total = 0
      for _, len in ipairs(pieces) do
        total = total + len
        assert.is_true(len <= 1024 * 1024 + 64 * 1024)
      end
      assert.equal(3000000, total)
      assert.is_true(#pieces >= 3)
    end)

    it("streams stdout while capturing stderr", function()
      local got = {}
      local r = assert(proc.run{BIN .. "exit-with", "4", on_stdout = function(l) got[#got + 1] = l end})
      assert.same({"out 4"}, got)
      assert.equal("err 4\n", r.stderr)
      assert.equal(4, r.code)
    end)

    it("stops the process when a callback raises", function()
      local pid
      local ok, err = pcall(proc.run, {"sh", "-c", "echo $$; exec sleep 30", on_stdout = function(line)
        pid = tonumber(line)
        error("enough")
      end})
      assert.is_false(ok)
      assert.matches("enough", err)
      assert.is_nil(state(pid))  -- killed and reaped, not even a zombie
    end)
  end)

  describe("timeouts", function()
    it("kill the whole process group, not just the leader", function()
      local start = loop.monotonic()
      local r = assert(proc.run{
        "sh", "-c", "sleep 30 & echo $!; sleep 30 & echo $!; wait",
        timeout = 0.3, grace = 10,  -- the SIGTERM alone must do it
      })
      assert.is_true(r.timed_out)
      assert.is_false(r.ok)
      assert.equal("SIGTERM", r.signal)
      local pids = lines_of(r.stdout)
      assert.equal(2, #pids)
      -- sh does not pass SIGTERM on: only a signal to the group reaches these
      for _, pid in ipairs(pids) do assert.is_true(eventually_dead(pid)) end
      assert.is_true(loop.monotonic() - start < 3)
    end)

    it("follow SIGTERM with SIGKILL after the grace period", function()
      local start = loop.monotonic()
      local r = assert(proc.run{BIN .. "ignore-term", timeout = 0.2, grace = 0.3})
      local elapsed = loop.monotonic() - start
      assert.is_true(r.timed_out)
      assert.equal("SIGKILL", r.signal)
      assert.is_true(elapsed >= 0.45, "elapsed " .. elapsed)
      assert.is_true(elapsed < 3, "elapsed " .. elapsed)
    end)

    it("do not touch a process that ends in time", function()
      local r = assert(proc.run{"sleep", "0.05", timeout = 5})
      assert.is_false(r.timed_out)
      assert.is_true(r.ok)
    end)
  end)

  describe("spawn handles", function()
    it("wait, pid, kill and close", function()
      local p = assert(proc.spawn{"sleep", "30"})
      assert.equal("integer", math.type(p:pid()))
      assert.equal("regsh.proc (pid " .. p:pid() .. ")", tostring(p))
      assert.is_true(alive(p:pid()))
      assert.is_true(p:kill())
      local r = p:wait()
      assert.equal("SIGTERM", r.signal)
      assert.equal(r, p:wait())  -- the same table again
      local res, msg, code = p:kill()
      assert.is_nil(res)
      assert.equal("ESRCH", code)
      assert.matches("^ESRCH: ", msg)
      assert.is_true(p:close())
      assert.is_true(p:close())  -- idempotent
      assert.equal("regsh.proc (closed)", tostring(p))
      assert.has_error(function() p:pid() end, "attempt to use a closed process")
      assert.has_error(function() p:wait() end, "attempt to use a closed process")
    end)

    it("kill signals the group, by name or number", function()
      local file = os.tmpname()
      local p = assert(proc.spawn{'sleep 30 & echo $! > "$1"; wait', file, shell = true})
      local child
      while not child do  -- the background sleep's pid, once sh has written it
        async.sleep(0.02)
        local f = io.open(file)
        child = f and tonumber(f:read("a"))
        if f then f:close() end
      end
      os.remove(file)
      assert.is_true(alive(child))
      assert.is_true(p:kill(9))
      assert.equal("SIGKILL", p:wait().signal)
      assert.is_true(eventually_dead(child))
      p:close()
    end)

    it("are killed and reaped when closed by <close>", function()
      local pid
      do
        local p <close> = assert(proc.spawn{"sleep", "30"})
        pid = p:pid()
        assert.is_true(alive(pid))
      end
      assert.is_nil(state(pid))  -- reaped: not even a zombie is left
    end)

    it("are killed when the script ends without waiting", function()
      local self_exe = assert(proc.run{"sh", "-c", "readlink /proc/$PPID/exe"}).stdout
      local bin = os.getenv("REGSH_BIN") or self_exe:gsub("\n$", "")
      local r = assert(proc.run{bin, "-e", 'print(regsh.proc.spawn{"sleep", "30"}:pid())'})
      assert.is_true(r.ok, r.stderr)
      local pid = assert(tonumber(r.stdout))
      assert.is_nil(state(pid))
    end)

    it("outlive their handle and the script when detached", function()
      local pid
      do
        local p <close> = assert(proc.spawn{"sleep", "30", detached = true,
                                            stdout = "null", stderr = "null"})
        pid = p:pid()
      end
      assert.is_true(alive(pid))
      os.execute("kill -9 " .. pid)
      local self_exe = assert(proc.run{"sh", "-c", "readlink /proc/$PPID/exe"}).stdout
      local bin = os.getenv("REGSH_BIN") or self_exe:gsub("\n$", "")
      local r = assert(proc.run{bin, "-e", 'print(regsh.proc.spawn{"sleep", "30", detached = true,'
        .. ' stdout = "null", stderr = "null"}:pid())'})
      assert.is_true(r.ok, r.stderr)
      pid = assert(tonumber(r.stdout))
      assert.is_true(alive(pid))   -- its regsh has ended, it has not
      os.execute("kill -9 " .. pid)
      -- while the handle is open, wait and kill work as for any child
      local p <close> = assert(proc.spawn{"sleep", "30", detached = true})
      assert.is_true(p:kill("SIGKILL"))
      assert.equal("SIGKILL", p:wait().signal)
    end)

    it("run concurrently from tasks", function()
      local start = loop.monotonic()
      local tasks = {}
      for i = 1, 10 do
        tasks[i] = async.spawn(function()
          return assert(proc.run{"sleep", "0.3"}).ok
        end)
      end
      local results = {async.wait(table.unpack(tasks))}
      assert.equal(10, #results)
      for i = 1, 10 do assert.is_true(results[i]) end
      -- ten 0.3 s sleeps one after another would take 3 s
      assert.is_true(loop.monotonic() - start < 2.5)
    end)

    it("refuse a second concurrent wait", function()
      local p <close> = assert(proc.spawn{"sleep", "0.2"})
      local t = async.spawn(function() return p:wait() end)
      async.sleep(0.05)
      assert.has_error(function() p:wait() end, "process is already being waited for")
      assert.is_true(t:wait().ok)
    end)

    it("are stopped when the task waiting on them is cancelled", function()
      local pid
      local t = async.spawn(function()
        return proc.run{"sh", "-c", "echo $$; exec sleep 30",
                        on_stdout = function(line) pid = tonumber(line) end}
      end)
      while not pid do async.sleep(0.02) end
      assert.is_true(t:cancel())
      local ok, err = pcall(t.wait, t)
      assert.is_false(ok)
      assert.equal(async.cancelled, err)
      assert.equal("cancelled", t.status)
      assert.is_nil(state(pid))
    end)
  end)

  it("leaves no file descriptor behind", function()
    -- regsh's open files as its child sees them, socket numbers left out;
    -- the sleep lets regsh first close its copies of this child's own ends
    local function open_files()
      return assert(proc.run{
        "sh", "-c", "sleep 0.2; ls -l /proc/$PPID/fd | sed -e 's/.* -> //' -e 's/socket:.*/socket/'",
      }).stdout
    end
    local before = open_files()
    for _ = 1, 5 do
      assert(proc.run{"cat", stdin = string.rep("x", 500000)})
      assert(proc.run{"true", stdin = string.rep("x", 500000), stderr = "stdout"})
      assert(proc.run{"sleep", "5", timeout = 0.01})
      assert(proc.run{"echo", "x", on_stdout = function() end})
      proc.run{"no-such-program"}
      proc.run{"pwd", cwd = "/nonexistent"}
      local sleeper <close> = assert(proc.spawn{"sleep", "5", stdin = "x"})
      assert.is_true(alive(sleeper:pid()))
    end
    assert.equal(before, open_files())
  end)

  describe("errors", function()
    it("returns the fail tuple for a program that does not exist", function()
      local r, msg, code = proc.run{"regsh-no-such-program", "x"}
      assert.is_nil(r)
      assert.equal("ENOENT", code)
      assert.equal("ENOENT: cannot run 'regsh-no-such-program': no such file or directory", msg)
      local p, _, code2 = proc.spawn{"/nonexistent/prog"}
      assert.is_nil(p)
      assert.equal("ENOENT", code2)
    end)

    it("returns EACCES for a file that is not executable", function()
      local r, msg, code = proc.run{BIN .. "not-executable"}
      assert.is_nil(r)
      assert.equal("EACCES", code)
      assert.matches("^EACCES: cannot run '.*not%-executable'", msg)
    end)

    it("names the working directory when it is the problem", function()
      local r, msg, code = proc.run{"pwd", cwd = "/nonexistent/dir"}
      assert.is_nil(r)
      assert.equal("ENOENT", code)
      assert.equal("ENOENT: cannot run 'pwd' in directory '/nonexistent/dir': "
                   .. "no such file or directory", msg)
      local _, _, code2 = proc.run{"pwd", cwd = BIN .. "exit-with"}
      assert.equal("ENOTDIR", code2)
    end)

    it("raises on misuse", function()
      assert.has_error(function() proc.run("ls") end,
        "bad argument #1 to 'run' (table expected, got string)")
      assert.has_error(function() proc.spawn(nil) end,
        "bad argument #1 to 'spawn' (table expected, got nil)")
      assert.has_error(function() proc.run{} end, "argv must not be empty")
      assert.has_error(function() proc.run{"ls", {}} end, "argv[2] must be a string, got table")
      assert.has_error(function() proc.run{"ls", nil, "x"} end, "argv must be a list without holes")
      assert.has_error(function() proc.run{"ls", [1.5] = "x"} end)
      assert.has_error(function() proc.run{"ls", "a\0b"} end, "argv[2] contains a zero byte")
      assert.has_error(function() proc.run{"ls", {"ls"}, argv = {"ls"}} end)
      assert.has_error(function() proc.run{"ls", bogus = 1} end, "unknown option 'bogus'")
      assert.has_error(function() proc.run{"ls", timeout = "soon"} end)
      assert.has_error(function() proc.run{"ls", timeout = 0} end,
        "option 'timeout' must be a positive number of seconds")
      assert.has_error(function() proc.run{"ls", grace = -1} end)
      assert.has_error(function() proc.run{"ls", max_output = -1} end)
      assert.has_error(function() proc.run{"ls", cwd = 1} end)
      assert.has_error(function() proc.run{"ls", stdin = true} end)
      assert.has_error(function() proc.run{"ls", env = "A=1"} end)
      assert.has_error(function() proc.run{"ls", env = {"A=1"}} end)
      assert.has_error(function() proc.run{"ls", env = {["A=B"] = "x"}} end)
      assert.has_error(function() proc.run{"ls", env = {A = {}}} end)
      assert.has_error(function() proc.run{"ls", on_stdout = "print"} end)
      assert.has_error(function() proc.run{"ls", stdout = "file"} end)
      assert.has_error(function() proc.run{"ls", stdout = "stdout"} end)
      assert.has_error(function() proc.run{"ls", stdout = "null", on_stdout = print} end)
      local p <close> = assert(proc.spawn{"sleep", "5"})
      assert.has_error(function() p:kill("SIGBOGUS") end)
      assert.has_error(function() p:kill(0) end)
    end)

    it("checks every option before it starts anything", function()
      -- the program would leave a file behind; a bad option late in the
      -- list (an env value, a mode) must stop it before it starts
      local marker = os.tmpname()
      os.remove(marker)
      local argv = {"sh", "-c", "echo ran > " .. marker}
      assert.has_error(function()
        proc.run{argv = argv, timeout = 5, env = {A = {}}}
      end, "env value of 'A' must be a string or false, got table")
      assert.has_error(function()
        proc.run{argv = argv, stdin = "x", stderr = "file"}
      end)
      assert.is_nil(io.open(marker))
      assert(proc.run{argv = argv})  -- the same run, well formed, does start
      local f = assert(io.open(marker))
      assert.equal("ran\n", f:read("a"))
      f:close()
      os.remove(marker)
    end)
  end)
end)
