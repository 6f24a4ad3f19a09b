-- :CopilotLsp stats: the server's copilot/stats answer as a few aligned lines. What the server
-- has not measured yet comes as JSON null (vim.NIL in Lua) or not at all: shown as "-".
local M = {}

local LABEL = "%-16s"
local CACHE_LEVELS = { "typing", "stream", "memory", "disk" } -- cheapest first, as the server tries them

--- The value at ``keys`` inside ``t``; nil where a level is missing, not a table, or null.
local function get(t, ...)
  for _, key in ipairs({ ... }) do
    if type(t) ~= "table" then
      return nil
    end
    t = t[key]
  end
  if t == vim.NIL then
    return nil
  end
  return t
end

local function num(value, format)
  return type(value) == "number" and (format or "%d"):format(value) or "-"
end

local function pct(value)
  return type(value) == "number" and ("%.1f%%"):format(value * 100) or "-"
end

-- Counters the server has not incremented yet are absent from its counts: they are 0.
local function count(counts, key)
  if type(counts) ~= "table" then
    return "-"
  end
  return num(get(counts, key) or 0)
end

local function row(label, text)
  return (LABEL):format(label) .. text
end

local function sorted_keys(t)
  local keys = vim.tbl_keys(type(t) == "table" and t or {})
  table.sort(keys)
  return keys
end

--- The lines of the table for a copilot/stats result (nil or {} while the server starts).
---@param stats table|nil
---@return string[]
function M.lines(stats)
  if type(stats) ~= "table" or next(stats) == nil then
    return { "copilot-lsp: no statistics yet (the server is still starting)" }
  end
  local counts = get(stats, "counts")
  local window = get(stats, "window")
  local lines = {}
  local requests = ("%s since start, %s in the window"):format(count(counts, "requests"), num(get(window, "requests")))
  table.insert(lines, row("requests", requests))

  table.insert(lines, row("latency ms", ("%8s %8s %6s"):format("p50", "p95", "n")))
  local routes = get(window, "route_ms")
  for _, route in ipairs(sorted_keys(routes)) do
    local q = get(routes, route)
    local values = ("%8s %8s %6s"):format(num(get(q, "p50"), "%.1f"), num(get(q, "p95"), "%.1f"), num(get(q, "n")))
    table.insert(lines, row("  " .. route, values))
  end
  if #sorted_keys(routes) == 0 then
    table.insert(lines, row("  (no answers)", ("%8s %8s %6s"):format("-", "-", "-")))
  end

  local hits = {}
  for _, level in ipairs(CACHE_LEVELS) do
    table.insert(hits, level .. " " .. pct(get(window, "cache_hit_rate", level)))
  end
  table.insert(lines, row("cache hits", table.concat(hits, ", ")))

  local tokens = ("prompt %s (%s reused), generated %s, drafted %s (%s kept)"):format(
    count(counts, "tokens_prompt"),
    count(counts, "tokens_reused"),
    count(counts, "tokens_generated"),
    count(counts, "tokens_drafted"),
    count(counts, "tokens_draft_accepted")
  )
  table.insert(lines, row("tokens", tokens))

  local languages = get(stats, "acceptance", "language")
  local label = "acceptance"
  for _, language in ipairs(sorted_keys(languages)) do
    local a = get(languages, language)
    local text = ("%s %s of %s shown (%s accepted, %s partly, %s dismissed)"):format(
      language,
      pct(get(a, "rate")),
      num(get(a, "shown")),
      num(get(a, "accepted")),
      num(get(a, "partial")),
      num(get(a, "dismissed"))
    )
    table.insert(lines, row(label, text))
    label = ""
  end
  if label ~= "" then
    table.insert(lines, row(label, "- (nothing shown yet)"))
  end

  -- Cost only matters once a remote model is priced: then what routing saved.
  local all_remote = get(stats, "cost", "all_remote")
  if type(all_remote) == "number" and all_remote > 0 then
    local cost = ("spent %s, all remote %s, saving %s"):format(
      num(get(stats, "cost", "spent"), "%.4f"),
      num(all_remote, "%.4f"),
      pct(get(stats, "cost", "saving"))
    )
    table.insert(lines, row("cost", cost))
  end
  for _, alert in ipairs(get(stats, "alerts") or {}) do
    table.insert(lines, row("ALERT", tostring(alert)))
  end
  return lines
end

return M
