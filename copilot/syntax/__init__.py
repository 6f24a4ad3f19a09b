"""Tree-sitter: a syntax tree per open document kept in step with edits (``tree``), parsing
with a time budget and the questions post-processing asks (``parsing``), and what a tree says
about a document's structure: scopes, imports, definitions (``extract``, with each language's
definition query patterns in ``queries``)."""
