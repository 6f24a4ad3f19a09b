"""``copilot-lsp stats``: the statistics of the running servers (or the last saved ones)
as a table a person reads at a glance."""

from __future__ import annotations

import json
import time
from typing import Any

from . import publish


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _quantiles(values: dict[str, float]) -> str:
    if not values:
        return "-"
    return f"{values['p50']:>8.1f} {values['p95']:>8.1f} {values['p99']:>8.1f} {int(values['n']):>6}"


def render(stats: dict[str, Any], title: str) -> str:
    window = stats.get("window", {})
    counts = stats.get("counts", {})
    lines = [title, ""]
    lines.append(f"requests since start  {counts.get('requests', 0)}   in the window  {window.get('requests', 0)}")
    routes = window.get("routes", {})
    lines.append("answered by           " + ", ".join(f"{route} {n}" for route, n in routes.items()) or "-")
    lines.append("")
    lines.append(f"{'latency (ms, window)':<22}{'p50':>8} {'p95':>8} {'p99':>8} {'n':>6}")
    for route, values in window.get("route_ms", {}).items():
        lines.append(f"  {'route ' + route:<20}{_quantiles(values)}")
    for stage, values in window.get("stage_ms", {}).items():
        lines.append(f"  {'stage ' + stage:<20}{_quantiles(values)}")
    lines.append("")
    hits = window.get("cache_hit_rate", {})
    lines.append("cache hits            " + ", ".join(f"{level} {_pct(rate)}" for level, rate in hits.items()))
    lines.append(f"typing-through share  {_pct(window.get('typing_through_share'))}")
    lines.append(f"KV cache reuse        {_pct(window.get('kv_reuse'))} of prompt tokens")
    lines.append(f"draft acceptance      {_pct(window.get('draft_acceptance'))}")
    lines.append(
        f"errors / cancelled    {_pct(window.get('error_rate'))} / {_pct(window.get('cancel_rate'))} of requests"
    )
    for route, tokens in window.get("tokens", {}).items():
        lines.append(
            f"tokens {route:<15}prompt {tokens['prompt']}, generated {tokens['generated']},"
            f" remote in/out {tokens.get('remote_in', 0)}/{tokens.get('remote_out', 0)}, cost {tokens['cost']}"
        )
    cost = stats.get("cost", {})
    if cost.get("all_remote"):
        lines.append(
            f"cost since start      {cost['spent']:.4f} spent; all-remote would be {cost['all_remote']:.4f}"
            f" (saving {_pct(cost.get('saving'))})"
        )
    if counts.get("tokens_remote_in") or counts.get("tokens_remote_out"):
        lines.append(
            f"remote tokens         in {counts.get('tokens_remote_in', 0)}, out {counts.get('tokens_remote_out', 0)}"
        )
    remote = stats.get("remote")
    if remote:
        lines.append(f"remote breaker        {remote.get('breaker', {}).get('state', '-')}")
    acceptance = stats.get("acceptance", {})
    for by in ("language", "route"):
        for name, row in acceptance.get(by, {}).items():
            lines.append(
                f"accepted ({by} {name})  {_pct(row['rate'])} of {row['shown']} shown"
                f" ({row['accepted']} whole, {row['partial']} partly, {row['dismissed']} dismissed)"
            )
    if not any(acceptance.get(by) for by in ("language", "route")):
        lines.append("accepted              - (no shown/accepted events from the editor yet)")
    for alert in stats.get("alerts", []):
        lines.append(f"ALERT                 {alert}")
    return "\n".join(lines)


def main(as_json: bool) -> int:
    live = publish.read_live()
    if live:
        if as_json:
            print(json.dumps(live))
        else:
            print("\n\n".join(render(stats, f"copilot-lsp server, {_who(stats)} (running)") for stats in live))
        return 0
    saved = publish.read_saved()
    if saved is None:
        print("no running copilot-lsp server and no saved statistics yet")
        return 1
    if as_json:
        print(json.dumps([saved]))
    else:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(saved.get("saved_at", 0)))
        print(render(saved, f"copilot-lsp server, pid {saved.get('pid')} (not running; saved {when})"))
    return 0


def _who(stats: dict[str, Any]) -> str:
    """``pid 123``, or ``pid 123, session front456-s2`` for one session of a process of many."""
    session = stats.get("session")
    return f"pid {stats.get('pid')}" + (f", session {session}" if session else "")
