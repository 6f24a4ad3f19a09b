"""After generation (and the one decision before it): what to show of a raw completion."""

from .clean import (
    Cursor,
    balance_brackets,
    clean,
    cut_at_dedent,
    cut_repetition,
    drop_suffix_overlap,
    trim_syntax_errors,
    wants_block,
)

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
