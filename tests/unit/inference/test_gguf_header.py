"""The lean GGUF header reader against gguf.GGUFReader, on files written by gguf.GGUFWriter."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from copilot.inference.gguf_header import Header, read_header
from tests.support.gguf_files import write_fim_model

T = gguf.GGUFValueType
TOKENS = ["a", "é", "日本", "<|fim_prefix|>", " ", "\n", "🙂", "x" * 300]


def write_mixed(path: Path, alignment: int | None = None) -> Path:
    """Every kind of value and F32/F16/Q8_0/I32 tensors, shaped so offsets need padding."""
    rng = np.random.default_rng(1)
    writer = gguf.GGUFWriter(str(path), "llama")
    if alignment:
        writer.add_custom_alignment(alignment)
    writer.add_name("mixed")
    writer.add_uint8("t.u8", 200)
    writer.add_int8("t.i8", -100)
    writer.add_uint16("t.u16", 60000)
    writer.add_int16("t.i16", -30000)
    writer.add_uint32("t.u32", 4_000_000_000)
    writer.add_int32("t.i32", -2_000_000_000)
    writer.add_uint64("t.u64", 2**63 + 5)
    writer.add_int64("t.i64", -(2**62))
    writer.add_float32("t.f32", 0.1)
    writer.add_float64("t.f64", 0.1)
    writer.add_bool("t.true", True)
    writer.add_bool("t.false", False)
    writer.add_string("t.str", "héllo\x00wörld")
    writer.add_token_list(TOKENS)
    writer.add_token_types([1, 1, 1, 3, 1, 1, 1, 6])
    writer.add_token_scores([0.5, -1.25, 3.0, 0.0, 1e-8, -0.0, 7.5, 1e30])
    writer.add_token_merges(["a b", "é x", "日 本"])
    writer.add_key_value("t.u64s", [0, 1, 2**64 - 1], T.ARRAY, sub_type=T.UINT64)
    writer.add_key_value("t.f64s", [0.1, -2.5], T.ARRAY, sub_type=T.FLOAT64)
    writer.add_key_value("t.i8s", [-128, 0, 127], T.ARRAY, sub_type=T.INT8)
    writer.add_array("t.bools", [True, False, True])
    writer.add_uint32("t.after", 7)  # a field after the arrays: they were walked past correctly
    writer.add_tensor("f32.weight", rng.standard_normal((3, 5)).astype(np.float32))
    writer.add_tensor("f16.weight", rng.standard_normal((2, 3, 7)).astype(np.float16))
    q8 = gguf.quants.quantize(rng.standard_normal((4, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("q8.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("i32.bias", np.arange(11, dtype=np.int32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("gguf")
    return [
        write_mixed(root / "mixed.gguf"),
        write_mixed(root / "aligned.gguf", alignment=64),
        write_fim_model(root / "fim.gguf", fim_ids_in_metadata=True),
    ]


def assert_matches_reader(path: Path, header: Header, skip: frozenset[str] = frozenset()) -> None:
    reader = gguf.GGUFReader(str(path))
    keys = [k for k in reader.fields if not k.startswith("GGUF.")]
    assert [k for k in keys if k not in skip] == list(header.fields)
    assert header.skipped == skip & set(keys)
    for key in header.fields:
        field, ours = reader.fields[key], header.fields[key]
        if field.types[0] == T.ARRAY and field.types[-1] not in (T.STRING, T.ARRAY):
            assert isinstance(ours, np.ndarray), key
            assert ours.dtype == gguf.GGUFReader.gguf_scalar_to_np[field.types[-1]], key
            ours = ours.tolist()
        assert ours == field.contents(), key
        assert type(ours) is type(field.contents()), key
    assert header.data_offset == reader.data_offset
    assert header.alignment == reader.alignment
    assert [(t.name, t.shape, t.ggml_type, t.n_elements, t.data_offset, t.n_bytes) for t in header.tensors] == [
        (t.name, tuple(t.shape.tolist()), t.tensor_type, t.n_elements, t.data_offset, t.n_bytes) for t in reader.tensors
    ]


def test_matches_gguf_reader(files: list[Path]) -> None:
    for path in files:
        assert_matches_reader(path, read_header(path, skip=frozenset()))


def test_values_and_tensors(files: list[Path]) -> None:
    header = read_header(files[0])
    fields = header.fields
    assert header.version == 3
    assert fields["tokenizer.ggml.tokens"] == TOKENS
    assert fields["t.str"] == "héllo\x00wörld"
    assert fields["t.true"] is True and fields["t.false"] is False
    assert fields["t.f32"] == float(np.float32(0.1)) and fields["t.f64"] == 0.1
    assert fields["t.u64"] == 2**63 + 5 and fields["t.i64"] == -(2**62)
    assert fields["tokenizer.ggml.token_type"].dtype == np.int32
    assert fields["tokenizer.ggml.scores"].dtype == np.float32
    assert fields["t.u64s"].tolist() == [0, 1, 2**64 - 1]
    assert fields["t.bools"].tolist() == [True, False, True]
    types = {t.name: t.ggml_type for t in header.tensors}
    assert types == {"f32.weight": 0, "f16.weight": 1, "q8.weight": 8, "i32.bias": 26}
    q8 = next(t for t in header.tensors if t.name == "q8.weight")
    assert q8.shape == (64, 4) and q8.n_elements == 256 and q8.n_bytes == 8 * 34
    assert all(t.data_offset % header.alignment == 0 for t in header.tensors)
    assert read_header(files[1]).alignment == 64


def test_skip_walks_past_without_decoding(files: list[Path]) -> None:
    skip = frozenset({"tokenizer.ggml.merges", "tokenizer.ggml.tokens", "t.u64s", "t.str", "absent"})
    header = read_header(files[0], skip=skip)
    assert header.skipped == skip - {"absent"}
    assert not header.skipped & header.fields.keys()
    assert header.fields["t.after"] == 7
    assert_matches_reader(files[0], header, skip)
    assert "tokenizer.ggml.merges" not in read_header(files[2]).fields  # skipped by default


def test_nested_arrays_and_invalid_utf8(tmp_path: Path) -> None:
    writer = gguf.GGUFWriter(str(tmp_path / "odd.gguf"), "llama")
    writer.add_array("t.nested", [[1, 2], [3]])
    writer.add_array("t.bytes", [b"ok", b"\xff\xfe"])
    writer.add_uint32("t.after", 9)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    fields = read_header(tmp_path / "odd.gguf").fields
    assert [a.tolist() for a in fields["t.nested"]] == [[1, 2], [3]]
    assert [s.encode("utf-8", "surrogateescape") for s in fields["t.bytes"]] == [b"ok", b"\xff\xfe"]
    assert fields["t.after"] == 9


def test_truncated_copies_raise(files: list[Path], tmp_path: Path) -> None:
    for path in files:
        data = path.read_bytes()
        header = read_header(path)
        # The writer pads the last tensor: a file cut in that padding is still whole.
        data_end = max(t.data_offset + t.n_bytes for t in header.tensors)
        cuts = {0, 3, 23, 24, data_end - 1}
        cuts |= {int(length * f) for length in (header.data_offset, data_end) for f in (0.1, 0.5, 0.99)}
        for cut in sorted(cuts):
            copy = tmp_path / f"cut{cut}.gguf"
            copy.write_bytes(data[:cut])
            with pytest.raises(ValueError):
                read_header(copy)


def patched(tmp_path: Path, data: bytes, offset: int, new: bytes) -> Path:
    path = tmp_path / "patched.gguf"
    path.write_bytes(data[:offset] + new + data[offset + len(new) :])
    return path


@pytest.mark.parametrize(
    ("version", "message"), [((3).to_bytes(4, "big"), "big-endian"), ((4).to_bytes(4, "little"), "version 4")]
)
def test_big_endian_or_unknown_version_raise(files: list[Path], tmp_path: Path, version: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_header(patched(tmp_path, files[0].read_bytes(), 4, version))


def test_version_2_reads(files: list[Path], tmp_path: Path) -> None:
    path = patched(tmp_path, files[0].read_bytes(), 4, (2).to_bytes(4, "little"))
    assert read_header(path).version == 2
    assert_matches_reader(path, read_header(path, skip=frozenset()))


@pytest.mark.parametrize("skip", [frozenset(), frozenset({"tokenizer.ggml.tokens"})])
@pytest.mark.parametrize("what", ["array length", "string length"])
def test_absurd_lengths_raise(files: list[Path], tmp_path: Path, skip: frozenset[str], what: str) -> None:
    data = files[0].read_bytes()
    key = b"tokenizer.ggml.tokens"
    # key, value type, item type, then the array length, then the first string's length.
    at = data.index(key) + len(key) + 8 + (0 if what == "array length" else 8)
    with pytest.raises(ValueError):
        read_header(patched(tmp_path, data, at, (2**63).to_bytes(8, "little")), skip)


@pytest.mark.parametrize("content", [b"", b"GGU", b"not a gguf file at all, just some text\n" * 10])
def test_non_gguf_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        read_header(path)
