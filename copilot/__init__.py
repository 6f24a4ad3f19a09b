"""copilot-lsp core. Its folders are the stages of a request: ``pipeline`` (the tiers),
``cache``, ``context`` (retrieval), ``prompt``, ``syntax``, ``inference`` (the local model),
``remote``, ``postprocess``; the modules at the top are what every stage uses.

Nothing in this package imports LSP types or the tooling: the language server lives in
``copilot.lsp`` and the model tooling in ``copilot.models``, and both import the core.
"""

__version__ = "0.1.0"
