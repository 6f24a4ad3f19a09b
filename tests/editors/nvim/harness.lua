-- A test runs as a coroutine on Neovim's main loop, so typed keys (nvim_input) are processed
-- between its steps; `vim.wait` would not process them. Failure: exit code 1 and a message.
local H = {}
local co

local function finish(ok, message)
  if not ok then
    io.stderr:write("FAIL: " .. tostring(message) .. "\n")
    vim.cmd("cquit 1")
  else
    vim.cmd("qall!")
  end
end

local function step()
  local ok, err = coroutine.resume(co)
  if not ok then
    finish(false, debug.traceback(co, err))
  elseif coroutine.status(co) == "dead" then
    finish(true)
  end
end

function H.run(fn)
  co = coroutine.create(fn)
  vim.schedule(step)
end

function H.sleep(ms)
  vim.defer_fn(step, ms)
  coroutine.yield()
end

function H.wait(what, condition, timeout_ms)
  local waited = 0
  while true do
    local ok, value = pcall(condition)
    if ok and value then
      return value
    end
    if waited >= (timeout_ms or 30000) then
      error("timed out waiting for " .. what, 2)
    end
    H.sleep(20)
    waited = waited + 20
  end
end

--- A value that stays the same for ``ms`` (a suggestion that has finished streaming).
function H.settled(what, get, ms)
  local last, since = nil, 0
  return H.wait(what, function()
    local value = get()
    if value ~= nil and value == last then
      since = since + 20
    else
      last, since = value, 0
    end
    return since >= (ms or 300) and value
  end)
end

function H.eq(actual, expected, what)
  if actual ~= expected then
    error(("%s: expected %s, got %s"):format(what or "value", vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

function H.line(row)
  return vim.api.nvim_buf_get_lines(0, row, row + 1, false)[1]
end

--- Start editing the test file at the end of ``row`` (0-based) in insert mode, once the
--- server is attached and has answered once (its model is loaded).
function H.edit(path, row)
  if path then
    vim.cmd.edit(path)
  end
  H.wait("the server", function() return #vim.lsp.get_clients({ bufnr = 0 }) > 0 end)
  local client = vim.lsp.get_clients({ bufnr = 0 })[1]
  local answered = false
  client:request("copilot/stats", { recent = 0 }, function() answered = true end, 0)
  H.wait("the server's first answer", function() return answered end)
  vim.api.nvim_win_set_cursor(0, { row + 1, #H.line(row) })
  vim.cmd("startinsert!")
end

H.cmd = vim.json.decode(os.getenv("COPILOT_LSP_CMD"))

--- The server command with its log written to ``path`` (``--log-file``) instead of stderr.
function H.cmd_logging_to(path)
  local cmd = vim.deepcopy(H.cmd)
  table.insert(cmd, #cmd, "--log-file")
  table.insert(cmd, #cmd, path)
  return cmd
end

--- Requests of ``client`` still waiting for their answer.
function H.pending(client)
  local n = 0
  for _, request in pairs(client.requests) do
    if request.type == "pending" then
      n = n + 1
    end
  end
  return n
end

--- The server's copilot/stats answer.
function H.stats(client)
  local stats
  client:request("copilot/stats", { recent = 0 }, function(_, result) stats = result end, 0)
  return H.wait("copilot/stats", function() return stats end, 10000)
end

--- A file's text ("" when it does not exist).
function H.read(path)
  local file = io.open(path, "r")
  if file == nil then
    return ""
  end
  local text = file:read("*a")
  file:close()
  return text
end

--- "" when ``text`` lacks ``needle``, else a line saying how many lines of ``where`` have it.
function H.lines_with(text, needle, where)
  local lines = vim.tbl_filter(function(line) return line:find(needle, 1, true) ~= nil end, vim.split(text, "\n"))
  if #lines == 0 then
    return ""
  end
  return ("\n%s has %d line(s) with %q, e.g. %s"):format(where, #lines, needle, lines[1])
end

-- The checkout: this file is tests/editors/nvim/harness.lua in it.
H.root = vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(os.getenv("COPILOT_HARNESS")))))

--- The ```lua block of editors/nvim/README.md that contains ``marker``, with this checkout
--- in place of /path/to/copilot-lsp, ready to run.
function H.readme_snippet(marker)
  local readme = H.read(H.root .. "/editors/nvim/README.md")
  for block in readme:gmatch("```lua\n(.-)```") do
    if block:find(marker, 1, true) then
      return (block:gsub("/path/to/copilot%-lsp", function() return H.root end))
    end
  end
  error("editors/nvim/README.md has no lua snippet with " .. marker, 2)
end

--- Settings the servers read from config.toml (for servers started without init_options,
--- as the README's snippets start them): the same as ``H.init_options``.
function H.write_config()
  local dir = os.getenv("XDG_CONFIG_HOME") .. "/copilot-lsp"
  vim.fn.mkdir(dir, "p")
  vim.fn.writefile({
    "[completion]",
    "max_prefill_ms = 0",
    "max_decode_ms = 0",
    "debounce_ms = 0",
    "[cache]",
    "prefetch = false",
  }, dir .. "/config.toml")
end

H.file = os.getenv("COPILOT_TEST_FILE")
H.init_options = {
  completion = { max_prefill_ms = 0, max_decode_ms = 0, debounce_ms = 0 },
  cache = { prefetch = false },
}

return H
