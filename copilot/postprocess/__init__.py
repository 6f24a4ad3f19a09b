"""What to show of a raw completion. The package owns the one decision before generation, whether to ask the
model for one line or a block (``block``), and the cleaning after it (``cleaning``), both on a bounded window
of the document around the cursor (``cursor``) with a bracket and string scan (``lexer``, ``brackets``)."""

from .block import wants_block
from .brackets import balance_brackets
from .cleaning import clean, cut_at_dedent, cut_repetition, drop_suffix_overlap, trim_syntax_errors
from .cursor import Cursor

__all__ = [
    "Cursor",
    "balance_brackets",
    "clean",
    "cut_at_dedent",
    "cut_repetition",
    "drop_suffix_overlap",
    "trim_syntax_errors",
    "wants_block",
]
