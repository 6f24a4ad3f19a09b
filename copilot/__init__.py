"""copilot-lsp core: documents, context, prompt, cache, engine and the pipeline that joins them.

Nothing in this package imports LSP types; the language server lives in ``copilot.lsp``.
"""

__version__ = "0.1.0"
