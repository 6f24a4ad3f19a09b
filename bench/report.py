"""Writing benchmark results: JSON with the machine and versions, plus a markdown summary."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from . import plots


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("copilot-lsp", "llama-cpp-python", "pygls", "lsprotocol", "msgspec", "gguf"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        import llama_cpp

        gpu = bool(llama_cpp.llama_supports_gpu_offload())
    except (ImportError, AttributeError):
        gpu = False
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu_offload": gpu,
        "python": platform.python_version(),
        "versions": versions,
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    quantiles = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(quantiles[94], 2),
        "p99": round(quantiles[98], 2),
        "n": len(ordered),
    }


def write(suite: str, result: dict[str, Any], out: Path) -> None:
    result = {"suite": suite, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(), **result}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    for path in plots.draw(suite, result, out):
        print(f"wrote {path}")
