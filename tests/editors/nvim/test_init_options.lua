-- init_options reach the server as an object: the default, an empty table given by the user,
-- and real settings, which take effect (log.level = "debug" puts DEBUG lines in its log).
-- Each case opens a copy of the test file in its own folder, so it gets its own server.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local config, errors = require("copilot_lsp.config").resolve({ init_options = { "debug" } })
  H.eq(#errors, 1, "a list as init_options is reported: " .. vim.inspect(errors))
  H.eq(next(config.init_options), nil, "and the default kept")

  local function serve(opts)
    local dir = vim.fn.tempname()
    vim.fn.mkdir(dir, "p")
    local path = dir .. "/walk.py"
    vim.fn.writefile(vim.fn.readfile(H.file), path)
    local log = dir .. "/server.log"
    opts.cmd = H.cmd_logging_to(log)
    plugin.setup(opts)
    H.edit(path, 6)
    H.eq(plugin.client(0).root_dir, dir, "a server of its own")
    vim.api.nvim_input("o") -- one completion request, logged at debug level
    H.wait("its answer", function() return (H.stats(plugin.client(0)).counts.requests or 0) > 0 end)
    vim.api.nvim_input("<Esc>")
    local text = H.wait("the server's log", function()
      local text = H.read(log)
      return text:find("INFO", 1, true) and text
    end)
    return text
  end

  local logs = {
    default = serve({}),
    empty = serve({ init_options = {} }),
    debug = serve({ init_options = { log = { level = "debug" } } }),
  }
  local problems = {}
  for name, text in pairs(logs) do
    local where = "the log of the server with " .. name .. " options"
    table.insert(problems, H.lines_with(text, "initializationOptions", where))
  end
  H.eq(table.concat(problems), "", "messages about initializationOptions")
  if logs.default:find(" DEBUG ", 1, true) then
    error("the default log level is info, yet the log has DEBUG lines")
  end
  if not logs.debug:find(" DEBUG ", 1, true) then
    error("log.level = \"debug\" in init_options did not take effect:\n" .. logs.debug)
  end
end)
