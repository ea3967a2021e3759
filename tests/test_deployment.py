"""The container image's commands, run outside Docker (there is no Docker engine here).

The test reads the Dockerfile and compose.yaml, lays out what the image would hold (the build
stage's `pip install .` of pyproject.toml, README.md and app/ into a fresh virtualenv; the
runtime stage's alembic.ini, migrations/ and openapi/ in the working directory), and runs the
compose services' commands with compose's production environment against a PostgreSQL database
made for the test: `rapport migrate`, then the API and a worker side by side, until the image's
HEALTHCHECK command passes on the configured port. What Docker itself adds (the filesystem
isolation, the network between containers, the `db` and `redis` host names) is not exercised:
the database URL points at the test's PostgreSQL instead of `db`, the Redis URL at the tests'
Redis instead of `redis`.

It installs the package and its dependencies from the package index (about a minute), so it runs
once, in the PostgreSQL half of `make test`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rapport_dev.ports import free_port
from tests.conftest import BACKEND, POSTGRES_SERVER, _admin
from tests.test_rate_limits import REDIS_URL

REPO = Path(__file__).resolve().parents[1]

# Reading the files runs in both halves; running the commands only in the PostgreSQL one.
runs_the_image = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="runs once, in the PostgreSQL half of make test (production needs PostgreSQL)",
)


# --- reading the Dockerfile and compose.yaml ------------------------------------------------


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage name, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction == "FROM":
            current = stages.setdefault(rest.split(" AS ")[-1].strip(), [])
        current.append((instruction, rest.strip()))
    return stages


def copies(stage: list[tuple[str, str]]) -> list[str]:
    """Sources of the stage's COPY instructions from the build context."""
    found = []
    for instruction, rest in stage:
        if instruction == "COPY" and not rest.startswith("--from"):
            found += rest.split()[:-1]
    return found


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction, rest in stage:
        if instruction == "ENV":
            values |= dict(pair.split("=", 1) for pair in rest.split())
    return values


def exec_form(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    (rest,) = [r for i, r in stage if i == instruction]
    if instruction == "HEALTHCHECK":
        rest = rest.split(" CMD ", 1)[1]
    return json.loads(rest)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message}."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def compose_services(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    raw = yaml.safe_load((REPO / "compose.yaml").read_text())
    return {
        name: service
        | {"environment": {k: interpolate(str(v), env) for k, v in service["environment"].items()}}
        if "environment" in service
        else service
        for name, service in raw["services"].items()
    }


def test_the_image_and_compose_file_describe_api_worker_and_postgresql() -> None:
    stages = dockerfile_stages()
    runtime = stages["runtime"]
    assert copies(stages["build"]) == ["pyproject.toml", "README.md", "app"]  # no rapport_dev
    assert exec_form(runtime, "CMD") == ["rapport", "serve"]
    assert exec_form(runtime, "HEALTHCHECK") == ["rapport", "healthcheck"]
    assert "RAPPORT_ENVIRONMENT" not in env_of(runtime)  # chosen where it runs
    # The API, not root, owns var/ (the matching index's shared generations are written there),
    # made before USER switches to it.
    steps = [(i, r) for i, r in runtime if i in ("RUN", "USER", "WORKDIR")]
    assert ("WORKDIR", "/srv/rapport") in steps
    made = steps.index(("RUN", "mkdir var && chown rapport:rapport var"))
    assert steps.index(("WORKDIR", "/srv/rapport")) < made < steps.index(("USER", "rapport"))
    services = compose_services({"POSTGRES_PASSWORD": "x", **PRODUCTION_SECRETS})
    assert set(services) == {"db", "redis", "migrate", "api", "worker"}
    assert services["db"]["image"].startswith("postgres:")
    # One Redis shared by the API processes (rate limits, read-your-writes), which wait for it.
    assert services["redis"]["image"].startswith("redis:")
    for name in ("api", "worker"):
        assert services[name]["environment"]["RAPPORT_REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["api"]["command"] == ["rapport", "serve", "--no-migrate"]
    assert services["worker"]["command"] == ["rapport", "worker"]
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert services["api"]["environment"]["RAPPORT_ENVIRONMENT"] == "production"
    # Every variable compose sets is a documented setting.
    documented = set(re.findall(r"`(RAPPORT_[A-Z_]+)`", (REPO / "docs/deployment.md").read_text()))
    assert set(services["api"]["environment"]) <= documented


# --- running the commands ---------------------------------------------------------------------

PRODUCTION_SECRETS = {
    "RAPPORT_SECRET_KEY": secrets.token_urlsafe(48),
    "RAPPORT_PUBLIC_URL": "https://api.rapport.example",
    "RAPPORT_STRIPE_API_KEY": "sk_test_deployment_check",
    "RAPPORT_STRIPE_WEBHOOK_SECRET": "whsec_deployment_check",
}


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's /opt/venv and /srv/rapport, built the way the Dockerfile builds them."""
    root = tmp_path_factory.mktemp("image")
    stages = dockerfile_stages()
    context = root / "src"
    context.mkdir()
    for source in copies(stages["build"]):
        (shutil.copytree if (REPO / source).is_dir() else shutil.copy)(
            REPO / source, context / source
        )
    shutil.rmtree(context / "app" / "__pycache__", ignore_errors=True)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    install = subprocess.run(  # noqa: S603 - the venv's own pip
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{context}/"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    srv = root / "srv"
    srv.mkdir()
    for source in copies(stages["runtime"]):
        (shutil.copytree if (REPO / source).is_dir() else shutil.copy)(REPO / source, srv / source)
    return root


@pytest.fixture(scope="module")
def deployment_database() -> Iterator[str]:
    name = f"rapport_deploy_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _environment(image: Path, database_url: str, port: int) -> dict[str, str]:
    services = compose_services(
        {"POSTGRES_PASSWORD": "unused", "RAPPORT_PORT": str(port), **PRODUCTION_SECRETS}
    )
    env = {"PATH": f"{image / 'venv' / 'bin'}:/usr/bin:/bin", "HOME": str(image)}
    env |= env_of(dockerfile_stages()["runtime"])  # the image's ENV
    env["PATH"] = f"{image / 'venv' / 'bin'}:/usr/bin:/bin"  # /opt/venv/bin is here
    env |= services["api"]["environment"]
    assert services["worker"]["environment"] == services["api"]["environment"]
    env["RAPPORT_DATABASE_URL"] = database_url  # instead of the `db` container
    # … and the test Redis instead of the `redis` container, under a key prefix of its own.
    env["RAPPORT_REDIS_URL"] = REDIS_URL
    env["RAPPORT_REDIS_KEY_PREFIX"] = "rapport-deploy-" + secrets.token_hex(4)
    return env


def _run(image: Path, env: dict[str, str], command: list[str], **kw: Any) -> Any:
    return subprocess.run(  # noqa: S603 - the image's own commands
        command, cwd=image / "srv", env=env, capture_output=True, text=True, **kw
    )


@runs_the_image
def test_migrate_then_api_and_worker_run_and_pass_the_health_check(
    image: Path, deployment_database: str
) -> None:
    port = free_port()
    env = _environment(image, deployment_database, port)
    services = compose_services({"POSTGRES_PASSWORD": "x", **PRODUCTION_SECRETS})
    healthcheck = exec_form(dockerfile_stages()["runtime"], "HEALTHCHECK")

    # The dev tools are not in the image.
    assert _run(image, env, ["python", "-c", "import rapport_dev"]).returncode == 1

    migrated = _run(image, env, services["migrate"]["command"], timeout=120)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert _run(image, env, healthcheck, timeout=30).returncode == 1  # nothing listens yet

    processes = {
        name: subprocess.Popen(  # noqa: S603
            services[name]["command"],
            cwd=image / "srv",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("api", "worker")
    }
    try:
        deadline = time.monotonic() + 180  # generous: a busy machine starts slowly
        while True:
            check = _run(image, env, healthcheck, timeout=30)
            if check.returncode == 0:
                break
            assert processes["api"].poll() is None, processes["api"].communicate()[0]
            assert time.monotonic() < deadline, check.stderr
            time.sleep(0.5)
        assert f"http://127.0.0.1:{port}/healthz answered 200" in check.stdout

        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, trust_env=False, timeout=30) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["database"] == "reachable"
            assert ready.json()["migration"] is not None
            assert http.get("/static/docs/swagger-ui-bundle.js").status_code == 200
            page = http.get("/payouts/onboarding/refresh")
            assert page.status_code == 200 and "link expired" in page.text
            # Production allows no browser origin unless RAPPORT_CORS_ORIGINS names it.
            preflight = http.options(
                "/v1/briefs",
                headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
            )
            assert "access-control-allow-origin" not in preflight.headers
        readyz = _run(image, env, [*healthcheck, "--path", "/readyz"], timeout=30)
        assert readyz.returncode == 0, readyz.stderr
        time.sleep(2)  # a few worker polls
        assert processes["worker"].poll() is None, processes["worker"].communicate()[0]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        outputs = {name: p.communicate(timeout=30)[0] for name, p in processes.items()}
    # Both stop cleanly on SIGTERM (what `docker stop` sends).
    assert processes["worker"].returncode == 0, outputs["worker"]
    # uvicorn shuts down gracefully, then raises the SIGTERM it caught again, which `rapport
    # serve` turns into exit status 128 + 15 (after stopping any child it started).
    assert processes["api"].returncode == 128 + signal.SIGTERM, outputs["api"]
    assert "Application shutdown complete." in outputs["api"]
    assert "Traceback" not in outputs["api"] + outputs["worker"]


@runs_the_image
def test_production_without_its_settings_refuses_in_one_line_per_problem(
    image: Path,
) -> None:
    env = env_of(dockerfile_stages()["runtime"]) | {
        "PATH": f"{image / 'venv' / 'bin'}:/usr/bin:/bin",
        "RAPPORT_ENVIRONMENT": "production",
    }
    refused = _run(image, env, ["rapport", "serve", "--no-migrate"], timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "invalid configuration: Value error, RAPPORT_SECRET_KEY must be set to ≥ 32 random chars"
    ]
    assert os.environ.get("RAPPORT_ENVIRONMENT") != "production"  # the test's own env untouched
