"""``copilot-lsp service run|status|stop``: the model service and what a person asks of it."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import client, naming
from .naming import ServiceUnavailable

if TYPE_CHECKING:
    from copilot.doctor import Check

log = logging.getLogger(__name__)

STOP_WAIT_S = 15.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("service", help="the model service every editor's `serve` forwards to")
    sub = parser.add_subparsers(dest="service_command", required=True)
    run = sub.add_parser("run", help="run the service (what `serve` starts; not for people)")
    run.add_argument("--key", default=None, help=argparse.SUPPRESS)
    run.add_argument("--idle-shutdown-s", type=float, default=None, help=argparse.SUPPRESS)
    run.set_defaults(run=cmd_run)
    status = sub.add_parser("status", help="the running services: pid, model, sessions, KV sequences, memory")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(run=cmd_status)
    stop = sub.add_parser("stop", help="stop the service of this configuration (editors still open start another)")
    stop.add_argument("--all", action="store_true", help="stop every service of this user")
    stop.set_defaults(run=cmd_stop)


def cmd_run(args: argparse.Namespace) -> int:
    from ..cli import use_uvloop
    from . import daemon

    config = args.settings
    key = args.key or naming.service_key(config, args.config)
    idle = args.idle_shutdown_s if args.idle_shutdown_s is not None else config.service.idle_shutdown_s
    use_uvloop()
    status = daemon.run(config, args.config_problems, key, max(idle, 1.0), args.log_level is not None, args.config)
    logging.shutdown()
    sys.stdout.flush()
    os._exit(status)  # not waiting for threads a session may have left (the model's loader)


def sockets(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{naming.PREFIX}*.sock"))


def running(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The status of each service listening in ``folder``, and what was wrong with the
    other socket files there (those of services that are gone are removed)."""
    found, problems = [], []
    for path in sockets(folder):
        try:
            found.append(client.ask(path, "status"))
        except (FileNotFoundError, ConnectionRefusedError):
            client.remove_if_dead(path)
        except (ServiceUnavailable, OSError) as exc:
            problems.append(f"{path}: {exc}")
    return found, problems


def this_configuration(args: argparse.Namespace) -> naming.Address | None:
    """The address of the service for the command's configuration; None (said on stderr)
    when there is no usable folder for services."""
    try:
        folder = naming.service_folder()
    except ServiceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return naming.Address(folder, naming.service_key(args.settings, args.config))


def cmd_status(args: argparse.Namespace) -> int:
    expected = this_configuration(args)
    if expected is None:
        return 1
    folder = expected.folder
    services, problems = running(folder)
    if args.json:
        report = {
            "folder": str(folder),
            "expected": {"key": expected.key, "socket": str(expected.socket), "version": naming.version()},
            "services": services,
            "problems": problems,
        }
        print(json.dumps(report, indent=2))
        return 0
    if not services:
        print(f"no model service running (sockets in {folder}); `copilot-lsp serve` starts one")
    for service in services:
        print(describe(service, service.get("key") == expected.key))
    for problem in problems:
        print(f"refused: {problem}")
    return 0


def describe(service: dict[str, Any], this_config: bool) -> str:
    uptime = int(service.get("uptime_s", 0))
    mark = " (this configuration)" if this_config else ""
    memory = service.get("rss_bytes", 0) / 2**20
    lines = [
        f"service pid {service.get('pid')}{mark}: copilot-lsp {service.get('copilot-lsp')}, key {service.get('key')}, "
        f"up {uptime // 3600}h{uptime // 60 % 60:02d}m{uptime % 60:02d}s, {memory:.0f} MiB resident",
        f"  socket   {service.get('socket')}",
        f"  log      {service.get('log')}",
        f"  model    {service.get('model')}",
    ]
    for engine in service.get("engines", []):
        used, slots, name = len(engine.get("sequences", {})), engine.get("kv_slots"), Path(engine["model"]).name
        lines.append(f"  engine   {name}: {engine['users']} session(s), KV sequences {used}/{slots}")
    sessions = service.get("sessions", [])
    idle = f"; stops after {service.get('idle_shutdown_s', 0):g} s without one" if not sessions else ""
    lines.append(f"  sessions {len(sessions)} now, {service.get('sessions_served', 0)} since start{idle}")
    for session in sessions:
        sequences = ", ".join(f"{uri} -> {slot}" for uri, slot in session.get("kv_sequences", {}).items()) or "none"
        lines.append(
            f"    {session['label']}: {session['open_documents']} open document(s), "
            f"{session['answered']} answered; KV sequences: {sequences}"
        )
    return "\n".join(lines)


def cmd_stop(args: argparse.Namespace) -> int:
    address = this_configuration(args)
    if address is None:
        return 1
    folder, this = address.folder, address.socket
    targets = sockets(folder) if args.all else [this]
    stopped = 0
    failed = False
    for path in targets:
        try:
            answer = client.ask(path, "stop")
        except (FileNotFoundError, ConnectionRefusedError):
            client.remove_if_dead(path)
            continue
        except (ServiceUnavailable, OSError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            failed = True
            continue
        wait_gone(path, answer.get("pid"))
        print(f"stopped the model service pid {answer.get('pid')} (key {answer.get('key')})")
        stopped += 1
    if not stopped and not failed:
        others = len(sockets(folder))
        more = f" ({others} other(s) running: --all stops them)" if others and not args.all else ""
        print(f"no model service running{' for this configuration' if not args.all else ''}{more}")
    return 1 if failed else 0


def wait_gone(path: Path, pid: Any) -> None:
    """Until the service has left (its process, or at least its socket), or STOP_WAIT_S."""
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        alive = isinstance(pid, int) and _alive(pid)
        if not alive and not path.exists():
            return
        if not isinstance(pid, int) and not path.exists():
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/status").read_text()
        return "\nState:\tZ" not in status
    return False


def doctor_check(args: argparse.Namespace) -> Check:
    """``copilot-lsp doctor``'s line about the service of this configuration."""
    from copilot import paths
    from copilot.doctor import Check  # the model checks import llama.cpp: only for doctor

    config, config_file = args.settings, args.config
    if not naming.service_enabled(config):
        detail = f"off (service.enabled = false or {naming.SERVICE_ENV}=0): each editor's `serve` loads its own model"
        return Check(name="service", ok=True, detail=detail)
    folder, problems = paths.service_dir()
    if folder is None:
        return Check(
            name="service",
            ok=False,
            detail="no folder for its socket: " + "; ".join(problems) + " (each editor then loads its own model)",
            fix="set XDG_RUNTIME_DIR to a folder of yours with mode 0700, or service.enabled = false",
        )
    path = naming.Address(folder, naming.service_key(config, config_file)).socket
    others = len([other for other in sockets(folder) if other != path])
    elsewhere = f"; {others} other service(s) running: copilot-lsp service status" if others else ""
    try:
        answer = client.ask(path, "status")
    except (FileNotFoundError, ConnectionRefusedError):
        detail = f"not running: the first editor's `serve` starts it ({path}){elsewhere}"
        return Check(name="service", ok=True, detail=detail)
    except (ServiceUnavailable, OSError) as exc:
        detail = f"{exc}: not used, the next `serve` replaces it{elsewhere}"
        return Check(name="service", ok=True, warning=True, detail=detail)
    uptime, memory = int(answer.get("uptime_s", 0)), answer.get("rss_bytes", 0) / 2**20
    detail = (
        f"running: pid {answer.get('pid')}, copilot-lsp {answer.get('copilot-lsp')}, up {uptime // 60} min, "
        f"{len(answer.get('sessions', []))} session(s), {memory:.0f} MiB ({path}){elsewhere}"
    )
    return Check(name="service", ok=True, detail=detail)
