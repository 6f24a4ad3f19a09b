-- copilot-lsp for Neovim: starts the server (or connects to a running one) per root directory,
-- asks for inline completions while you type, shows them as ghost text, and accepts them
-- whole, by word or by line. Next-edit suggestions: nextedit.lua.
local config_mod = require("copilot_lsp.config")
local ghost = require("copilot_lsp.ghost")
local requests = require("copilot_lsp.requests")

local M = {}
local NAME = "copilot-lsp"
local PARTIAL = "copilot/partialCompletion"
local EVENT = "copilot/completionEvent"

M.config = vim.deepcopy(config_mod.defaults)
M.enabled = true
-- The suggestion on screen, per buffer: { row, col (bytes), items = { text... }, index, request_id }
M.state = {}
M.last = { latency_ms = nil, source = nil }
local timers = {}
local inflight = {} -- per buffer: { client, id } of the request in flight

local function is_normal(buf)
  return vim.api.nvim_buf_is_valid(buf) and vim.bo[buf].buftype == "" and vim.api.nvim_buf_get_name(buf) ~= ""
end

local function enabled_for(buf)
  if not M.enabled or not is_normal(buf) then
    return false
  end
  local filetypes = M.config.filetypes
  local value = filetypes[vim.bo[buf].filetype]
  if value == nil then
    value = filetypes["*"]
  end
  return value ~= false
end

M.enabled_for = enabled_for

function M.client(buf)
  return vim.lsp.get_clients({ bufnr = buf or 0, name = NAME })[1]
end

local function cursor()
  local pos = vim.api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

function M.current(buf)
  local state = M.state[buf or vim.api.nvim_get_current_buf()]
  if state == nil then
    return nil
  end
  return state.items[state.index]
end

function M.clear(buf)
  buf = buf or vim.api.nvim_get_current_buf()
  M.state[buf] = nil
  ghost.clear(buf)
end

local function show(buf, state)
  M.state[buf] = state
  local text = state.items[state.index]
  if text == nil or text == "" then
    M.clear(buf)
    return
  end
  ghost.show(buf, state.row, state.col, text, M.config.highlight)
end

local function cancel(buf)
  local running = inflight[buf]
  inflight[buf] = nil
  requests.cancel(running)
end

local function items_of(result)
  local items = {}
  local list = result and (result.items or result) or {}
  for _, item in ipairs(list) do
    local text = type(item.insertText) == "table" and item.insertText.value or item.insertText
    if type(text) == "string" and text ~= "" then
      table.insert(items, text)
    end
  end
  return items
end

--- Ask the server now (``explicit``: the remote-preferring copilot/generate).
function M.request(buf, explicit)
  buf = buf or vim.api.nvim_get_current_buf()
  local client = M.client(buf)
  if client == nil or not enabled_for(buf) then
    return
  end
  cancel(buf)
  local row, col = cursor()
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local started = vim.uv.hrtime()
  local method = explicit and "copilot/generate" or "textDocument/inlineCompletion"
  if not explicit then
    params.context = { triggerKind = 2 }
  end
  local ok, id = client:request(method, params, function(err, result, ctx)
    -- ctx.request_id, not `id`: that local is not in scope inside its own statement.
    if inflight[buf] and inflight[buf].id == ctx.request_id then
      inflight[buf] = nil
    end
    if err or not vim.api.nvim_buf_is_valid(buf) then
      return
    end
    local now_row, now_col = cursor()
    if vim.api.nvim_get_current_buf() ~= buf or now_row ~= row or now_col ~= col then
      return -- the cursor moved on: a newer request is coming
    end
    M.last.latency_ms = (vim.uv.hrtime() - started) / 1e6
    local items = explicit and (result and result.text and { result.text } or {}) or items_of(result)
    if #items == 0 then
      M.clear(buf)
      return
    end
    local server_id = M.request_id(result)
    show(buf, { row = row, col = col, items = items, index = 1, request_id = server_id })
    if server_id then
      client:notify(EVENT, { requestId = server_id, event = "shown" })
    end
  end, buf)
  if ok then
    inflight[buf] = { client = client, id = id, row = row, col = col, request_id = nil }
  end
end

--- The server's id of the answer (in the item's accept command, or copilot/generate's result):
--- shown/accepted/dismissed events name it, for the server's local metrics.
function M.request_id(result)
  local item = result and result.items and result.items[1]
  local command = item and item.command
  local id = (command and command.arguments and command.arguments[1]) or (result and result.requestId)
  return type(id) == "number" and id or nil
end

-- The server streams partial text while the model writes: redraw the ghost text with it.
local function on_partial(_, params, ctx)
  local buf = vim.uri_to_bufnr(params.uri)
  local running = inflight[buf]
  if running == nil or not vim.api.nvim_buf_is_loaded(buf) or params.text == "" then
    return
  end
  running.request_id = running.request_id or params.requestId
  if running.request_id ~= params.requestId then
    return
  end
  local row, col = cursor()
  if vim.api.nvim_get_current_buf() ~= buf or row ~= running.row or col ~= running.col then
    return
  end
  show(buf, { row = row, col = col, items = { params.text }, index = 1, request_id = params.requestId })
end

--- Typing the start of the suggestion shrinks it (no request needed for that).
local function typed_through(buf)
  local state = M.state[buf]
  if state == nil then
    return false
  end
  local row, col = cursor()
  local text = state.items[state.index]
  if row ~= state.row or col < state.col then
    return false
  end
  local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ""
  local typed = line:sub(state.col + 1, col)
  if typed ~= "" and text:sub(1, #typed) == typed and #text > #typed then
    local items = {}
    for i, item in ipairs(state.items) do
      items[i] = item:sub(1, #typed) == typed and item:sub(#typed + 1) or item
    end
    show(buf, { row = row, col = col, items = items, index = state.index, request_id = state.request_id })
    return true
  end
  return false
end

local function on_change(buf)
  cancel(buf) -- the request in flight is for a text that no longer exists
  local kept = typed_through(buf)
  if not kept then
    M.clear(buf)
  end
  if not M.config.auto_trigger or not enabled_for(buf) then
    return
  end
  requests.after_pause(timers, buf, M.config.debounce_ms, function()
    if vim.api.nvim_get_current_buf() == buf and vim.fn.mode():sub(1, 1) == "i" then
      M.request(buf)
    end
  end)
end

local function insert(buf, text)
  local row, col = cursor()
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(buf, row, col, row, col, lines)
  local last_row = row + #lines - 1
  local last_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { last_row + 1, last_col })
end

--- Accept the suggestion: "all", "word" or "line". False when there is none.
function M.accept(kind)
  local buf = vim.api.nvim_get_current_buf()
  local state = M.state[buf]
  local text = M.current(buf)
  if state == nil or text == nil then
    return false
  end
  local part = text
  if kind == "word" then
    part = text:match("^%s*[%w_]+") or text:match("^%s*[^%w_%s]+") or text:match("^%s+") or text
  elseif kind == "line" then
    part = text:match("^\n?[^\n]*") or text
  end
  M.clear(buf)
  insert(buf, part)
  local rest = text:sub(#part + 1)
  local client = M.client(buf)
  if rest ~= "" then
    local row, col = cursor()
    show(buf, { row = row, col = col, items = { rest }, index = 1, request_id = state.request_id })
  end
  if client and state.request_id then
    client:notify(EVENT, { requestId = state.request_id, event = rest == "" and "accepted" or "partial", acceptedChars = #part })
  end
  return true
end

function M.dismiss()
  local buf = vim.api.nvim_get_current_buf()
  if M.state[buf] == nil then
    return false
  end
  local state = M.state[buf]
  local client = M.client(buf)
  if client and state.request_id then
    client:notify(EVENT, { requestId = state.request_id, event = "dismissed" })
  end
  M.clear(buf)
  return true
end

function M.cycle(step)
  local buf = vim.api.nvim_get_current_buf()
  local state = M.state[buf]
  if state == nil or #state.items < 2 then
    return false
  end
  state.index = (state.index - 1 + step) % #state.items + 1
  show(buf, state)
  return true
end

-- A key that acts on the suggestion when there is one, and does what it always did otherwise.
local function map(lhs, action)
  if not lhs then
    return
  end
  vim.keymap.set("i", lhs, function()
    if not action() then
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(lhs, true, false, true), "n", false)
    end
  end, { desc = "copilot-lsp", silent = true })
end

local function root_dir(buf)
  local found = vim.fs.root(buf, M.config.root_markers)
  return found or vim.fs.dirname(vim.api.nvim_buf_get_name(buf))
end

-- A connection that failed (nothing listened at the address: Neovim said so) leaves a client
-- that never initializes, and Neovim would attach every later buffer of its root to it. So a
-- client still not initialized M.connect_grace_ms after it started is stopped instead, and a
-- new connection tried: once the server runs, `:e` connects.
M.connect_grace_ms = 5000
local connecting = {} -- client id -> when it started connecting (vim.uv.now())

local function reuse_connection(client, config)
  if client.name ~= config.name or client:is_stopped() or client.root_dir ~= config.root_dir then
    return false
  end
  if client.initialized or vim.uv.now() - (connecting[client.id] or 0) < M.connect_grace_ms then
    return true
  end
  connecting[client.id] = nil
  client:stop(true)
  return false
end

function M.attach(buf)
  if not enabled_for(buf) then
    return
  end
  local init_options = M.config.init_options
  if next(init_options) == nil then
    init_options = vim.empty_dict() -- an empty Lua table would be sent as a JSON array
  end
  local address = M.config.address
  if address == false then
    return -- a malformed `server` option, reported by setup{}
  end
  local id = vim.lsp.start({
    name = NAME,
    -- A running `copilot-lsp serve --tcp HOST:PORT`, or a command to spawn (or cmd's own function).
    cmd = address and vim.lsp.rpc.connect(address.host, address.port) or M.config.cmd,
    root_dir = root_dir(buf),
    init_options = init_options,
    handlers = { [PARTIAL] = on_partial },
  }, { bufnr = buf, reuse_client = address and reuse_connection or nil })
  if address and id and connecting[id] == nil then
    connecting[id] = vim.uv.now()
  end
end

function M.setup(opts)
  local config, errors = config_mod.resolve(opts)
  for _, message in ipairs(errors) do
    vim.notify(message, vim.log.levels.ERROR)
  end
  M.config = config
  local keys = config.keymaps
  map(keys.accept, function() return M.accept("all") end)
  map(keys.accept_word, function() return M.accept("word") end)
  map(keys.accept_line, function() return M.accept("line") end)
  map(keys.dismiss, M.dismiss)
  map(keys.next, function() return M.cycle(1) end)
  map(keys.prev, function() return M.cycle(-1) end)
  map(keys.trigger, function() M.request(nil, false) return true end)
  map(keys.generate, function() M.request(nil, true) return true end)
  require("copilot_lsp.nextedit").setup(config)
  local group = vim.api.nvim_create_augroup("copilot_lsp", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    callback = function(args) M.attach(args.buf) end,
  })
  vim.api.nvim_create_autocmd("TextChangedI", {
    group = group,
    callback = function(args) on_change(args.buf) end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    callback = function(args)
      cancel(args.buf)
      M.clear(args.buf)
    end,
  })
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].filetype ~= "" then
      M.attach(buf)
    end
  end
end

function M.toggle()
  M.enabled = not M.enabled
  if not M.enabled then
    for buf in pairs(M.state) do
      M.clear(buf)
    end
    require("copilot_lsp.nextedit").clear()
  end
  vim.notify("copilot-lsp " .. (M.enabled and "enabled" or "disabled"))
end

function M.status()
  local client = M.client(0)
  local parts = {
    M.enabled and "enabled" or "disabled",
    client and ("server running (root " .. (client.root_dir or "?") .. (M.config.address and (", tcp " .. M.config.server) or "") .. ")")
      or "no server for this buffer",
  }
  if M.last.latency_ms then
    table.insert(parts, ("last answer %.0f ms"):format(M.last.latency_ms))
  end
  return table.concat(parts, ", ")
end

function M.stats(callback)
  local client = M.client(0)
  if client == nil then
    return callback(nil, "no server for this buffer")
  end
  client:request("copilot/stats", { recent = 0 }, function(err, result)
    callback(result, err and err.message)
  end, 0)
end

return M
