"""Real servers in tests, benchmarks and doc scripts: a free loopback port, and waiting until a
``loopwise serve`` answers ``/ready``."""

from __future__ import annotations

import socket
import time

import httpx


def free_port() -> int:
    """A TCP port nothing listens on at the moment (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(base: str, seconds: float = 20.0) -> bool:
    """Whether ``base``'s ``/ready`` answers 200 within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False
