"""What never enters a prompt: ignored files and secrets inside the text that does.

:class:`IgnoreRules` answers, with git's own matching rules, whether a workspace file may be
read for context, and why not. Its layers, first decisive one wins:

1. ``.copilotignore`` files (root and nested); a negation here also lets a file through
   that ``.gitignore`` ignores,
2. ``.gitignore`` files (root and nested) and the root's ``.git/info/exclude``,
3. the configured globs (``settings``),
4. :data:`DEFAULT_IGNORE`, files that usually hold credentials.

Within layers 1 and 2, as in git, the file nearest to the path wins and a file under an
ignored directory stays ignored whatever deeper files say.

:func:`mask_secrets` replaces keys, tokens and literal passwords with placeholders such as
``<secret:github-token>`` in the text that does enter a prompt.
"""

from __future__ import annotations

import logging
import os
import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec
import pathspec

log = logging.getLogger(__name__)

# Gitignore syntax. Patterns with an inner slash start with **/ so that they match at any depth.
DEFAULT_IGNORE: tuple[str, ...] = (
    ".env",
    ".env.*",
    "!.env.example",
    "!.env.sample",
    "!.env.template",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.keystore",
    "*.jks",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".htpasswd",
    "credentials",
    "credentials.json",
    "credentials.y*ml",
    "credentials.toml",
    "credentials.ini",
    "credentials.csv",
    "secrets.json",
    "secrets.y*ml",
    "secrets.toml",
    "secrets.env",
    "*.tfstate",
    ".aws/",
    ".ssh/",
    ".gnupg/",
    "**/.docker/config.json",
    "**/.kube/config",
)

COPILOTIGNORE = ".copilotignore"
GITIGNORE = ".gitignore"

_Parts = tuple[str, ...]


class _IgnoreFile(msgspec.Struct, frozen=True, kw_only=True):
    label: str  # how reasons name it: ".gitignore", "pkg/.copilotignore"
    base: _Parts  # its directory, relative to the root: its patterns are relative to it
    spec: pathspec.GitIgnoreSpec


class _DirFiles(msgspec.Struct, frozen=True, kw_only=True):
    copilot: tuple[_IgnoreFile, ...]
    git: tuple[_IgnoreFile, ...]  # highest precedence first


def _spec_reason(label: str, spec: pathspec.GitIgnoreSpec, rel: str) -> tuple[bool, str] | None:
    """(ignored?, reason) from the last pattern of ``spec`` matching ``rel``; None when none does."""
    result = spec.check_file(rel)
    if result.include is None or result.index is None:
        return None
    pattern = spec.patterns[result.index].pattern
    return result.include, f"{label}: {pattern if isinstance(pattern, str) else repr(pattern)}"


def _first_decision(files: Iterable[_IgnoreFile], parts: _Parts, is_dir: bool) -> tuple[bool, str] | None:
    """The decision of the first file (highest precedence) with a pattern matching the path."""
    for file in files:
        rel = "/".join(parts[len(file.base) :]) + ("/" if is_dir else "")
        decision = _spec_reason(file.label, file.spec, rel)
        if decision is not None:
            return decision
    return None


def _read_ignore_file(path: Path, label: str, base: _Parts) -> _IgnoreFile | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:  # missing (the usual case) or unreadable: nothing to apply
        log.debug("no ignore file %s: %s", path, exc.strerror or exc)
        return None
    return _IgnoreFile(label=label, base=base, spec=pathspec.GitIgnoreSpec.from_lines(lines))


class IgnoreRules:
    """Which files may be read for context. Ignore files are read lazily, once per directory."""

    def __init__(self, root: Path | None, extra_globs: Sequence[str] = (), use_gitignore: bool = True) -> None:
        self.root = Path(os.path.abspath(root)) if root is not None else None
        self.use_gitignore = use_gitignore
        self._root_prefix = os.path.join(self.root, "") if self.root is not None else None
        self._settings = pathspec.GitIgnoreSpec.from_lines(list(extra_globs))
        self._defaults = pathspec.GitIgnoreSpec.from_lines(DEFAULT_IGNORE)
        self._dirs: dict[_Parts, _DirFiles] = {}
        self._dir_reasons: dict[_Parts, str | None] = {}

    @classmethod
    def for_root(cls, root: Path | None, extra_globs: Sequence[str] = (), use_gitignore: bool = True) -> IgnoreRules:
        return cls(root, extra_globs, use_gitignore)

    def ignored(self, path: Path, is_dir: bool | None = None) -> str | None:
        """Why ``path`` never enters a prompt (source and pattern), or None when it may.

        ``is_dir`` saves a stat when the caller knows; a relative path is taken from the root.
        """
        if self.root is not None and not path.is_absolute():
            path = self.root / path
        if is_dir is None:
            is_dir = path.is_dir()
        parts = self._relative_parts(path)
        if parts is None:
            path = Path(os.path.normpath(path))
            return self._outside_reason(path.parts[1:] if path.anchor else path.parts, is_dir)
        for depth in range(1, len(parts)):  # an ignored directory hides everything below it
            reason = self._dir_reason(parts[:depth])
            if reason is not None:
                return reason
        return self._own_reason(parts, is_dir) if parts else None

    def forget(self, directory: Path) -> None:
        """Re-read the ignore files of ``directory`` next time (one of them changed)."""
        parts = self._relative_parts(directory)
        if parts is not None:
            self._dirs.pop(parts, None)
        self._dir_reasons.clear()  # verdicts below that directory may change

    def reload(self) -> None:
        """Re-read every ignore file next time."""
        self._dirs.clear()
        self._dir_reasons.clear()

    def _relative_parts(self, path: Path) -> _Parts | None:
        """The parts of ``path`` below the root; None outside it. Plain strings: this runs for every file."""
        if self._root_prefix is None:
            return None
        text = os.path.normpath(path)
        if text == self._root_prefix[:-1]:
            return ()
        if not text.startswith(self._root_prefix):
            return None
        return tuple(text[len(self._root_prefix) :].split(os.sep))

    def _dir_reason(self, parts: _Parts) -> str | None:
        try:
            return self._dir_reasons[parts]
        except KeyError:
            reason = self._dir_reasons[parts] = self._own_reason(parts, True)
            return reason

    def _own_reason(self, parts: _Parts, is_dir: bool) -> str | None:
        """The reason for the path itself, its parent directories assumed not ignored."""
        parent = parts[:-1]
        nearest_first = [self._files(parent[:depth]) for depth in range(len(parent), -1, -1)]
        decision = _first_decision((f for d in nearest_first for f in d.copilot), parts, is_dir)
        if decision is None:
            decision = _first_decision((f for d in nearest_first for f in d.git), parts, is_dir)
        if decision is not None and decision[0]:
            return decision[1]
        return self._global_reason("/".join(parts) + ("/" if is_dir else ""))

    def _outside_reason(self, parts: _Parts, is_dir: bool) -> str | None:
        """Outside the root only the configured globs and the defaults apply, to any tail of the path."""
        for start in range(len(parts)):
            reason = self._global_reason("/".join(parts[start:]) + ("/" if is_dir else ""))
            if reason is not None:
                return reason
        return None

    def _global_reason(self, rel: str) -> str | None:
        for label, spec in (("settings", self._settings), ("default", self._defaults)):
            decision = _spec_reason(label, spec, rel)
            if decision is not None and decision[0]:
                return decision[1]
        return None

    def _files(self, parts: _Parts) -> _DirFiles:
        try:
            return self._dirs[parts]
        except KeyError:
            files = self._dirs[parts] = self._load(parts)
            return files

    def _load(self, parts: _Parts) -> _DirFiles:
        assert self.root is not None
        directory = self.root.joinpath(*parts)
        prefix = "".join(f"{part}/" for part in parts)
        copilot = _read_ignore_file(directory / COPILOTIGNORE, prefix + COPILOTIGNORE, parts)
        git: list[_IgnoreFile | None] = []
        if self.use_gitignore:
            git.append(_read_ignore_file(directory / GITIGNORE, prefix + GITIGNORE, parts))
        if self.use_gitignore and not parts:  # git reads info/exclude below every .gitignore
            git.append(_read_ignore_file(directory / ".git" / "info" / "exclude", ".git/info/exclude", parts))
        return _DirFiles(
            copilot=(copilot,) if copilot is not None else (),
            git=tuple(file for file in git if file is not None),
        )


# --- Secrets -------------------------------------------------------------------------------------

# Where a literal value is assigned to one of these names (db_password, apiKey, CLIENT_SECRET...).
_SECRET_NAMES = r"password|passwd|passphrase|secret(?:[_-]?key)?|token|api[_-]?key|access[_-]?key|private[_-]?key"

# One alternation; the group that matched names the kind. Where two match at one place the earlier
# wins, so the specific ones (aws_secret_key, sk-ant-) come before the general ones.
_SECRET_RE = re.compile(
    r"(?P<private_key>-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z))"
    r"|(?P<aws_access_key>\b(?:AKIA|ASIA)[A-Z0-9]{16}\b)"
    r"|(?P<aws_secret_key>(?i:aws_?secret(?:_?access)?_?key)[\"']?\s*(?::=|=>|=|:)\s*[\"']?"
    r"(?P<aws_value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=]))"
    r"|(?P<github_token>\b(?:gh[pousr]_[A-Za-z0-9]{36}\b|github_pat_[A-Za-z0-9_]{20,}))"
    r"|(?P<gitlab_token>\bglpat-[A-Za-z0-9_-]{20,})"
    r"|(?P<slack_token>\bxox[abprs]-[A-Za-z0-9-]{10,})"
    r"|(?P<anthropic_key>\bsk-ant-[A-Za-z0-9_-]{20,})"
    r"|(?P<openai_key>\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20}[A-Za-z0-9_-]*))"
    r"|(?P<stripe_key>\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,})"
    r"|(?P<google_api_key>\bAIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-]))"
    r"|(?P<npm_token>\bnpm_[A-Za-z0-9]{36}\b)"
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
    r"|(?P<huggingface_token>\bhf_[A-Za-z]{30,}\b)"
    # No left boundary: the name may end a longer one. Only the quoted value is replaced.
    rf"|(?P<assignment>(?i:(?P<name>{_SECRET_NAMES})s?)[\"']?"
    r"\s*(?::\s*[A-Za-z_][\w.]*\s*)?(?::=|=>|=(?!=)|:)\s*"
    r"(?P<quote>[\"'`])(?P<value>[^\"'`\s\\]{8,200})(?P=quote))"
)

# Where a match of _SECRET_RE can start, lower-cased. Plain literals let the re module skip ahead
# quickly (an alternation led by \b, groups or case-folding is tried at every position), so the
# secret pattern runs only at these few places.
_START_RE = re.compile(
    r"-----begin|akia|asia|aiza|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|xox|sk-|sk_|rk_|npm_|eyj|hf_"
    r"|aws|pass|secret|token|api|access|private"
)

# Values that stand for a secret rather than being one: templates, stars, "your-key-here", our own mask.
_PLACEHOLDER_RE = re.compile(
    r"<.*>|\$\{.*\}|\{\{.*\}\}|%\(.*\)s|\$[A-Z_]+|(.)\1*"
    r"|.*(?:your|example|placeholder|changeme|change_me|dummy|redacted|xxxx|\*\*\*|replace|sample|fake).*",
    re.IGNORECASE,
)


def _placeholder(kind: str) -> str:
    return f"<secret:{kind.replace('_', '-')}>"


def _assignment_kind(name: str) -> str:
    name = name.lower()
    if name.startswith("pass"):
        return "password"
    if "api" in name:
        return "api-key"
    return "token" if name == "token" else "secret"


def _looks_secret(name: str, value: str) -> bool:
    """A literal password, or a token-like value: two kinds of characters at least (not a plain word)."""
    if _PLACEHOLDER_RE.fullmatch(value):
        return False
    if name.lower().startswith("pass"):
        return True
    kinds = (
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any(c.isdigit() for c in value),
        any(not c.isalnum() and c not in "_-./" for c in value),
    )
    return sum(kinds) >= 2


def mask_secrets(text: str) -> tuple[str, int]:
    """``text`` with each key, token and literal password replaced by ``<secret:KIND>``, and how many.

    Surrounding text (names, quotes) stays; masking masked text changes nothing.
    """
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters (İ) lower to two characters: keep positions aligned
        lowered = text.translate(_ASCII_LOWER)
    pieces: list[str] = []
    count = done = 0
    start = _START_RE.search(lowered)
    while start is not None:
        position = start.start()
        match = _SECRET_RE.match(text, position) if position >= done else None
        if match is not None:
            replacement, found = _replacement(match)
            pieces += (text[done:position], replacement)
            count += found
            done = match.end()
        start = _START_RE.search(lowered, position + 1)
    if not pieces:
        return text, 0
    pieces.append(text[done:])
    return "".join(pieces), count


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _replacement(match: re.Match[str]) -> tuple[str, int]:
    """What replaces one match of _SECRET_RE, and how many secrets that masks."""
    kind = match.lastgroup or "secret"
    if kind == "aws_secret_key":
        return _replace_group(match, "aws_value", _placeholder(kind)), 1
    if kind != "assignment":
        return _placeholder(kind), 1
    name, value = match["name"], match["value"]
    specific = _SECRET_RE.fullmatch(value)
    if specific is not None and specific.lastgroup != "assignment":
        return _replace_group(match, "value", _placeholder(specific.lastgroup or "secret")), 1
    if _looks_secret(name, value):
        return _replace_group(match, "value", _placeholder(_assignment_kind(name))), 1
    inner, found = mask_secrets(value)  # not a secret as a whole, but it may hold a token
    return _replace_group(match, "value", inner), found


def _replace_group(match: re.Match[str], group: str, replacement: str) -> str:
    start, end = match.span(group)
    offset = match.start()
    whole = match[0]
    return whole[: start - offset] + replacement + whole[end - offset :]
