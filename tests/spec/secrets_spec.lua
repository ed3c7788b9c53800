-- Secrets given to a task (--set-secret) are masked in every artefact of a
-- run: the console, the stored run log, `task logs`, `-o json`, JSON log
-- lines, and the raw bytes of the store's files; in every form a step may
-- print them: as is, line by line (a multi-line key), base64 (wrapped or
-- not, with or without echo's newline) and base64url.
local cmd = require "support.cmd"
local fs = require "regsh.fs"

-- The forms of text the spec must find nowhere, computed with coreutils
-- (not with the code under test): base64 as `base64` prints it (each line),
-- the whole of it unwrapped, base64url, each line of the text.
local function forbidden_forms(text)
  local forms = {text}
  for line in text:gmatch("[^\n]+") do
    if #line >= 8 then forms[#forms + 1] = line end
  end
  local file = cmd.temp_file(text)
  for _, pipe in ipairs({"base64", "base64 -w0", "base64 -w0 | tr '+/' '-_' | tr -d =",
                         "base64 -w0 | tr -d ="}) do
    local out = assert(cmd.sh("base64_in() { cat " .. cmd.quote(file) .. "; }; base64_in | "
      .. pipe))
    for line in out:gmatch("[^\n]+") do
      if #line >= 8 then forms[#forms + 1] = line end
    end
  end
  os.remove(file)
  return forms
end

local function assert_absent(forms, where, text)
  for _, form in ipairs(forms) do
    local at = text:find(form, 1, true)
    assert(not at, string.format("a secret's form %q is in %s: ...%s...", form, where,
      at and text:sub(math.max(1, at - 40), at + #form + 40) or ""))
  end
end

-- Every file under dir, raw (the SQLite database, its WAL and shm files).
local function raw_files(dir)
  local out = {}
  local listing = assert(cmd.sh("find " .. cmd.quote(dir) .. " -type f"))
  for path in listing:gmatch("[^\n]+") do
    out[path] = cmd.read_file(path)
    -- and what `strings` sees in it
    out[path .. " (strings)"] = assert(cmd.sh("strings -n 6 " .. cmd.quote(path)))
  end
  return out
end

-- A password whose base64 has a '+' and a '/' (so base64url differs), and a
-- multi-line key longer than one 76-column base64 line.
local PASSWORD = "pw>>?>>?" .. "-s3cr3t-Zq9"
local KEY = "-----BEGIN TEST KEY-----\n"
  .. "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\n"
  .. "q9e8rv2o3S2lW1uTs2sMhY9rwmT9YnBvY3Kx5PpcW3cFQ7t9pXlK2dZ0yF4mLp8nR6oTgHs1\n"
  .. "-----END TEST KEY-----"

local TASK = [[
version: v1.1.0
steps:
  - id: plain
    cmd: echo "plain {{.Values.pw}} done"
  - id: b64
    cmd: printf %s '{{.Values.pw}}' | base64
  - id: b64echo
    cmd: echo '{{.Values.pw}}' | base64
  - id: b64url
    cmd: printf %s '{{.Values.pw}}' | base64 -w0 | tr '+/' '-_' | tr -d =; echo
  - id: key
    env: ["KEY={{.Values.key | b64enc}}"]
    cmd: printf '%s\n' "$KEY" | base64 -d; echo
  - id: keyb64
    env: ["KEY={{.Values.key | b64enc}}"]
    cmd: printf '%s' "$KEY" | base64 -d | base64
  - id: stderr
    cmd: sh -c 'echo "to stderr {{.Values.pw}}" >&2'
  - id: long
    cmd: yes '{{.Values.pw}}' | tr -d '\n' | head -c 3040000; echo
  - id: fails
    cmd: sh -c 'echo "failing with {{.Values.pw}}"; exit 3'
    ignoreErrors: true
]]

describe("a secret given with --set-secret", function()
  local state, task_file, forms

  lazy_setup(function()
    state = assert(fs.temp_dir("secrets-spec"))
    task_file = cmd.temp_file(TASK)
    forms = forbidden_forms(PASSWORD)
    for _, f in ipairs(forbidden_forms(KEY)) do forms[#forms + 1] = f end
  end)

  lazy_teardown(function()
    fs.remove_tree(state)
    os.remove(task_file)
  end)

  local function regsh(argv, env)
    local out, status, err = cmd.regsh(argv, nil, env)
    return out, status, err
  end

  it("appears in no artefact of `regsh run`, in any form", function()
    local env = {REGSH_LOG = "debug,json"}
    local out, status, err = regsh({"run", "/dev/null", "-f", task_file, "--executor", "local",
      "--state", state, "--set-secret", "pw=" .. PASSWORD, "--set-secret", "key=" .. KEY,
      "--set", "plain=visible"}, env)
    assert.equal(0, status, err)
    -- the steps ran and printed something masked
    assert.matches("plain | plain ***** done", out, 1, true)
    assert.matches("to stderr *****", out, 1, true)
    assert.matches("failing with *****", out, 1, true)
    -- a line of 160,000 copies, longer than regsh.proc holds: cut (inside a
    -- copy, wherever the cut falls one piece has "pw>>" or "Zq9"), joined
    -- again, masked whole
    assert.equal(19, #PASSWORD)
    assert.matches("long | " .. string.rep("*****", 1000), out, 1, true)
    assert_absent({"pw>>", "Zq9"}, "stdout", out)
    local artefacts = {stdout = out, stderr = err}
    local run_id = assert(out:match("Run ID: (%S+) was successful"), out)
    artefacts["task logs"] = regsh({"task", "logs", run_id, "--state", state}, env)
    artefacts["task list-runs -o json"] = regsh({"task", "list-runs", "-o", "json",
      "--state", state}, env)
    for path, bytes in pairs(raw_files(state)) do artefacts[path] = bytes end
    assert.matches("plain | plain ***** done", artefacts["task logs"], 1, true)
    for where, text in pairs(artefacts) do assert_absent(forms, where, text) end
  end)

  it("is masked in the run's stored error, and in a stored task's artefacts", function()
    local env = {REGSH_LOG = "debug,json"}
    local _, status, err = regsh({"task", "create", "leaky", "--cmd",
      "sh -c \"echo 'echoed {{.Values.pw}}'; exit 4\"", "--executor", "local", "--state", state,
      "--set-secret", "pw=" .. PASSWORD}, env)
    assert.equal(0, status, err)
    local out
    out, status, err = regsh({"task", "run", "leaky", "--state", state}, env)
    assert.equal(1, status, err)
    assert.matches("| echoed *****", out, 1, true)
    local artefacts = {stdout = out, stderr = err}
    artefacts.show = regsh({"task", "show", "leaky", "-o", "json", "--state", state}, env)
    artefacts["show (text)"] = regsh({"task", "show", "leaky", "--state", state}, env)
    assert.matches("echoed *****", artefacts.show, 1, true)
    artefacts.list = regsh({"task", "list", "-o", "json", "--state", state}, env)
    artefacts["list-runs"] = regsh({"task", "list-runs", "-o", "json", "--state", state}, env)
    artefacts.logs = regsh({"task", "logs", "-n", "leaky", "--state", state}, env)
    for where, text in pairs(artefacts) do assert_absent(forms, where, text) end
  end)
end)

describe("the runner's masking", function()
  local task = require "regsh.task"
  local runs = require "regsh.task.runs"
  local store = require "regsh.store"
  local redact = require "regsh.registry.redact"

  it("masks a secret in the run's error and its step's stored error", function()
    local dir = assert(fs.temp_dir("secrets-runner"))
    local st = assert(store.open(dir .. "/state.db"))
    finally(function()
      st:close()
      fs.remove_tree(dir)
    end)
    local t = task.new{name = "erring"}
    t:step{id = "broken", fn = function() return nil, "EXYZ: refused token tok-3141592653" end}
    local lines = {}
    local r = assert(t:run({executor = "local", store = st, secrets = {"tok-3141592653"},
      on_output = function(line) lines[#lines + 1] = line end}))
    assert.equal("Failed", r.status)
    assert.equal("failed to run step ID: broken: refused token *****", r.error)
    local row = assert(runs.get(st, r.id))
    assert.equal("failed to run step ID: broken: refused token *****", row.error)
    assert.equal("refused token *****", row.steps[1].error)
    local text = table.concat(lines, "\n") .. runs.log(st, r.id)
      .. require("regsh.json").encode(row)
    assert.is_nil(text:find("3141592653", 1, true))
    assert.matches("refused token *****", text, 1, true)
  end)

  it("adds the registry credentials an executor resolves for a run", function()
    local ex = assert(require("regsh.task.exec_container").new{binary = "/bin/true"})
    ex.credentials = function() return {username = "bob", password = redact.secret("b0b-pass-77")} end
    local added = {}
    local run = {id = "ca1", secrets = {}, add_secret = function(v) added[#added + 1] = v end}
    local dir = assert(ex:auth_file(run, "127.0.0.1:5000"))
    finally(function() fs.remove_tree(dir:match("^(.*)/auth%-")) end)
    local mask = require("regsh.task.runner").masker(added)
    -- the password, and the Basic credential an engine could echo
    assert.equal("pw=***** basic=*****",
      mask("pw=b0b-pass-77 basic=" .. require("regsh.registry.base64").encode("bob:b0b-pass-77")))
  end)

  it("masks every line of a multi-line secret, its base64 lines and base64url", function()
    local key = "line-one-of-the-key\nline-two-of-the-key\n" .. string.rep("k>>?", 30)
    local mask = require("regsh.task.runner").masker({key})
    assert.equal("a ***** b", mask("a line-two-of-the-key b"))
    local b64 = require("regsh.registry.base64").encode(key)
    assert.equal("*****", mask(b64:sub(1, 76)))
    assert.equal("*****", mask(b64:sub(1, 64)))
    local url = b64:gsub("=+$", ""):gsub("[+/]", {["+"] = "-", ["/"] = "_"})
    assert.is_nil(url:find("[+/]"))
    assert.is_truthy(b64:find("[+/]"))
    assert.equal("x*****x", mask("x" .. url .. "x"))
  end)
end)
