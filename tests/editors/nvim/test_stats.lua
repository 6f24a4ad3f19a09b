-- :CopilotLsp stats shows a readable table: its rows, "-" where the server has measured
-- nothing yet (never vim.NIL), and the numbers of a real session once it has one.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  plugin.setup({ cmd = H.cmd, debounce_ms = 10, init_options = H.init_options })
  H.edit(H.file, 6)

  local function stats_shown()
    vim.cmd("messages clear")
    vim.cmd("CopilotLsp stats")
    return H.wait(":CopilotLsp stats output", function()
      local output = vim.api.nvim_exec2("messages", { output = true }).output
      return output:find("requests", 1, true) and output
    end, 10000)
  end
  local function has(output, pattern, what)
    if not output:find(pattern) then
      error(("%s: no line matches %q in\n%s"):format(what, pattern, output), 2)
    end
  end
  local function check(output, when)
    if output:find("vim.NIL", 1, true) or output:find("{", 1, true) then
      error(when .. ": a raw table, not the readable one:\n" .. output)
    end
    for _, label in ipairs({ "requests", "latency ms", "cache hits", "tokens", "acceptance" }) do
      has(output, "\n?" .. label .. " ", when .. ", row " .. label)
    end
  end

  -- A fresh server: no answers, so no rates (null in copilot/stats) and no routes.
  local fresh = stats_shown()
  check(fresh, "before any completion")
  has(fresh, "requests%s+0 since start, 0 in the window", "no requests yet")
  has(fresh, "cache hits%s+typing %-, stream %-, memory %-, disk %-", "rates of nothing")
  has(fresh, "acceptance%s+%- %(nothing shown yet%)", "no acceptance yet")

  -- A suggestion shown and accepted.
  vim.api.nvim_input("o")
  H.settled("ghost text", function() return require("copilot_lsp.ghost").text(0) end)
  vim.api.nvim_input("<Tab>")
  local after = H.wait("the accept counted", function()
    local output = stats_shown()
    return output:find("python [%d.]+%% of %d+ shown %(1 accepted") and output
  end)
  check(after, "after a session")
  has(after, "requests%s+%d+ since start, %d+ in the window", "request counts")
  has(after, "\n  local%s+[%d.]+%s+[%d.]+%s+%d+", "the model's latency row (p50, p95, n)")
  has(after, "cache hits%s+typing [%d.]+%%, stream [%d.]+%%, memory [%d.]+%%, disk [%d.]+%%", "hit rates")
  has(after, "tokens%s+prompt [1-9]%d* %(%d+ reused%), generated [1-9]%d*", "tokens")
end)
