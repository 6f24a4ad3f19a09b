"""The address of ``copilot-lsp serve --tcp HOST:PORT``: parsed, refused when other machines
could reach it (unless ``--allow-remote``), and checked free before the server says it is
listening."""

from __future__ import annotations

import errno
import ipaddress
import socket

from copilot.errors import CopilotError

DEFAULT_HOST = "127.0.0.1"


class AddressError(CopilotError):
    """``--tcp`` is not HOST:PORT (a usage error: exit status 2)."""


def parse_address(spec: str) -> tuple[str, int]:
    """(host, port) from ``HOST:PORT``, ``:PORT`` or ``[::1]:PORT``."""
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(f"--tcp expects HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:2087), got {spec!r}")
    return host.removeprefix("[").removesuffix("]") or DEFAULT_HOST, int(port)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback one (127.0.0.0/8, ::1), so that only
    this machine can connect; a name that does not resolve is not (its bind fails later)."""
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        pass
    try:
        addresses = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False
    return bool(addresses) and all(
        ipaddress.ip_address(str(address[0]).partition("%")[0]).is_loopback for *_, address in addresses
    )


def check_remote(host: str, port: int, allowed: bool) -> None:
    """AddressError when ``host`` is reachable from other machines and ``--allow-remote`` is not given."""
    if not allowed and not is_loopback(host):
        raise AddressError(
            f"{host}:{port} is reachable from other machines, and the server has no authentication and no "
            "encryption (anyone who reaches the port can send code, read completions and use the model and "
            f"the cache): listen on 127.0.0.1:{port} (with an SSH tunnel for other machines), or add "
            "--allow-remote on a trusted network"
        )


def bind_error(host: str, port: int, exc: OSError) -> CopilotError:
    if exc.errno == errno.EADDRINUSE:
        return CopilotError(
            f"port {port} on {host} is already in use (another copilot-lsp serve?): stop that server, or choose "
            f"another port: make run PORT={port + 1}, or copilot-lsp serve --tcp {host}:{port + 1}"
        )
    return CopilotError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def check_port(host: str, port: int) -> None:
    """CopilotError when the server could not bind ``host:port``: each address the name has,
    bound as asyncio's server binds them (SO_REUSEADDR, IPv6 sockets IPv6-only)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CopilotError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise bind_error(host, port, exc) from None
