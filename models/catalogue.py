"""The model catalogue (``catalogue.toml``): families, their FIM templates and tokens."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import msgspec

CATALOGUE = Path(__file__).with_name("catalogue.toml")


class Family(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    fim_prefix: str
    fim_suffix: str
    fim_middle: str
    order: Literal["psm", "spm"]
    repo_name: str = ""
    file_sep: str = ""
    stop: list[str] = []


def families(path: Path = CATALOGUE) -> dict[str, Family]:
    with path.open("rb") as file:
        data = tomllib.load(file)
    return msgspec.convert(data["families"], dict[str, Family])


# Substrings of a model's name that identify its family (lower case, first match wins).
NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("qwen2.5-coder", "qwen2_5_coder"),
    ("qwen2_5_coder", "qwen2_5_coder"),
    ("starcoder2", "starcoder2"),
    ("deepseek-coder", "deepseek_coder"),
    ("codellama", "codellama"),
    ("code-llama", "codellama"),
    ("codegemma", "codegemma"),
    ("codestral", "codestral"),
    ("copilot-default", "copilot_default"),
)


def family_for_model(name: str) -> str | None:
    """The catalogue key of the family a model name belongs to, if it is recognisable."""
    lowered = name.lower()
    return next((key for hint, key in NAME_HINTS if hint in lowered), None)
