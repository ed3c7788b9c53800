-- tests/support/tmux.lua: drive a program on a real terminal (a tmux pane on
-- a private tmux server) and read the screen as a user sees it, redraws
-- applied. Waits poll the pane until the text appears, under a generous limit,
-- so a loaded machine is slower but not flaky.
local cmd = require "support.cmd"

local M = {}

M.TIMEOUT = tonumber(os.getenv("REGSH_TMUX_TIMEOUT") or "") or 60   -- seconds

local Session = {}
Session.__index = Session

local function tmux(socket, args)
  return cmd.sh("tmux -L " .. cmd.quote(socket) .. " " .. args)
end

--- start(argv, env) -> session: argv on a fresh 160x50 terminal, with env.
function M.start(argv, env)
  local socket = string.format("regsh-spec-%d-%d", require("support.registry").pid(),
    math.random(1, 1e9))
  local words = {"env"}
  for k, v in pairs(env or {}) do words[#words + 1] = cmd.quote(k .. "=" .. v) end
  for _, a in ipairs(argv) do words[#words + 1] = cmd.quote(a) end
  -- remain-on-exit keeps the pane (and its last screen) after the program ends
  local _, status, err = tmux(socket, "-f /dev/null new-session -d -s main -x 160 -y 50 "
    .. cmd.quote(table.concat(words, " ")) .. " \\; set-option -t main remain-on-exit on")
  assert(status == 0, "tmux did not start: " .. err)
  return setmetatable({socket = socket}, Session)
end

--- The screen now (visible lines and scrollback), trailing blank lines cut
--- (a prompt's trailing space kept).
function Session:screen()
  local out = tmux(self.socket, "capture-pane -p -J -S -200 -t main")
  local lines = {}
  for line in (out .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  while #lines > 0 and not lines[#lines]:find("%S") and lines[#lines] ~= "> "
    and lines[#lines] ~= ">> " do
    lines[#lines] = nil
  end
  return table.concat(lines, "\n")
end

--- Type keys (tmux key names: "Enter", "Tab", "C-c", "C-d", "C-r"); text
--- given with literal = true is typed as is.
function Session:send(keys, literal)
  local _, status, err = tmux(self.socket, "send-keys -t main " .. (literal and "-l " or "")
    .. cmd.quote(keys))
  assert(status == 0, "tmux send-keys: " .. err)
end

--- Type a line of text and Enter.
function Session:line(text)
  self:send(text, true)
  self:send("Enter")
end

local function count(s, text)
  local n, i = 0, 1
  while true do
    local at = s:find(text, i, true)
    if not at then return n end
    n, i = n + 1, at + #text
  end
end

--- Wait until text shows on the screen (at least n times); returns the
--- screen, raises with it when the limit passes.
function Session:wait_for(text, n)
  n = n or 1
  local deadline = os.time() + M.TIMEOUT
  local screen
  repeat
    screen = self:screen()
    if count(screen, text) >= n then return screen end
    cmd.sh("sleep 0.1")
  until os.time() > deadline
  error(string.format("never saw %q (%d times) on the screen:\n%s", text, n, screen), 2)
end

--- Whether the program in the pane has ended.
function Session:dead()
  local out = tmux(self.socket, "display-message -p -t main '#{pane_dead}'")
  return out:match("1") ~= nil
end

--- Wait for the program to end.
function Session:wait_exit()
  local deadline = os.time() + M.TIMEOUT
  while not self:dead() do
    if os.time() > deadline then error("the program did not end:\n" .. self:screen(), 2) end
    cmd.sh("sleep 0.1")
  end
end

--- Stop the tmux server (and the program, if still running).
function Session:close()
  tmux(self.socket, "kill-server")
end

return M
