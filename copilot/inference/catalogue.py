"""The model catalogue (``catalogue.toml``): families (FIM templates and tokens, sizes) and
the models ``copilot-lsp models pull`` can fetch, with the drafts that speculate for them."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import msgspec

from copilot import paths

from ..errors import ModelError

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
    context: int = 4096  # recommended prompt window for completion, tokens
    max_output: int = 128


class CatalogueModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    family: str
    file: str
    repo: str = ""  # Hugging Face repository; "" for the models shipped in the package
    sha256: str = ""  # "" : the hub's own checksum of the file is verified instead
    parameters_b: float = 0.0  # billions
    draft: str = ""  # catalogue name of a smaller model with the same tokenizer
    use_draft: bool = True  # `models use` turns the draft on when it is installed
    task: Literal["completion", "next_edit"] = "completion"  # next_edit: the Sweep next-edit format (next_edit.model)

    @property
    def embedded(self) -> bool:
        return not self.repo


class Catalogue(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    families: dict[str, Family]
    models: dict[str, CatalogueModel] = {}


def user_catalogue() -> Path:
    """The user's own additions (same format): more families and models, or replacements."""
    return paths.config_file().with_name("models.toml")


def load(path: Path = CATALOGUE) -> Catalogue:
    """The catalogue at ``path`` with the user's additions on top."""
    user = user_catalogue()
    stamp = user.stat().st_mtime_ns if user.is_file() else 0
    return _load(path, user if stamp else None, stamp)


@functools.cache
def _load(path: Path, user: Path | None, _stamp: int) -> Catalogue:
    data = _read(path)
    if user is not None:
        extra = _read(user)
        data = {key: {**data.get(key, {}), **extra.get(key, {})} for key in ("families", "models")}
    try:
        catalogue = msgspec.convert(data, Catalogue)
    except msgspec.ValidationError as exc:
        raise ModelError(f"model catalogue {user or path}: {exc}") from None
    for name, model in catalogue.models.items():  # the file is data: check its references once
        if model.family not in catalogue.families:
            raise ModelError(f"model catalogue: model {name!r} names an unknown family {model.family!r}")
        if model.draft and model.draft not in catalogue.models:
            raise ModelError(f"model catalogue: model {name!r} names an unknown draft {model.draft!r}")
    return catalogue


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"cannot read the model catalogue {path}: {exc}") from None


def families(path: Path = CATALOGUE) -> dict[str, Family]:
    return load(path).families


def models(path: Path = CATALOGUE) -> dict[str, CatalogueModel]:
    return load(path).models


# Substrings of a model's name that identify its family (first match wins), compared with
# the name lower-cased and its spaces and underscores as dashes: converters write names like
# "Qwen2.5 Coder 1.5B" or "Deepseek Coder 1.3b Base".
NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("qwen2.5-coder", "qwen2_5_coder"),
    ("qwen2-5-coder", "qwen2_5_coder"),
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
    normalised = name.lower().replace(" ", "-").replace("_", "-")
    return next((key for hint, key in NAME_HINTS if hint in normalised), None)


def detect_family(names: Iterable[str], has_tokens: Callable[[Iterable[str]], bool]) -> str | None:
    """The family of a model: the one whose FIM token texts its vocabulary has (several
    families share Qwen's spelling: then its names decide, general.name or general.basename)."""
    by_name = next((key for name in names if name and (key := family_for_model(name))), None)
    matching = [key for key, f in families().items() if has_tokens((f.fim_prefix, f.fim_suffix, f.fim_middle))]
    if by_name in matching or (by_name and not matching):
        return by_name
    return matching[0] if matching else None
