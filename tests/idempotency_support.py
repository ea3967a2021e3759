"""A Rapport API in a process of its own (uvicorn), for tests that kill it with SIGKILL at a chosen
moment: a real process death, not a cancelled task.

`create_app_to_kill` is the uvicorn factory run in the child process. It serves the app on the
test database with the test clock (frozen at T0), behind one test-only wrapper: a request with
`X-Test-Die: at-response` kills the process the instant the app starts sending its response —
after the request's transaction committed, before the client sees a byte. The header is not part
of an Idempotency-Key's fingerprint, so a retry without it is the same request.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.clock import Clock
from tests.factories import T0

DATABASE_ENV = "RAPPORT_TEST_KILLABLE_DATABASE_URL"
DIE_HEADER = "X-Test-Die"
ROOT = Path(__file__).resolve().parents[1]


class _DieAtResponse:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        if headers.get(DIE_HEADER.lower().encode()) != b"at-response":
            await self.app(scope, receive, send)
            return

        async def send_or_die(message: Message) -> None:
            if message["type"] == "http.response.start":
                os.kill(os.getpid(), signal.SIGKILL)
            await send(message)

        await self.app(scope, receive, send_or_die)


def create_app_to_kill() -> ASGIApp:
    from app.main import create_app
    from tests.conftest import make_settings

    settings = make_settings(os.environ[DATABASE_ENV], embedded_worker=False)
    return _DieAtResponse(create_app(settings, clock=Clock(frozen_at=T0)))


class KillableApi:
    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url

    def client(self, timeout: float = 30) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    @property
    def died_by_sigkill(self) -> bool:
        return self.process.wait(timeout=10) == -signal.SIGKILL


@contextmanager
def killable_api(database_url: str) -> Iterator[KillableApi]:
    """Starts the API in a child process on a free port and waits until it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "tests.idempotency_support:create_app_to_kill",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--lifespan",
        "off",
    ]
    env = os.environ | {DATABASE_ENV: database_url}
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    api = KillableApi(process, f"http://127.0.0.1:{port}")
    try:
        # Generous: only a process that never answers waits it out, and importing the app on a
        # machine busy with other work took longer than 30 s.
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the API process exited with {process.returncode}")
            try:
                if httpx.get(api.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API process did not start")
            time.sleep(0.1)
        yield api
    finally:
        api.kill()
