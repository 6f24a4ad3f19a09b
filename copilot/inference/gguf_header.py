"""A lean reader of a GGUF file's header: metadata and tensor table, no weights.

gguf.GGUFReader builds a numpy view per string of every array (151k tokens, 150k merges) and
takes seconds; this walks the header once with struct over an mmap, decodes only the strings
asked for and copies numeric arrays straight into numpy arrays.
"""

from __future__ import annotations

import math
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

# BPE merges are never needed and are the slowest array to decode.
DEFAULT_SKIP = frozenset({"tokenizer.ggml.merges"})
# Surrogateescape keeps invalid bytes distinct and round-trips them (tokenizer_digest encodes so).
_ERRORS = "surrogateescape"
_T = gguf.GGUFValueType
_SCALARS: dict[int, str] = {
    _T.UINT8: "B", _T.INT8: "b", _T.UINT16: "H", _T.INT16: "h", _T.UINT32: "I", _T.INT32: "i",
    _T.FLOAT32: "f", _T.UINT64: "Q", _T.INT64: "q", _T.FLOAT64: "d", _T.BOOL: "?",
}  # fmt: skip
_U64 = struct.Struct("<Q")
_GGML_TYPES = {int(t): t for t in gguf.GGMLQuantizationType}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # as in the file: ne[0] (the fastest-varying dimension) first, like GGUFReader
    ggml_type: gguf.GGMLQuantizationType
    n_elements: int
    data_offset: int  # absolute offset in the file
    n_bytes: int


@dataclass(frozen=True)
class Header:
    version: int
    fields: dict[str, Any]  # numeric arrays as numpy arrays, string arrays as list[str]
    tensors: list[TensorInfo]
    data_offset: int  # start of the tensor data (aligned to general.alignment)
    alignment: int
    skipped: frozenset[str]  # keys present in the file but not decoded (not in fields)


class _Cursor:
    def __init__(self, buf: mmap.mmap, skip: frozenset[str]) -> None:
        self.buf, self.pos, self.size, self.skip = buf, 0, len(buf), skip

    def scalar(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        return self.strings(1, True)[0]

    def value(self, vtype: int, decode: bool = True) -> Any:
        if vtype == _T.STRING:
            return self.string() if decode else self.strings(1, False)
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype != _T.ARRAY:
            raise ValueError(f"unknown GGUF value type {vtype} at offset {self.pos - 4}")
        itype, n = self.scalar("I"), self.scalar("Q")
        # Every element takes at least one byte: a length beyond the file is corrupt (no huge allocation).
        if n > self.size - self.pos:
            raise ValueError(f"array of {n} elements at offset {self.pos} is longer than the file")
        if itype in _SCALARS:
            dtype = np.dtype("<" + _SCALARS[itype])
            end = self.pos + n * dtype.itemsize
            if end > self.size:
                raise ValueError(f"array at offset {self.pos} runs past the end of the file")
            # A copy, so that the mmap can be closed.
            array = np.frombuffer(self.buf, dtype, n, self.pos).copy() if decode else None
            self.pos = end
            return array
        if itype == _T.STRING:
            return self.strings(n, decode)
        return [self.value(itype, decode) for _ in range(n)]

    def strings(self, n: int, decode: bool) -> list[str]:
        # The hot loop (151k tokens), so locals only. A corrupt length must not copy gigabytes of a
        # model file (mmap slices clip at its end), so the decoding loop stops at the first overrun.
        buf, pos, size, unpack = self.buf, self.pos, self.size, _U64.unpack_from
        out: list[str] = []
        if decode:
            append = out.append
            for _ in range(n):
                start, pos = pos + 8, pos + 8 + unpack(buf, pos)[0]
                if pos > size:
                    break
                append(buf[start:pos].decode("utf-8", _ERRORS))
        else:
            for _ in range(n):
                pos += 8 + unpack(buf, pos)[0]
        if pos > size:
            raise ValueError(f"strings at offset {self.pos} run past the end of the file")
        self.pos = pos
        return out


def read_header(path: Path, skip: frozenset[str] = DEFAULT_SKIP) -> Header:
    """The header of the GGUF file at ``path``; ValueError when it is not a readable
    little-endian GGUF v2/v3 or is truncated (tensor data included) or corrupt."""
    with path.open("rb") as file:
        if path.stat().st_size < 24:
            raise ValueError(f"{path} is not a GGUF file (too short)")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            try:
                return _parse(_Cursor(buf, skip))
            # struct.error, OverflowError: a read past the end; RecursionError: arrays nested absurdly deep.
            except (struct.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"{path} is truncated or corrupt: {exc}") from None


def _parse(cur: _Cursor) -> Header:
    if cur.scalar("I") != gguf.GGUF_MAGIC:
        raise ValueError("not a GGUF file (bad magic)")
    version = cur.scalar("I")
    if version not in (2, 3):
        if int.from_bytes(version.to_bytes(4, "little"), "big") in (1, 2, 3):
            raise ValueError("big-endian GGUF files are not supported")
        raise ValueError(f"unsupported GGUF version {version} (2 and 3 are)")
    n_tensors, n_kv = cur.scalar("Q"), cur.scalar("Q")
    fields: dict[str, Any] = {}
    skipped: set[str] = set()
    for _ in range(n_kv):
        key, vtype = cur.string(), cur.scalar("I")
        if key in fields or key in skipped:
            raise ValueError(f"duplicate key {key!r}")
        if key == "general.alignment" and vtype != _T.UINT32:
            raise ValueError("general.alignment is not a uint32")
        if key in cur.skip:
            cur.value(vtype, decode=False)
            skipped.add(key)
        else:
            fields[key] = cur.value(vtype)
    alignment = fields.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
    if alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"general.alignment {alignment} is not a power of two")
    raw: list[tuple[str, tuple[int, ...], int, int]] = []
    for _ in range(n_tensors):
        name, n_dims = cur.string(), cur.scalar("I")
        if n_dims * 8 > cur.size - cur.pos:
            raise ValueError(f"tensor {name!r} has {n_dims} dimensions")
        shape = struct.unpack_from(f"<{n_dims}Q", cur.buf, cur.pos)
        cur.pos += 8 * n_dims
        raw.append((name, shape, cur.scalar("I"), cur.scalar("Q")))
    data_offset = -(-cur.pos // alignment) * alignment  # offsets in the tensor table count from here
    tensors: list[TensorInfo] = []
    for name, shape, code, offset in raw:
        if (ggml_type := _GGML_TYPES.get(code)) is None:
            raise ValueError(f"tensor {name!r} has unknown ggml type {code}")
        block, type_size = gguf.GGML_QUANT_SIZES[ggml_type]
        n = math.prod(shape)
        tensors.append(TensorInfo(name, shape, ggml_type, n, data_offset + offset, n // block * type_size))
        if (end := tensors[-1].data_offset + tensors[-1].n_bytes) > cur.size:
            raise ValueError(f"truncated: tensor {name!r} ends at byte {end}, the file has {cur.size}")
    if len({t.name for t in tensors}) != len(tensors):
        raise ValueError("duplicate tensor names")
    return Header(version, fields, tensors, data_offset, alignment, frozenset(skipped))
