-- Typing the first character of the suggestion shrinks it at once, client-side; and every
-- keystroke cancels the request in flight.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local ghost = require("copilot_lsp.ghost")
  plugin.setup({ cmd = H.cmd, debounce_ms = 10, init_options = H.init_options })
  H.edit(H.file, 6)
  vim.api.nvim_input("o")
  local shown = H.settled("ghost text of two characters or more, streamed to its end", function()
    local text = ghost.text(0)
    return text and #text >= 2 and not text:find("\n") and text or nil
  end)
  vim.api.nvim_input(shown:sub(1, 1))
  H.wait("the ghost text shrinks by what was typed", function() return ghost.text(0) == shown:sub(2) end, 2000)

  -- A slow request (no line limit, many tokens), then a key while it runs: it is cancelled.
  plugin.clear(0)
  local client = plugin.client(0)
  client:notify("workspace/didChangeConfiguration", {
    settings = { completion = { max_tokens = 400, max_lines = 0 } },
  })
  vim.api.nvim_input("<Esc>o")
  for char in ("    for item in range(10):"):gmatch(".") do
    vim.api.nvim_input(char) -- each key cancels the request the one before it started
    H.sleep(40)
  end
  local stats
  H.wait("the server saw the cancel", function()
    client:request("copilot/stats", { recent = 0 }, function(_, result) stats = result end, 0)
    H.sleep(50)
    return stats and ((stats.counts.outcome_cancelled or 0) + (stats.counts.cancel_jobs or 0)) > 0
  end, 20000)
end)
