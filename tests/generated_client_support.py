"""A client generated from `openapi/openapi.json` by `openapi-python-client` (no warning), once per
test run, for the tests that drive the served app with it (a pytest plugin of tests/conftest.py).

Fixture: `generated` (session): `generated("api.briefs.create_brief")` imports a module of the
generated package (`rapport_generated_client`).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "rapport_generated_client"


def generate(where: Path) -> None:
    """Generates the package into `where` / PACKAGE; fails on any warning."""
    config = where / "config.yaml"
    # No formatter run (nothing outside the venv). The report's charts (image/png,
    # image/svg+xml) are bytes to a client: the generator's documented override says so.
    config.write_text(
        "post_hooks: []\n"
        "content_type_overrides:\n"
        "  image/png: application/octet-stream\n"
        "  image/svg+xml: application/octet-stream\n"
    )
    result = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(SPEC),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Any]]:
    where = tmp_path_factory.mktemp("client")
    generate(where)
    sys.path.insert(0, str(where))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m.startswith(PACKAGE)]:
            del sys.modules[name]
