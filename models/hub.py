"""Fetch catalogue models from the Hugging Face hub: the only code that uses the network,
and only when the user runs ``copilot-lsp models pull``.

The download goes to a partial file in a staging folder (the next run resumes it with an
HTTP range request; the hub client's own downloader retries within a run), is checked
against the catalogue's sha256 or the hub's own checksum, and only then replaces the file
in the models folder: a partial or corrupt download never takes the place of a good file.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from copilot import paths
from copilot.errors import ModelError
from copilot.inference.catalogue import CatalogueModel, models

log = logging.getLogger(__name__)
SHA256 = re.compile(r"^[0-9a-f]{64}$")
GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")
STAGING = ".downloads"


def models_dir() -> Path:
    return paths.pulled_models_dir()


def installed_path(entry: CatalogueModel) -> Path:
    """Where a catalogue model lives once pulled (or inside the package, for the embedded pair)."""
    if entry.embedded:
        from . import DEFAULT_DIR

        return DEFAULT_DIR / entry.file
    return models_dir() / entry.file


def lookup(name: str) -> tuple[str, CatalogueModel]:
    """The catalogue entry called ``name`` (case-insensitive); ModelError listing names otherwise."""
    known = models()
    match = next((key for key in known if key.lower() == name.lower()), None)
    if match is None:
        raise ModelError(
            f"no model called {name!r} in the catalogue; `copilot-lsp models list` shows the names "
            "(any other GGUF file works too: set model.path to it)"
        )
    return match, known[match]


@dataclass(frozen=True)
class Pulled:
    path: Path
    sha256: str
    downloaded: bool  # False: the file was already there and verified


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> str:
    """The file's sha256 when it matches ``expected`` (a sha256, or a git blob id for files the
    hub keeps outside LFS); ModelError otherwise."""
    actual = file_sha256(path)
    if SHA256.match(expected):
        ok = actual == expected
    elif GIT_SHA1.match(expected):
        ok = _git_blob_sha1(path) == expected
    else:
        raise ModelError(f"the hub gave no checksum for {path.name} (etag {expected!r}); refusing an unverified file")
    if not ok:
        raise ModelError(
            f"checksum mismatch for {path.name}: expected {expected}, got {actual}; the file was discarded "
            "(run the same command again; if it persists the hub's copy or the catalogue entry is wrong)"
        )
    return actual


def pull(name: str, endpoint: str | None = None, progress: bool = True) -> Pulled:
    """Download catalogue model ``name`` (resuming an interrupted download) and verify it."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils._headers import build_hf_headers
    from huggingface_hub.utils.tqdm import disable_progress_bars, enable_progress_bars

    key, entry = lookup(name)
    target = installed_path(entry)
    if entry.embedded:
        return Pulled(target, file_sha256(target), downloaded=False)
    url = hf_hub_url(entry.repo, entry.file, endpoint=endpoint)
    staging = models_dir() / STAGING
    partial: Path | None = None  # known once the hub has said which version of the file it has
    try:
        meta = get_hf_file_metadata(url, endpoint=endpoint)
        expected = entry.sha256 or (meta.etag or "")
        if target.is_file() and target.stat().st_size == meta.size:
            try:
                return Pulled(target, verify(target, expected), downloaded=False)
            except ModelError:
                pass  # an older or damaged copy: download afresh, replace it only once verified
        # One partial file per version of the file (named by its checksum): a later run
        # appends to it; a different version starts over.
        partial = staging / f"{entry.file}.{expected[:16] or 'unversioned'}.partial"
        if partial.exists() and meta.size is not None and partial.stat().st_size > meta.size:
            partial.unlink()  # longer than the file itself: not a prefix of it
        _check_disk_space(staging, partial, meta.size or 0)
        (enable_progress_bars if progress else disable_progress_bars)()
        with partial.open("ab") as file:
            http_get(
                meta.location or url,
                file,
                resume_size=file.tell(),
                headers=build_hf_headers(),
                expected_size=meta.size,
                displayed_filename=entry.file,
            )
    except ModelError:
        raise
    except (RepositoryNotFoundError, EntryNotFoundError) as exc:
        raise ModelError(
            f"{entry.repo}/{entry.file} is not on the hub ({type(exc).__name__}): the catalogue entry is out of date"
        ) from None
    except OSError as exc:  # the hub's HTTP errors too
        if exc.errno == errno.ENOSPC:
            raise ModelError(
                f"the disk filled up while downloading {key} into {staging}: free space, then "
                f"{_next_run(staging, entry, partial)}"
            ) from None
        raise _download_failed(key, endpoint, exc, _next_run(staging, entry, partial)) from None
    except Exception as exc:  # network errors of the hub client's HTTP stack (connection refused, timeouts)
        raise _download_failed(key, endpoint, exc, _next_run(staging, entry, partial)) from None
    assert partial is not None  # set before the download, which returned
    try:
        sha256 = verify(partial, expected)
    except ModelError:
        partial.unlink(missing_ok=True)  # a corrupt file would look complete to the next resume
        raise
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)  # same filesystem: atomic, a good file is never half-replaced
    log.info("pulled %s into %s", key, target)
    return Pulled(target, sha256, downloaded=True)


def _hub_address(endpoint: str | None) -> str:
    """The hub a download went to, and what chose it."""
    from huggingface_hub import constants

    if endpoint:
        return f"{endpoint} (--endpoint)"
    if os.environ.get("HF_ENDPOINT"):
        return f"{constants.ENDPOINT} ($HF_ENDPOINT; --endpoint overrides it)"
    return f"{constants.ENDPOINT} (the default hub; HF_ENDPOINT or --endpoint choose another)"


def _download_failed(key: str, endpoint: str | None, exc: Exception, next_run: str) -> ModelError:
    detail = " ".join(str(exc).split())  # the hub client's messages span lines: one line here
    return ModelError(
        f"download of {key} from {_hub_address(endpoint)} failed ({type(exc).__name__}: {detail}); {next_run}"
    )


def _next_run(staging: Path, entry: CatalogueModel, partial: Path | None) -> str:
    """What running the command again does: resume what is kept, or start over."""
    kept = [partial] if partial is not None else list(staging.glob(f"{glob.escape(entry.file)}.*.partial"))
    size = sum(path.stat().st_size for path in kept if path.is_file())
    if size:
        return f"run the same command again to resume ({size / 2**20:.1f} MiB downloaded so far are kept)"
    return "run the same command again to retry (nothing was downloaded)"


def _check_disk_space(folder: Path, partial: Path, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    needed = size - (partial.stat().st_size if partial.exists() else 0)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ModelError(
            f"not enough disk space in {folder}: the file needs {needed / 2**20:.0f} MiB more, "
            f"{free / 2**20:.0f} MiB are free"
        )
