-- A typing session (each keystroke answered before the next) leaves no cancel of a request
-- the server already answered: no "Cannot find request with id" in Neovim's LSP log or its
-- notifications, no "unknown message id" in the server's log.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local notified = {}
  vim.notify = function(message) table.insert(notified, message) end
  local server_log = vim.fn.tempname() .. "-server.log"
  plugin.setup({ cmd = H.cmd_logging_to(server_log), debounce_ms = 10, init_options = H.init_options })
  H.edit(H.file, 6)
  local client = plugin.client(0)
  local keys = { "o" }
  for char in ("    print(path)"):gmatch(".") do
    table.insert(keys, char)
  end
  for _, key in ipairs(keys) do
    local before = H.stats(client).counts.requests or 0
    vim.api.nvim_input(key)
    H.wait("the answer after " .. key, function()
      return (H.stats(client).counts.requests or 0) > before and H.pending(client) == 0
    end)
  end
  vim.api.nvim_input("<Esc>")
  local stats = H.stats(client)
  if (stats.counts.requests or 0) < 10 then
    error("expected a request per keystroke, the server counted " .. vim.inspect(stats.counts))
  end
  local lsp_log = H.read(vim.lsp.log.get_filename())
  local own_log = H.read(server_log)
  if not own_log:find("INFO", 1, true) then
    error("the server's log file is empty or missing: " .. server_log)
  end
  local problems = {
    H.lines_with(lsp_log, "Cannot find request", "Neovim's LSP log"),
    H.lines_with(own_log, "unknown message id", "the server's log"),
    H.lines_with(table.concat(notified, "\n"), "request", "the notifications"),
  }
  if table.concat(problems) ~= "" then
    error(table.concat(problems))
  end
end)
