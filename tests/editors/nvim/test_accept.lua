-- Typing shows ghost text (an extmark); accept word, line and all change the buffer exactly.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local ghost = require("copilot_lsp.ghost")
  plugin.setup({ cmd = H.cmd, debounce_ms = 10, init_options = H.init_options })
  H.edit(H.file, 6)
  local row = 6
  local before = H.line(row)
  vim.api.nvim_input("o")
  local shown = H.settled("ghost text, streamed to its end", function() return ghost.text(0) end)
  local marks = vim.api.nvim_buf_get_extmarks(0, ghost.ns, 0, -1, { details = true })
  H.eq(#marks, 1, "one extmark")
  H.eq(marks[1][4].virt_text_pos, "inline", "first line inline")

  local word = shown:match("^%s*[%w_]+") or shown:match("^%s*[^%w_%s]+") or shown
  vim.api.nvim_input("<M-Right>")
  H.wait("accept word", function() return H.line(row) == before .. "o" .. word end, 3000)
  local rest = shown:sub(#word + 1)
  if rest ~= "" then
    H.wait("the rest shown", function() return ghost.text(0) == rest end, 3000)
    vim.api.nvim_input("<M-Down>")
    local line_part = rest:match("^\n?[^\n]*")
    H.wait("accept line", function()
      return table.concat(vim.api.nvim_buf_get_lines(0, row, row + 2, false), "\n"):sub(1, #(before .. "o" .. word .. line_part))
        == before .. "o" .. word .. line_part
    end, 3000)
  end

  -- A fresh suggestion on a new line, accepted whole with <Tab>.
  vim.api.nvim_input("<Esc>ofo")
  local row2 = H.wait("the new line typed", function()
    local r = vim.api.nvim_win_get_cursor(0)[1] - 1
    return r > row and H.line(r):match("fo$") and r
  end)
  local typed = H.line(row2) -- with whatever indentation 'autoindent' gave it
  local second = H.settled("second ghost text", function() return ghost.text(0) end)
  vim.api.nvim_input("<Tab>")
  H.wait("accept all", function() return H.line(row2) == typed .. second end, 3000)
  -- The server counted a shown event under the id of its answer (its local metrics; an
  -- unknown id would be counted as ignored instead).
  local counts = {}
  local ok = pcall(H.wait, "events", function()
    plugin.client(0):request("copilot/stats", { recent = 0 }, function(_, result) counts = result.counts end, 0)
    H.sleep(50)
    return (counts.events_shown or 0) >= 1
  end, 10000)
  if not ok then
    error("the server did not count the events: " .. vim.inspect(counts))
  end

  -- <Tab> without a suggestion keeps its meaning.
  vim.api.nvim_input("<Esc>o")
  H.sleep(50)
  require("copilot_lsp").clear(0)
  vim.api.nvim_input("<Tab>")
  H.wait("a real tab", function() return H.line(vim.api.nvim_win_get_cursor(0)[1] - 1):find("\t") ~= nil end, 3000)
end)
