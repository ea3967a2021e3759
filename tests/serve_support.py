"""`rapport serve` as a real process for the tests that need one (the partner's guide, the partner
flow): an empty folder, a scratch database of the suite's backend, free ports, the local Stripe
sandbox child, the wall clock; stopped with SIGTERM and checked for tracebacks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rapport_dev.ports import free_port, listening

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")


@contextmanager
def rapport_serve(folder: Path, database_url: str, **settings: str) -> Iterator[Served]:
    """`rapport serve` in `folder` on `database_url`; `settings` are more RAPPORT_ variables
    (`EMBEDDED_WORKER="true"`). Its output goes to `folder/serve.log`."""
    api_port, stripe_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")} | {
        "PYTHONPATH": str(REPO),
        "RAPPORT_DATABASE_URL": database_url,
        "RAPPORT_PORT": str(api_port),
        "RAPPORT_STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
        "RAPPORT_DEMO_DATA": "false",
        "RAPPORT_LOG_LEVEL": "WARNING",
        # Cheap hashing keeps the tests fast; production parameters are the defaults.
        "RAPPORT_PASSWORD_TIME_COST": "1",
        "RAPPORT_PASSWORD_MEMORY_COST_KIB": "1024",
    }
    env |= {f"RAPPORT_{name.upper()}": value for name, value in settings.items()}
    output = folder / "serve.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{api_port}", process, output)
    try:
        deadline = time.monotonic() + 120
        while not (listening(api_port) and listening(stripe_port)):
            assert process.poll() is None, served.log()
            assert time.monotonic() < deadline, "rapport serve did not come up"
            time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert "Traceback" not in served.log(), served.log()
