-- Ghost text: the suggestion drawn after the cursor with extmarks, the first line inline,
-- the others as virtual lines below it. Nothing is written to the buffer.
local M = {}
M.ns = vim.api.nvim_create_namespace("copilot_lsp_ghost")

function M.clear(buf)
  if vim.api.nvim_buf_is_valid(buf) then
    vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  end
end

function M.show(buf, row, col, text, highlight)
  M.clear(buf)
  local lines = vim.split(text, "\n", { plain = true })
  local virt_lines = {}
  for i = 2, #lines do
    table.insert(virt_lines, { { lines[i], highlight } })
  end
  vim.api.nvim_buf_set_extmark(buf, M.ns, row, col, {
    virt_text = { { lines[1], highlight } },
    virt_text_pos = "inline",
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
  })
end

--- The ghost text on screen in ``buf`` (for tests and the status line): its lines, or nil.
function M.text(buf)
  local marks = vim.api.nvim_buf_get_extmarks(buf, M.ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local details = marks[1][4]
  local lines = { details.virt_text and details.virt_text[1][1] or "" }
  for _, line in ipairs(details.virt_lines or {}) do
    table.insert(lines, line[1][1])
  end
  return table.concat(lines, "\n")
end

return M
