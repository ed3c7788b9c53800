-- regsh.registry.listing: paginated lists (the catalog, a repository's tags,
-- ACR's _tags and _manifests). Follows the Link header to the end, absolute
-- or relative, on the registry's own origin only (else EPROTO); `null` lists
-- are empty; a registry that hands out the same page twice (acr-cli #221) or
-- an empty page ends the walk instead of looping; a walk longer than
-- max_pages pages or max_entries entries fails with ETOOBIG (a registry
-- handing out fresh next pages forever cannot run it forever).
local url = require "regsh.registry.url"

local M = {}

--- A pager: each call returns the next page's array of items, nil at the end,
--- or nil, err, code. spec: path (first page, with query), key (the array's
--- field), scopes, what, missing (code for a 404: "ENOTFOUND" or "ENOTSUP"),
--- max_pages and max_entries (the bounds of the walk; nil: none).
function M.pager(transport, spec)
  local next_url = spec.path
  local seen = {}
  local pages, entries = 0, 0
  return function()
    local current = next_url
    if not current or seen[current] then return nil end
    if spec.max_pages and pages >= spec.max_pages then
      return transport:fail("ETOOBIG", string.format("%s: the listing has more than %d pages "
        .. "(max_pages)", spec.what, spec.max_pages))
    end
    pages = pages + 1
    seen[current] = true
    local res, err, code = transport:request({method = "GET", url = current, scopes = spec.scopes,
      what = spec.what, headers = spec.headers})
    if not res then return nil, err, code end
    -- the same page may come back under its absolute URL
    if res.url and res.url ~= "" then seen[res.url] = true end
    if res.status == 404 and spec.missing == "ENOTSUP" then
      return transport:fail("ENOTSUP", string.format(
        "%s: listing is not supported by %s (HTTP 404)", spec.what, transport.host))
    end
    if res.status ~= 200 then return transport:status_error(res, spec.what, "list") end
    local body
    body, err, code = transport:decode_json(res, spec.what)
    if not body then return nil, err, code end
    res.body = nil  -- the page's text is garbage now: only its items are kept
    local items = body[spec.key]
    if type(items) ~= "table" then items = {} end  -- absent or null: nothing (more) here
    entries = entries + #items
    if spec.max_entries and entries > spec.max_entries then
      return transport:fail("ETOOBIG", string.format("%s: the listing has more than %d entries "
        .. "(max_entries)", spec.what, spec.max_entries))
    end
    local links = url.parse_link(table.concat(transport.http.header_values(res, "link"), ", "))
    next_url = nil
    if links.next and #items > 0 then
      local page_url = (res.url and res.url ~= "") and res.url or url.resolve(transport.base_url
        .. "/v2/", current)
      next_url = url.resolve(page_url, links.next)
      -- a page elsewhere could extend or cut the listing (plain HTTP, a third party)
      if url.origin(next_url) ~= url.origin(transport.base_url) then
        return transport:fail("EPROTO", string.format(
          "%s: the registry's next page is on another origin (%s): only %s is followed",
          spec.what, url.origin(next_url) or next_url, url.origin(transport.base_url)))
      end
    end
    return items
  end
end

--- Every item of every page, in order, into one array (filtered by keep).
function M.collect(pager, keep)
  local all = {}
  while true do
    local page, err, code = pager()
    if not page then
      if err then return nil, err, code end
      return all
    end
    for _, item in ipairs(page) do
      if not keep or keep(item) then all[#all + 1] = item end
    end
  end
end

--- An iterator over the items, fetching a page when the previous one is used
--- up; raises the fail message ("CODE: detail") when a page fails.
function M.each(pager, keep)
  local items, i = {}, 0
  return function()
    while true do
      i = i + 1
      local item = items[i]
      if item ~= nil then
        if not keep or keep(item) then return item end
      else
        local page, err = pager()
        if not page then
          if err then error(err, 0) end
          return nil
        end
        items, i = page, 0
      end
    end
  end
end

--- The first-page path with n=page_size when one is set.
function M.first_path(path, page_size, extra)
  local query = {}
  if page_size then query[#query + 1] = {"n", page_size} end
  for _, pair in ipairs(extra or {}) do query[#query + 1] = pair end
  return url.add_query(path, url.query(query))
end

return M
