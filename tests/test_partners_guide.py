"""docs/partners.md runs: its curl and Python examples, in order, as written, against `rapport
serve` (a real process on a free port: its own scratch database of the suite's backend, the
embedded worker relaying webhooks, the local Stripe sandbox child, the wall clock), with a
webhook receiver of our own. The conventions the guide follows are tests/doc_examples.py's.

A wrong example — a field renamed, a status changed, a flag missing — fails here, naming the
block and what it printed."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKEND, POSTGRES_SERVER, _admin
from tests.doc_examples import BlockFailed, GuideRunner, blocks, environment, expectations

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "partners.md"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def guide_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database of the suite's backend for this module's server, dropped after it."""
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('guide-db') / 'rapport.db'}"
        return
    name = f"rapport_guide_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def rapport_serve(
    tmp_path_factory: pytest.TempPathFactory, guide_database_url: str
) -> Iterator[Served]:
    """`rapport serve` in an empty folder on the suite's backend (a scratch database)."""
    api_port, stripe_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")} | {
        "PYTHONPATH": str(REPO),
        "RAPPORT_DATABASE_URL": guide_database_url,
        "RAPPORT_PORT": str(api_port),
        "RAPPORT_STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
        "RAPPORT_DEMO_DATA": "false",
        "RAPPORT_LOG_LEVEL": "WARNING",
        # The relay delivers webhooks from the API process, on PostgreSQL too, without delay.
        "RAPPORT_EMBEDDED_WORKER": "true",
        "RAPPORT_WORKER_POLL_SECONDS": "0.2",
        "RAPPORT_PASSWORD_TIME_COST": "1",
        "RAPPORT_PASSWORD_MEMORY_COST_KIB": "1024",
    }
    folder = tmp_path_factory.mktemp("serve")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (_listening(api_port) and _listening(stripe_port)):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "rapport serve did not come up"
            time.sleep(0.2)
        yield Served(f"http://127.0.0.1:{api_port}", process)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
        assert "Traceback" not in output, output


class _Inbox(BaseHTTPRequestHandler):
    folder: Path

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        name = f"{time.monotonic_ns()}.json"
        record = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.decode()}
        (self.folder / (name + ".part")).write_text(json.dumps(record))
        (self.folder / (name + ".part")).rename(self.folder / name)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook_receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A receiver on loopback that keeps every request it gets, as a file in its inbox."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    handler = type("Inbox", (_Inbox,), {"folder": inbox})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/rapport/webhooks", inbox
    finally:
        server.shutdown()
        server.server_close()


def test_the_partners_guide_runs_as_written(rapport_serve, webhook_receiver, tmp_path):
    url, inbox = webhook_receiver
    work = tmp_path / "guide"
    work.mkdir()
    env = environment(RAPPORT=rapport_serve.url, WEBHOOK_URL=url, WEBHOOK_INBOX=str(inbox))
    found = blocks(GUIDE.read_text())
    runner = GuideRunner(GUIDE, work, env)
    try:
        for block in found:
            runner.run(block)
    finally:
        runner.close()
    assert len(runner.ran) == len(found)
    # Every kind of example ran, and the answers the guide shows were checked.
    assert {b.language for b in found} == {"sh", "python"}
    assert sum(len(expectations(b.code)) for b in found if b.language == "sh") >= 10
    with httpx.Client(base_url=rapport_serve.url) as api:
        assert api.get("/readyz").status_code == 200


def test_a_wrong_example_fails(rapport_serve, tmp_path):
    """The runner is no rubber stamp: a shown answer that differs, a failing request and a
    Python error each fail their block."""
    env = environment(RAPPORT=rapport_serve.url)
    runner = GuideRunner(GUIDE, tmp_path, env)
    try:
        (shown,) = blocks(
            "```sh\n"
            'curl -s "$RAPPORT/.well-known/oauth-authorization-server"\n'
            '# {"issuer": "https://elsewhere.example", …}\n'
            "```\n"
        )
        with pytest.raises(BlockFailed, match="did not answer what it shows"):
            runner.run(shown)
        (missing,) = blocks('```sh\ncurl -s "$RAPPORT/v1/no-such-route"\n```\n')
        with pytest.raises(BlockFailed, match="exit 22"):
            runner.run(missing)
        (python,) = blocks("```python\nimport os\nassert os.environ['RAPPORT'] == 'x'\n```\n")
        with pytest.raises(BlockFailed, match="AssertionError"):
            runner.run(python)
        (right,) = blocks(
            "```sh\n"
            'curl -s "$RAPPORT/.well-known/oauth-authorization-server"\n'
            '# {"issuer": "http…", "grant_types_supported": [...], …}\n'
            "```\n"
        )
        runner.run(right)
    finally:
        runner.close()
