"""PNG plots next to a suite's JSON: latency CDFs against the peer, speedups.

matplotlib comes with the ``bench`` extra; without it the plots are skipped with a note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(suite: str, result: dict[str, Any], out: Path) -> list[Path]:
    """The plots of one result as ``out``'s name with a suffix per plot; the files written."""
    drawers = {"latency": _latency, "load": _load, "speculative": _speedups, "quant": _quant}
    if suite not in drawers:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError:
        print("plots skipped: matplotlib is not installed (pip install -e '.[bench]')")
        return []
    written = []
    for name, figure in drawers[suite](result, plt):
        path = out.with_name(f"{out.stem}-{name}.png")
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _cdf(axis: Any, samples: list[float], label: str, style: str = "-") -> None:
    if not samples:
        return
    ordered = sorted(samples)
    axis.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], style, label=label)


def _cdf_figure(plt: Any, title: str, curves: list[tuple[list[float], str, str]]) -> Any:
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for samples, label, style in curves:
        _cdf(axis, samples, label, style)
    axis.set_xscale("log")
    axis.set_xlabel("ms (log scale)")
    axis.set_ylabel("share of keystrokes answered")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right")
    return figure


def _latency(result: dict[str, Any], plt: Any) -> list[tuple[str, Any]]:
    ours = result["ours"]
    curves = [
        (ours["samples_visible_ms"], "ours: keystroke -> first visible text", "-"),
        (ours["samples_final_ms"], "ours: keystroke -> final suggestion", "--"),
    ]
    if "peer" in result:
        curves.append((result["peer"]["samples_final_ms"], "llama-server /infill (llama.vim-style)", "-"))
    title = f"Latency while typing: {Path(result['model']).name}"
    return [("cdf", _cdf_figure(plt, title, curves))]


def _load(result: dict[str, Any], plt: Any) -> list[tuple[str, Any]]:
    """A latency CDF per number of editors: the three designs side by side."""
    figures = []
    names = {"shared": "shared service", "per_window": "a server per editor", "peer": "llama-server"}
    for run in result["runs"]:
        curves = [(run[d]["samples_ms"], names[d], "-") for d in names if run.get(d) and run[d]["samples_ms"]]
        if curves:
            title = f"{run['editors']} editors typing at once"
            figures.append((f"cdf-{run['editors']}", _cdf_figure(plt, title, curves)))
    return figures


def _bars(plt: Any, title: str, labels: list[str], values: list[float], ylabel: str) -> Any:
    figure, axis = plt.subplots(figsize=(7, 4.2))
    bars = axis.bar(labels, values, color=["#4878a8" if "llama-server" not in x else "#c0504d" for x in labels])
    axis.bar_label(bars, fmt="%.2fx")
    axis.axhline(1.0, color="grey", linewidth=0.8)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.tick_params(axis="x", rotation=20)
    return figure


def _speedups(result: dict[str, Any], plt: Any) -> list[tuple[str, Any]]:
    labels = [f"ours: {mode}" for mode in result["modes"]]
    values = [row["speedup"] for row in result["modes"].values()]
    for mode, row in result.get("peer", {}).items():
        labels.append(f"llama-server: {mode}")
        values.append(row["speedup"])
    title = f"Speculative decoding: {Path(result['target']).name}"
    return [("speedup", _bars(plt, title, labels, values, "decode speed vs plain"))]


def _quant(result: dict[str, Any], plt: Any) -> list[tuple[str, Any]]:
    figures = []
    for model in result.get("models", []):
        name = Path(model["model"]).stem
        variants = {kind: row for kind, row in model["types"].items() if kind != "f16"}
        values = [row["decode_time_vs_f16"] for row in variants.values()]
        figure = _bars(plt, f"Decode time per token vs f16: {name}", list(variants), values, "time vs f16")
        figures.append((f"decode-{name}", figure))
    return figures
