-- cmd may be a function, as vim.lsp.start takes it: setup({ cmd = vim.lsp.rpc.connect(host,
-- port) }) connects to the server test_nvim.py started at $COPILOT_LSP_ADDRESS, and a
-- suggestion comes through that connection; :checkhealth says cmd is a function.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local ghost = require("copilot_lsp.ghost")
  local messages = {}
  vim.notify = function(message) table.insert(messages, message) end
  local host, port = os.getenv("COPILOT_LSP_ADDRESS"):match("^(.*):(%d+)$")
  local connect = vim.lsp.rpc.connect(host, tonumber(port))
  plugin.setup({ cmd = connect, init_options = H.init_options })
  H.eq(#messages, 0, "a function is a valid cmd: " .. vim.inspect(messages))
  H.eq(plugin.config.cmd, connect, "kept as given")
  H.edit(H.file, 6)
  H.eq(plugin.client(0).config.cmd, connect, "the client's cmd")
  vim.api.nvim_input("o")
  H.wait("a suggestion", function() return ghost.text(0) end)
  H.wait("the server counting the request", function() return (H.stats(plugin.client(0)).counts.requests or 0) > 0 end)
  vim.api.nvim_input("<Esc>")
  vim.cmd("checkhealth copilot_lsp")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  for _, expected in ipairs({ "OK server: cmd is a function", "OK connected: server running for" }) do
    if not report:find(expected, 1, true) then
      error("checkhealth lacks " .. expected .. ":\n" .. report)
    end
  end
  if report:find("ERROR", 1, true) then
    error("checkhealth reports an error:\n" .. report)
  end
end)
