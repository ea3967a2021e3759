"""docs/partners.md runs: its curl and Python examples, in order, as written, against `rapport
serve` (a real process on a free port: its own scratch database of the suite's backend, the
embedded worker relaying webhooks, the local Stripe sandbox child, the wall clock), with a
webhook receiver of our own. The conventions the guide follows are tests/doc_examples.py's.

A wrong example — a field renamed, a status changed, a flag missing — fails here, naming the
block and what it printed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import scratch_database
from tests.doc_examples import BlockFailed, GuideRunner, blocks, environment, expectations
from tests.serve_support import Served, rapport_serve

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "partners.md"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`rapport serve` on a scratch database, its worker relaying webhooks (on PostgreSQL too)
    without delay."""
    folder = tmp_path_factory.mktemp("serve")
    with (
        scratch_database(folder, "rapport_guide") as url,
        rapport_serve(folder, url, embedded_worker="true", worker_poll_seconds="0.2") as server,
    ):
        yield server


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


def test_the_partners_guide_runs_as_written(served, webhook_receiver, tmp_path):
    url, inbox = webhook_receiver
    work = tmp_path / "guide"
    work.mkdir()
    env = environment(RAPPORT=served.url, WEBHOOK_URL=url, WEBHOOK_INBOX=str(inbox))
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
    with httpx.Client(base_url=served.url) as api:
        assert api.get("/readyz").status_code == 200


def test_a_wrong_example_fails(served, tmp_path):
    """The runner is no rubber stamp: a shown answer that differs, a failing request and a
    Python error each fail their block."""
    env = environment(RAPPORT=served.url)
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
