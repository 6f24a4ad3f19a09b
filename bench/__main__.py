"""``python -m bench <suite> [--smoke] [--out FILE]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import context, decode, kv, latency, quality, quant, routing, speculative

SUITES = {
    "latency": latency,
    "decode": decode,
    "speculative": speculative,
    "kv": kv,
    "context": context,
    "quality": quality,
    "routing": routing,
    "quant": quant,
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
    args.run(args)


if __name__ == "__main__":
    main()
