-- The shared cron vectors (tests/fixtures/cron/vectors.json, gathered from
-- the test suites of cronie's peers; ../shared/reference/cron.md §9), run
-- against regsh.schedule.cron in the dialect each vector's rules match.
--
-- IN: 5-field and seconds-first 6-field expressions in UTC or a named zone;
-- numbers, names, lists, ranges, steps (N/step too), 7 as Sunday, macros.
-- Day rule: a vector whose answer depends on it (both day fields restricted)
-- runs in the dialect with that rule: domdow:and -> acr (NCrontab's AND),
-- domdow:vixie-star and domdow:or without a '*'-led day field -> vixie.
-- Every other `next` vector runs in vixie, and in acr too when its syntax is
-- ACR's (5 fields, no macro, no 7). DST vectors: cronsim's only, the one
-- suite that follows Debian/cronie, the rule regsh implements.
--
-- OUT, and why:
--   ext:question ext:L ext:W ext:hash croniter-L-prefix L-in-range dow:1=Sunday:
--     Quartz extensions that neither cronie nor NCrontab (ACR) reads;
--   fields:6-sec-last seconds-last fields:6-year-last fields:7-sec-first-year-last
--     year: other field layouts (regsh's sixth field is seconds, first);
--   reversed-range wraparound-range: regsh refuses a reversed range instead
--     of guessing (cronie sets nothing, NCrontab swaps, croniter wraps);
--   domdow:or-unless-star-or-question domdow:or(croniter-default)
--     domdow:vixie-star(gronx) when both day fields are restricted: other
--     day rules (robfig, croniter and gronx count '*/2' differently);
--   dst from robfig, rust-cron, croniter, cron-parser: other DST policies
--     (skip and repeat, or their own), see cron.md §8;
--   lib-quirk known-bug-pinned bounded-search fixed-offset local-time
--     wall-only step-zero nonstandard-macro: one library's behaviour, a
--     bounded search, or a zone that is not an IANA name;
--   invalid vectors that are lib-specific-rejection or mode-dependent, and
--     the few listed in ACCEPTED below: regsh reads them (with a reason).
local cron = require "regsh.schedule.cron"
local json = require "regsh.json"
local time = require "regsh.time"

local function load_vectors()
  local f = assert(io.open("tests/fixtures/cron/vectors.json"))
  local text = f:read("a")
  f:close()
  return assert(json.decode(text))
end

local OUT_TAGS = {}
for tag in ([[ext:question ext:L ext:W ext:hash croniter-L-prefix L-in-range dow:1=Sunday
    fields:6-sec-last seconds-last fields:6-year-last fields:7-sec-first-year-last year
    reversed-range wraparound-range lib-quirk known-bug-pinned bounded-search fixed-offset
    local-time wall-only step-zero nonstandard-macro lib-specific-rejection
    mode-dependent]]):gmatch("%S+") do
  OUT_TAGS[tag] = true
end

-- invalid elsewhere, read by regsh on purpose; or valid elsewhere, refused
local ACCEPTED = {
  ["* * 31 4 *"] = "a day a month lacks never matches (cronie, NCrontab): not an error",
}
local REFUSED = {
  ["1 2,17,51 1-3,6,9-11 4,29 2,3,7 Tues"] = "'Tues' is Rust cron's alias; names are"
    .. " 3 letters (vixie) or prefixes of the full name (acr, which has no seconds)",
}

local function has(v, tag)
  for _, t in ipairs(v.tags) do if t == tag then return true end end
  return false
end

local function excluded(v)
  for _, t in ipairs(v.tags) do if OUT_TAGS[t] then return t end end
  if has(v, "dst") and v.suite ~= "cronsim" then return "dst:" .. v.suite end
  if has(v, "dom+dow-both-restricted") and not (has(v, "domdow:and")
      or has(v, "domdow:vixie-star")
      or (has(v, "domdow:or") and not has(v, "star-prefixed-day-field"))) then
    return "day rule"
  end
  if v.kind == "invalid" and ACCEPTED[v.expr] then return ACCEPTED[v.expr] end
  if v.kind == "valid" and REFUSED[v.expr] then return REFUSED[v.expr] end
  if v.kind == "equivalent" and (v.expr .. v.equivalent_to):find("?", 1, true) then
    return "ext:question"
  end
  return nil
end

-- the dialects a vector runs in
local function dialects(v)
  local five = not (has(v, "seconds") or has(v, "macro") or has(v, "dow7"))
    and select(2, v.expr:gsub("%S+", "")) == 5
  -- vixie reads 3-letter names only (cronie); NCrontab's "SUNDAY", "Augu": acr
  for name in v.expr:gmatch("%a+") do
    if #name ~= 3 then return five and {"acr"} or {} end
  end
  if has(v, "dom+dow-both-restricted") then
    if has(v, "domdow:and") then return five and {"acr"} or {} end
    return {"vixie"}
  end
  return five and {"vixie", "acr"} or {"vixie"}
end

local vectors = load_vectors()

describe("the shared cron vectors", function()
  local counts = {run = 0, out = 0}
  for i, v in ipairs(vectors) do
    local reason = excluded(v)
    if reason then
      counts.out = counts.out + 1
    else
      for _, dialect in ipairs(v.kind == "next" and dialects(v) or {"vixie"}) do
        counts.run = counts.run + 1
        local name = string.format("#%d %s %q (%s, %s, %s)", i, v.kind, v.expr, dialect,
          v.tz or "UTC", v.suite)
        it(name, function()
          local opts = {dialect = dialect, tz = v.tz ~= "UTC" and v.tz or nil}
          if v.kind == "invalid" then
            local c, err, code = cron.parse(v.expr, opts)
            assert.is_nil(c, v.expr)
            assert.equal("ECRON", code)
            assert.matches("^ECRON: [^\n]+$", err)
          elseif v.kind == "valid" then
            assert.truthy(cron.parse(v.expr, opts))
          elseif v.kind == "equivalent" then
            local a = assert(cron.parse(v.expr, opts))
            local b = assert(cron.parse(v.equivalent_to, opts))
            assert.same(a:fields(), b:fields())
          else
            local c = assert(cron.parse(v.expr, opts))
            local start = assert(time.parse_rfc3339(v.start))
            local got = {}
            if v.next_is_not then    -- robfig's negative cases: not this instant
              local t = assert(c:next(start))
              for _, s in ipairs(v.next_is_not) do
                assert.are_not.equal(assert(time.parse_rfc3339(s)), t)
              end
            elseif #v.next == 0 then
              local t, err, code = c:next(start)
              assert.is_nil(t)
              assert.equal("ECRON", code)
              assert.matches("never fires$", err)
            else
              for k, t in ipairs(assert(c:next(start, #v.next))) do got[k] = c:format(t) end
              local want = {}
              for k, s in ipairs(v.next) do want[k] = c:format(assert(time.parse_rfc3339(s))) end
              assert.same(want, got)
            end
          end
        end)
      end
    end
  end

  it("runs most of the file", function()
    -- a filter that drifts to excluding everything must fail
    assert.is_true(counts.run >= 350, "ran " .. counts.run .. ", left out " .. counts.out)
  end)
end)
