-- The ghost text is redrawn on each streamed partial: several texts show while one request runs.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local ghost = require("copilot_lsp.ghost")
  local options = vim.deepcopy(H.init_options)
  options.completion.max_tokens = 300
  options.completion.max_lines = 0
  plugin.setup({ cmd = H.cmd, debounce_ms = 0, init_options = options })
  H.edit(H.file, 3)
  H.wait("server", function() return plugin.client(0) end)
  local seen = {}
  vim.api.nvim_input("o    ")
  local waited = 0
  while waited < 20000 do
    local text = ghost.text(0)
    if text and seen[#seen] ~= text then
      table.insert(seen, text)
    end
    if #seen >= 2 then
      break
    end
    H.sleep(5)
    waited = waited + 5
  end
  if #seen < 2 then
    error("expected the ghost text to be redrawn while streaming, saw " .. vim.inspect(seen))
  end
end)
