"""The language server: pygls handlers, LSP <-> core conversion and the ``copilot-lsp`` CLI.

Installed as ``copilot.lsp``; lsprotocol types do not leave this package.
"""
