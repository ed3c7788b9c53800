-- Signals (src/loop.c owns them for the whole run): SIGINT and SIGTERM
-- interrupt the running code wherever it is, regsh.on_signal takes a signal
-- over for the whole run (the end-of-script phase included), and the exit
-- statuses say which signal ended a run. No test sleeps to wait: the script
-- under test creates a file when it is ready for the signal.
local cmd = require "support.cmd"

-- Run regsh with args in the background, wait until it creates `ready`,
-- send it the signals, and return stdout, stderr and its exit status.
local function signalled(args, ready, signals)
  local kills = {}
  for _, sig in ipairs(signals) do
    -- "INT+": again and again until it is gone (two kills in a row may merge)
    if sig:sub(-1) == "+" then
      kills[#kills + 1] = "n=0; while kill -" .. sig:sub(1, -2) .. " $pid 2>/dev/null && [ $n -lt 100 ]; "
        .. "do sleep 0.05; n=$((n+1)); done"
    else kills[#kills + 1] = "kill -" .. sig .. " $pid" end
  end
  local words = {}
  for _, a in ipairs(args) do words[#words + 1] = cmd.quote(a) end
  local line = cmd.quote(cmd.bin) .. " " .. table.concat(words, " ") .. " & pid=$!; "
    .. "n=0; while [ ! -e " .. cmd.quote(ready) .. " ] && [ $n -lt 3000 ]; do sleep 0.01; n=$((n+1)); done; "
    .. table.concat(kills, "; ") .. "; wait $pid; echo status=$?"
  local out, _, err = cmd.sh("sh -c " .. cmd.quote(line))
  os.remove(ready)
  local status = tonumber(out:match("status=(%d+)\n$"))
  return out:gsub("status=%d+\n$", ""), err, status
end

local ready_file = cmd.temp_name  -- the child creates it once it is ready

-- Lua that creates the ready file
local function touch(path)
  return "io.open(" .. string.format("%q", path) .. ", 'w'):close()"
end

describe("signals", function()
  it("interrupt a script that computes, with status 130", function()
    local ready = ready_file()
    -- seconds of pure computation (not forever, so that a broken interrupt
    -- fails this test instead of hanging it): the signal stops it midway
    local out, err, status = signalled({"-e", touch(ready)
      .. " for _ = 1, 2e9 do end print('computed to the end')"}, ready, {"INT"})
    assert.equal("", out)
    assert.matches("interrupted!", err)
    assert.equal(130, status)
  end)

  it("interrupt the end-of-script phase", function()
    local ready = ready_file()
    local _, err, status = signalled({"-e",
      "regsh.spawn(function() " .. touch(ready) .. " while true do regsh.sleep(0) end end)"},
      ready, {"INT"})
    assert.matches("interrupted!", err)
    assert.equal(130, status)
  end)

  it("terminate a waiting script with status 143, unwinding it (__gc kills children)", function()
    local ready, pidfile = ready_file(), os.tmpname()
    local script = cmd.temp_file("local p = regsh.proc.spawn{'sleep', '30'}\n"
      .. "local f = io.open(" .. string.format("%q", pidfile) .. ", 'w') f:write(p:pid()) f:close()\n"
      .. touch(ready) .. "\np:wait()\n")
    local _, err, status = signalled({script}, ready, {"TERM"})
    os.remove(script)
    local f = io.open(pidfile)
    local child = f and f:read("n")
    if f then f:close() end
    os.remove(pidfile)
    assert.matches("terminated!", err)
    assert.equal(143, status)
    assert.is_number(child)
    -- the child must be gone (or a zombie awaiting its reaper), not sleeping on
    local state = cmd.sh("ps -o stat= -p " .. child)
    assert.is_true(state == "" or state:match("^Z") ~= nil, "child still running: " .. state)
  end)

  it("raise an error that a script can catch and go on", function()
    local ready = ready_file()
    local out, _, status = signalled({"-e",
      "local ok, e = pcall(function() " .. touch(ready) .. " regsh.sleep(30) end) print(ok, e)"},
      ready, {"INT"})
    assert.equal("false\tinterrupted!\n", out)
    assert.equal(0, status)
  end)

  it("end the process at once on a second SIGINT before the first was raised", function()
    local ready, fifo = ready_file(), os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. cmd.quote(fifo)))
    -- opening a FIFO nobody writes to blocks in C, where no hook can fire
    local _, err, status = signalled({"-e", touch(ready) .. " io.open(" .. string.format("%q", fifo) .. ")"},
      ready, {"INT+"})
    os.remove(fifo)
    assert.equal("", err)  -- no unwinding, no message
    assert.equal(130, status)  -- killed by SIGINT: the shell reports 128+2
  end)
end)

describe("regsh.on_signal", function()
  it("takes SIGTERM over in the end-of-script phase too", function()
    local ready = ready_file()
    local out, err, status = signalled({"-e", [[
      local long = regsh.spawn(function() ]] .. touch(ready) .. [[ regsh.sleep(30) end)
      regsh.on_signal("SIGTERM", function(name) print("handled " .. name); long:cancel() end)
    ]]}, ready, {"TERM"})
    assert.equal("handled SIGTERM\n", out)
    assert.not_matches("terminated", err)
    assert.equal(0, status)
  end)

  it("takes SIGINT over while the main chunk waits", function()
    local ready = ready_file()
    local out, _, status = signalled({"-e", [[
      local done = false
      local w = regsh.on_signal("SIGINT", function() print("got it"); done = true end)
      ]] .. touch(ready) .. [[
      while not done do regsh.sleep(0.01) end
      w.close()
    ]]}, ready, {"INT"})
    assert.equal("got it\n", out)
    assert.equal(0, status)
  end)
end)

describe("subcommands", function()
  -- a server that accepts connections and never answers: the command waits
  local function silent_server(ready)
    local script = cmd.temp_file(table.concat({
      "import socket, sys",
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)",
      "print(s.getsockname()[1], flush=True)",
      "conn, _ = s.accept()",
      "conn.settimeout(30)",
      "open(sys.argv[1], 'w').close()",
      "while conn.recv(65536): pass  # until the client is gone",
    }, "\n"))
    local p = assert(io.popen("python3 " .. cmd.quote(script) .. " " .. cmd.quote(ready), "r"))
    local port = assert(p:read("l"))
    return port, function() p:close(); os.remove(script) end
  end

  for sig, want in pairs({INT = {130, "interrupted"}, TERM = {143, "terminated"}}) do
    it("print one line and exit " .. want[1] .. " on SIG" .. sig, function()
      local ready = ready_file()
      local port, stop = silent_server(ready)
      local out, err, status = signalled({"ls", "127.0.0.1:" .. port .. "/app"}, ready, {sig})
      stop()
      assert.equal("", out)
      assert.equal("regsh ls: " .. want[2] .. "\n", err)
      assert.equal(want[1], status)
    end)
  end
end)
