"""The peer's llama.vim-shaped requests and the side-by-side ratios (pure logic)."""

from bench.latency import ratios
from bench.peer import infill_request


def test_infill_request_splits_the_cursor_line_like_llama_vim() -> None:
    before = "import os\n\ndef f(path):\n    return os.pa"
    after = "\n\nprint(f('x'))\n"
    body = infill_request(before, after, [{"filename": "a.py", "text": "x = 1"}], n_predict=32, single_line=True)
    assert body["input_prefix"] == "import os\n\ndef f(path):\n"
    assert body["prompt"] == "    return os.pa"  # the cursor's line up to the cursor
    assert body["input_suffix"] == after  # the rest of the cursor's line, then the lines after
    assert body["input_extra"] == [{"filename": "a.py", "text": "x = 1"}]
    assert body["n_indent"] == 4
    assert body["n_predict"] == 32 and body["cache_prompt"] is True
    assert body["stop"] == ["\n"]
    assert "stop" not in infill_request(before, after, [], n_predict=32, single_line=False)


def test_infill_request_sends_whole_lines_within_the_line_limits() -> None:
    before = "".join(f"line {i}\n" for i in range(300)) + "cur"
    after = "sor" + "".join(f"\nafter {i}" for i in range(100))
    body = infill_request(before, after, [], n_predict=8, single_line=False, n_prefix_lines=256, n_suffix_lines=64)
    prefix_lines = body["input_prefix"].split("\n")[:-1]
    assert prefix_lines[0] == "line 44" and prefix_lines[-1] == "line 299" and len(prefix_lines) == 256
    suffix_lines = body["input_suffix"].split("\n")
    assert suffix_lines[0] == "sor" and suffix_lines[-1] == "after 63"


def test_ratios_are_ours_over_the_peers_per_percentile() -> None:
    ours = {"final_ms": {"p50": 10.0, "p95": 30.0, "p99": 50.0}, "first_visible_ms": {"p50": 5.0, "p95": 9.0}}
    peer = {"final_ms": {"p50": 20.0, "p95": 30.0, "p99": 0.0}, "first_visible_ms": {"p50": 20.0, "p95": 30.0}}
    got = ratios(ours, peer)
    assert got["final_ms"] == {"p50": 0.5, "p95": 1.0}  # no ratio against a missing percentile
    assert got["first_visible_ms"] == {"p50": 0.25, "p95": 0.3}
