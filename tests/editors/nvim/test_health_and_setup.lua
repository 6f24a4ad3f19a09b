-- setup{} reports each bad option once and keeps the defaults; per-filetype switches and
-- non-file buffers get no server; :checkhealth copilot_lsp reports OK.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local messages = {}
  vim.notify = function(message) table.insert(messages, message) end
  plugin.setup({
    cmd = H.cmd,
    init_options = H.init_options,
    debounce_ms = "fast",
    no_such_option = 1,
    keymaps = { accept = 3 },
    filetypes = { ["*"] = true, markdown = false },
  })
  H.eq(#messages, 3, "one message per bad option: " .. vim.inspect(messages))
  H.eq(plugin.config.debounce_ms, 75, "default kept")
  H.eq(plugin.config.keymaps.accept, "<Tab>", "default keymap kept")

  local notes = H.file:gsub("%.py$", ".md")
  vim.fn.writefile({ "# notes" }, notes)
  vim.cmd.edit(notes)
  H.sleep(300)
  H.eq(plugin.client(0), nil, "markdown is switched off")
  vim.cmd("enew")
  vim.bo.buftype = "nofile"
  vim.bo.filetype = "python"
  H.sleep(300)
  H.eq(plugin.client(0), nil, "a scratch buffer is not a file")

  vim.cmd.edit(H.file)
  H.wait("server", function() return plugin.client(0) end)
  vim.cmd("checkhealth copilot_lsp")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  for _, expected in ipairs({ "OK Neovim", "OK server command", "OK model and cache", "OK connected" }) do
    if not report:find(expected, 1, true) then
      error("checkhealth lacks " .. expected .. ":\n" .. report)
    end
  end
  if report:find("ERROR", 1, true) then
    error("checkhealth reports an error:\n" .. report)
  end

  -- :CopilotLsp status and toggle.
  vim.cmd.edit(H.file)
  local status = vim.api.nvim_exec2("CopilotLsp status", { output = true }).output
  if not status:find("enabled, server running", 1, true) then
    error("status: " .. status)
  end
  vim.cmd("CopilotLsp toggle")
  status = vim.api.nvim_exec2("CopilotLsp status", { output = true }).output
  if not status:find("disabled", 1, true) then
    error("status after toggle: " .. status)
  end
end)
