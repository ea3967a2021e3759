"""The `rapport` command answers a mistake with a message naming it, never a traceback: a bad
argument (typer's usage error), a bad RAPPORT_* variable, and the dev tools (rapport_dev) missing
from an install made of `app/` alone, as in the production image."""

from __future__ import annotations

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
