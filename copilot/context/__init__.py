"""Cross-file context: what the prompt shows from outside the window around the cursor.

Candidates come from the enclosing scopes and imports of the document, definitions of the
names near the cursor (open documents, then the workspace symbol index), similar windows of
recently used files and recent edits; they are ranked, deduplicated and packed into a token
budget (``ranking``), then written as prompt tokens (``rendering``). Files the user
excluded, and secrets, never reach a prompt (``privacy``).
"""
