"""The `rapport` command answers a mistake with a message naming it, never a traceback: a bad
argument (typer's usage error), a bad RAPPORT_* variable, and the dev tools (rapport_dev) missing
from an install made of `app/` alone, as in the production image."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.settings import get_settings
from rapport_dev.ports import free_port, listening

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    get_settings.cache_clear()  # the CLI reads the environment each test sets
    yield CliRunner()
    get_settings.cache_clear()


def test_a_bad_date_names_the_option_without_a_traceback(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["seed", "--today", "12/02/2026", "--no-migrate"])
    assert result.exit_code == 2
    assert "Invalid value for '--today'" in result.output
    assert "'12/02/2026' is not a date in YYYY-MM-DD form" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a usage error, not a crash


def test_a_bad_since_names_the_option(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["reconcile", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "Invalid value for '--since'" in result.output
    assert "Traceback" not in result.output


def test_a_bad_setting_is_one_line_naming_the_variable(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["worker", "--once"], env={"RAPPORT_PORT": "eighty"})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("invalid configuration: RAPPORT_PORT: ")


def test_a_refused_production_setting_is_one_line(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        ["worker", "--once"],
        env={"RAPPORT_ENVIRONMENT": "production", "RAPPORT_SECRET_KEY": "short"},
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "invalid configuration: Value error, RAPPORT_SECRET_KEY must be set to ≥ 32 random chars"
    ]


@pytest.fixture(scope="module")
def app_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a copy of `app/` and nothing else: the production image's layout."""
    folder = tmp_path_factory.mktemp("app-only")
    shutil.copytree(REPO / "app", folder / "app", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _run_without_dev_tools(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -S: no site processing, so the editable install's finder (which maps rapport_dev to the
    # checkout) is not loaded; the installed libraries come from site-packages on sys.path.
    site_packages = sysconfig.get_paths()["purelib"]
    code = (
        "import sys; "
        f"sys.path[:0] = [{str(folder)!r}, {site_packages!r}]; "
        f"sys.argv = ['rapport', *{list(args)!r}]; "
        "from app.cli import main; main()"
    )
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-S", "-c", code],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "RAPPORT_LOG_LEVEL": "WARNING"},
    )


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["seed", "--no-migrate", "--listings", "0", "--brands", "0", "--briefs", "0"], "seed"),
        (["stripe-sandbox", "--port", "1"], "stripe-sandbox"),
    ],
)
def test_dev_commands_without_the_dev_tools_say_how_to_get_them(
    app_only: Path, args: list[str], command: str
) -> None:
    probe = _run_without_dev_tools(app_only, "--help")
    assert probe.returncode == 0, probe.stderr  # the app alone imports and runs
    result = _run_without_dev_tools(app_only, *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines() == [
        f"rapport {command}: the development tools (rapport_dev) are not installed here; "
        "from a checkout: pip install -e '.[dev]'"
    ]


def test_serve_comes_up_with_demo_data_sandbox_and_docs_and_sigterm_stops_both(
    tmp_path: Path,
) -> None:
    """What `make run` does, in an empty folder: migrate, seed the demo, start the Stripe
    sandbox child, serve; SIGTERM (a `kill`) stops the API and the sandbox child with it."""
    import signal
    import time

    import httpx

    api_port, stripe_port = free_port(), free_port()
    env = os.environ | {
        "RAPPORT_PORT": str(api_port),
        "RAPPORT_STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
        "RAPPORT_LOG_LEVEL": "WARNING",
        # Cheap hashing for the demo accounts; everything else is make run's default.
        "RAPPORT_PASSWORD_TIME_COST": "1",
        "RAPPORT_PASSWORD_MEMORY_COST_KIB": "1024",
    }
    env.pop("RAPPORT_DATABASE_URL", None)
    env.pop("RAPPORT_ENVIRONMENT", None)
    serve = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (listening(api_port) and listening(stripe_port)):
            assert serve.poll() is None, serve.communicate()[0]
            assert time.monotonic() < deadline, "rapport serve did not come up"
            time.sleep(0.2)
        base = f"http://127.0.0.1:{api_port}"
        with httpx.Client(base_url=base, trust_env=False, timeout=30) as http:
            assert http.get("/readyz").status_code == 200
            assert "swagger-ui-bundle.js" in http.get("/docs").text
            signed_in = http.post(
                "/v1/auth/token",
                data={"username": "creator@demo.rapport.dev", "password": "rapport-demo-2026"},
            )
            assert signed_in.status_code == 200, signed_in.text
        assert (tmp_path / "var" / "rapport.db").exists()
    finally:
        serve.send_signal(signal.SIGTERM)
        output = serve.communicate(timeout=30)[0]
    deadline = time.monotonic() + 10
    while listening(stripe_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not listening(stripe_port), "the Stripe sandbox child outlived rapport serve"
    assert "seeded demo data" in output
    assert f"docs at http://127.0.0.1:{api_port}/docs" in output
    assert "Traceback" not in output


def test_serve_says_so_when_the_stripe_sandbox_cannot_start(tmp_path: Path) -> None:
    """A sandbox child that dies at start (here: a state file it refuses to load) is reported,
    instead of "Stripe sandbox on …" over a dead process, and the API still comes up."""
    import signal
    import time

    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "stripe-sandbox.json").write_text("{not json")
    api_port, stripe_port = free_port(), free_port()
    env = os.environ | {
        "RAPPORT_PORT": str(api_port),
        "RAPPORT_STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
        "RAPPORT_DEMO_DATA": "false",
        "RAPPORT_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    env.pop("RAPPORT_DATABASE_URL", None)
    env.pop("RAPPORT_ENVIRONMENT", None)
    serve = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not listening(api_port):
            assert serve.poll() is None, serve.communicate()[0]
            assert time.monotonic() < deadline, "rapport serve did not come up"
            time.sleep(0.2)
    finally:
        serve.send_signal(signal.SIGTERM)
        output = serve.communicate(timeout=30)[0]
    assert "the Stripe sandbox did not start (exit code" in output
    assert f"payments will answer 503 until one runs at http://127.0.0.1:{stripe_port}" in output
    assert f"Stripe sandbox on http://127.0.0.1:{stripe_port} (webhooks" not in output
    assert not listening(stripe_port)
