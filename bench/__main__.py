"""``python -m bench <suite> [--smoke] [--out FILE]``: writes FILE (JSON, default
``bench/results/<suite>.json``), the markdown the suite printed next to it (``.md``) and
its plots (``-*.png``)."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path
from typing import Any

from . import (
    batching,
    cache,
    context,
    decode,
    kv,
    latency,
    load,
    nextedit,
    peer,
    quality,
    quant,
    routing,
    shapes,
    soak,
    speculative,
    traces,
    vocab,
)

SUITES = {
    "latency": latency,
    "cache": cache,
    "decode": decode,
    "speculative": speculative,
    "kv": kv,
    "context": context,
    "quality": quality,
    "routing": routing,
    "quant": quant,
    "load": load,
    "batching": batching,
    "peer": peer,
    "shapes": shapes,
    "traces": traces,
    "soak": soak,
    "vocab": vocab,
    "nextedit": nextedit,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="suite", required=True)
    for name, module in SUITES.items():
        sub = commands.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        sub.add_argument("--smoke", action="store_true", help="a few seconds' run that checks the suite works")
        sub.add_argument("--out", type=Path, default=None, help="JSON result file")
        module.add_arguments(sub)
        sub.set_defaults(run=module.main)
    args = parser.parse_args()
    args.out = args.out or Path(f"bench/results/{args.suite}.json")
    printed = Tee(sys.stdout)
    with contextlib.redirect_stdout(printed):
        args.run(args)
    if args.out.exists():
        markdown = args.out.with_suffix(".md")
        markdown.write_text(printed.getvalue())
        print(f"wrote {markdown}")


class Tee(io.StringIO):
    """Prints through and keeps a copy: a suite's printed tables become its markdown file."""

    def __init__(self, through: Any) -> None:
        super().__init__()
        self.through = through

    def write(self, text: str) -> int:
        self.through.write(text)
        return super().write(text)

    def flush(self) -> None:
        self.through.flush()


if __name__ == "__main__":
    main()
