"""Persistent completion cache in LMDB.

Keys hash everything that decides the model's answer: the model's identity, the prompt
template version, the exact prompt tokens and the generation parameters. Values are
msgspec Structs carrying a schema version; a record of another schema is a miss.
Reads are inline (microseconds); writes use ``sync=False``, so a crash can lose the last
few entries but never corrupts the file.
"""

from __future__ import annotations

import array
import hashlib
import logging
import time
from pathlib import Path

import lmdb
import msgspec

from .errors import CacheUnavailable
from .prompt import TEMPLATE_VERSION

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


class CachedCompletion(msgspec.Struct, frozen=True, kw_only=True):
    schema: int
    text: str
    model_id: str
    created: float


class GenerationParams(msgspec.Struct, frozen=True, kw_only=True):
    max_tokens: int
    max_lines: int


def cache_key(model_id: str, prompt: list[int], params: GenerationParams) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{model_id}\0{TEMPLATE_VERSION}\0".encode())
    digest.update(msgspec.msgpack.encode(params))
    digest.update(array.array("i", prompt).tobytes())
    return digest.digest()


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CachedCompletion)


class CompletionCache:
    def __init__(self, directory: Path, max_size_mb: int) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._env = lmdb.open(
                str(directory),
                map_size=max_size_mb << 20,
                subdir=True,
                sync=False,
                metasync=False,
                max_dbs=0,
                lock=True,
            )
            self._env.reader_check()  # clear slots left by readers that were killed
        except (OSError, lmdb.Error) as exc:
            raise CacheUnavailable(f"completion cache disabled: cannot open {directory}: {exc}") from None
        self.directory = directory

    def get(self, key: bytes) -> CachedCompletion | None:
        try:
            with self._env.begin(buffers=True) as txn:
                raw = txn.get(key)
                if raw is None:
                    return None
                value = _decoder.decode(raw)
        except (lmdb.Error, msgspec.DecodeError, ValueError) as exc:
            log.warning("cache read failed (%s): treating as a miss", exc)
            return None
        return value if value.schema == SCHEMA_VERSION else None

    def put(self, key: bytes, text: str, model_id: str) -> None:
        value = CachedCompletion(schema=SCHEMA_VERSION, text=text, model_id=model_id, created=time.time())
        try:
            with self._env.begin(write=True) as txn:
                txn.put(key, _encoder.encode(value))
        except lmdb.MapFullError:
            self._clear()
        except lmdb.Error as exc:
            log.warning("cache write failed: %s", exc)

    def _clear(self) -> None:
        # First version: a full cache starts over (eviction by age is the cache issue's work).
        log.info("completion cache is full (%s): clearing it", self.directory)
        with self._env.begin(write=True) as txn:
            txn.drop(self._env.open_db(), delete=False)

    def close(self) -> None:
        self._env.close()


def open_cache(directory: Path, max_size_mb: int) -> CompletionCache | None:
    """The cache, or None (with one log line saying why) when it cannot be used."""
    try:
        return CompletionCache(directory, max_size_mb)
    except CacheUnavailable as exc:
        log.error("%s", exc)
        return None
