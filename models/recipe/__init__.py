"""The torch recipe that trains the embedded default model (an optional extra: ``[train]``).

Run it with ``python -m copilot.models.recipe.train``; see that module for the flags.
"""
