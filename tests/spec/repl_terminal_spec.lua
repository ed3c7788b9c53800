-- The REPL on a real terminal (tests/support/tmux.lua: a tmux pane, the
-- screen read as a user sees it): Tab completion of methods and of a real
-- registry's repository names, multi-line input, the history across two
-- sessions without the secret lines, Ctrl-R, Ctrl-C cancelling a slow request.
local cmd = require "support.cmd"
local tmux = require "support.tmux"
local registry = require "support.registry"
local servers = require "support.servers"
local content = require "support.content"

local function state_dir()
  return (cmd.sh("mktemp -d /tmp/regsh-repl-state.XXXXXX"):gsub("%s+$", ""))
end

local function start(args, env)
  env = env or {}
  env.NO_COLOR = env.NO_COLOR or "1"
  env.XDG_STATE_HOME = env.XDG_STATE_HOME or "/nonexistent"   -- no history in the real home
  local argv = {cmd.bin}
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local s = tmux.start(argv, env)
  s:wait_for("> ")
  return s
end

describe("the REPL on a terminal", function()
  local reg_server, sessions = nil, {}

  local function session(args, env)
    local s = start(args, env)
    sessions[#sessions + 1] = s
    return s
  end

  setup(function()
    reg_server = registry.start()
    local reg = assert(regsh.registry.open(reg_server.host))
    assert(content.push_image(reg, "zebra/alpha", "v1"))
    assert(content.push_image(reg, "zebra/alpha", "v2"))
    assert(content.push_image(reg, "other", "latest"))
  end)

  teardown(function()
    for _, s in ipairs(sessions) do s:close() end
    registry.stop(reg_server)
  end)

  it("completes a method with Tab: reg:ta -> reg:tags, both candidates listed", function()
    local s = session({"repl", "--registry", reg_server.host})
    s:send("reg:ta", true)
    s:send("Tab")
    s:wait_for("> reg:tags")
    s:send("Tab")
    local screen = s:wait_for("reg:tags_of(")
    assert.matches("reg:tags%(%s+reg:tags_of%(", screen)
    s:send("(", true)
    s:send('"zeb', true)
    s:send("Tab")    -- a repository name from the registry, inside the string
    s:wait_for('reg:tags("zebra/alpha')
    s:send('")', true)
    s:send("Enter")
    screen = s:wait_for("v2")
    assert.matches("TAG%s*\n%s*v1%s*\n%s*v2", screen)   -- a tag listing prints as a table
    s:send('reg:head("other", "la', true)
    s:send("Tab")    -- a tag of that repository
    s:wait_for('> reg:head("other", "latest')
    s:send('").size', true)
    s:send("Enter")
    s:wait_for("> ", 4)
    s:send("C-d")
    s:wait_exit()
  end)

  it("asks before :apply deletes, and deletes only on yes", function()
    local reg = assert(regsh.registry.open(reg_server.host))
    assert(content.push_image(reg, "scratch", "dev-1"))
    local s = session({"repl", "--registry", reg_server.host})
    s:line(":plan {filter = {'scratch:^dev-'}, ago = '0d'}")
    s:wait_for("untag   scratch:dev-1")
    s:line(":apply")
    s:wait_for("Delete 1 tags and 0 manifests from " .. reg_server.host .. "? [y/N]")
    s:line("n")
    s:wait_for("nothing deleted")
    assert.equal(1, #assert(reg:tags("scratch")))
    s:line(":apply")
    s:wait_for("[y/N]", 2)
    s:line("y")
    s:wait_for("tags = 1,")
    assert.same({}, assert(reg:tags("scratch")))
    s:send("C-d")
    s:wait_exit()
  end)

  it("continues an incomplete chunk on the next line and runs it whole", function()
    local s = session()
    s:line("function twice(n)")
    s:wait_for(">> ")
    s:line("return n * 2")
    s:wait_for(">> ", 2)
    s:line("end")
    s:wait_for("> ", 4)
    s:line("twice(21)")
    local screen = s:wait_for("42")
    assert.matches("> function twice%(n%)\n>> return n %* 2\n>> end\n> twice%(21%)\n42", screen)
    s:send("C-d")
    s:wait_exit()
  end)

  it("keeps the history across sessions, 0600, without the line that sets a password", function()
    local dir = state_dir()
    local env = {XDG_STATE_HOME = dir}
    local s = session(nil, env)
    s:line('password = "hunter2"')
    s:line("remembered_" .. "value = 7")
    s:line("print('remembered' .. '_line')")
    s:wait_for("remembered_line")
    s:line("print('first' .. ' session done')")
    s:wait_for("first session done")
    s:send("C-d")
    s:wait_exit()
    local history = cmd.read_file(dir .. "/regsh/history")
    assert.is_nil(history:find("hunter2", 1, true))
    assert.truthy(history:find("remembered_value", 1, true))
    local mode = cmd.sh("stat -c %a " .. cmd.quote(dir .. "/regsh/history"))
    assert.equal("600", (mode:gsub("%s+$", "")))
    -- the second session: Up brings back the last line, Ctrl-R finds an older one
    s = session(nil, env)
    s:send("Up")
    s:wait_for("> print('first' .. ' session done')")
    s:send("C-u")
    s:send("rememb", true)
    s:send("C-r")     -- the latest line holding the typed text
    s:wait_for("> print('remembered' .. '_line')")
    s:send("Enter")   -- runs the line found: print('remembered' .. '_line')
    s:wait_for("remembered_line")
    s:line("=remembered_" .. "value + 1")   -- a global of the first session: unset here
    s:wait_for("attempt to perform arithmetic on a nil value")
    s:send("Up")
    s:send("Up")
    s:send("Up")
    s:send("Up")
    local screen = s:screen()
    assert.is_nil(screen:find("hunter2", 1, true))
    s:send("C-c")
    s:send("C-d")
    s:wait_exit()
    cmd.sh("rm -rf " .. cmd.quote(dir))
  end)

  it("cancels a slow request with Ctrl-C and gives the prompt back", function()
    local server = servers.start_python("http_server.py")
    local s = session()
    s:line('r, e = regsh.http.get("' .. server.url .. '/hang")')
    s:wait_for("> r, e = regsh.http.get")
    s:send("C-c")
    s:wait_for("interrupted")
    s:line("print('after ' .. 'the cancel')")
    local screen = s:wait_for("after the cancel")
    assert.matches("interrupted", screen)
    s:send("C-d")
    s:wait_exit()
    servers.stop(server)
  end)
end)
