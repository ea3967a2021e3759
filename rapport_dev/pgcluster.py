"""Scratch PostgreSQL clusters: a primary and a streaming standby of it, on free ports, for
`make load --replica` (benchmarks/load/run.py) and the read-replica tests
(tests/test_read_replica.py). Development only; production replicas are the operator's
(docs/deployment.md#read-replicas).

Each cluster is `initdb`'d into a temporary directory and its `postgres` runs as a child of the
calling process that dies with it (Linux: `PR_SET_PDEATHSIG` → SIGQUIT, PostgreSQL's immediate
shutdown), so a run stopped by Ctrl-C or even `kill -9` leaves no server behind; `stop()`
removes the directories, and `reap_orphans()` removes those of runs that died before they could.
The standby is `pg_basebackup -R` of the primary: a hot standby streaming its WAL.

The binaries are the Debian packages' (`/usr/lib/postgresql/<version>/bin`), else those on PATH.
`initdb` refuses to run as root: as root, the servers run as the `postgres` account.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rapport_dev.ports import free_port

PREFIX = "rapport-pg-"
OWNER_FILE = "rapport-owner-pid"

try:
    import ctypes

    _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):  # not Linux / glibc
    _PRCTL = None


def _quit_with_parent() -> None:
    # Between fork and exec, after the switch to the postgres account (a change of credentials
    # clears the setting, so it is made here, after it): SIGQUIT when the caller dies.
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGQUIT))  # PR_SET_PDEATHSIG


def bindir() -> Path:
    """The newest installed PostgreSQL's bin directory."""
    versions = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    numbered = [b for b in versions if b.parent.name.isdigit()]
    if numbered:
        return max(numbered, key=lambda b: int(b.parent.name))
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise FileNotFoundError(
        "no PostgreSQL server binaries (initdb): apt-get install postgresql, or put them on PATH"
    )


def _run_as() -> str | None:
    """The account the servers run as: `postgres` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root needs a `postgres` account for the servers") from exc
    return "postgres"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans() -> list[Path]:
    """Removes the scratch clusters of runs that died without cleaning up (their owner's pid
    is gone; their servers died with it). Another live run's clusters are left alone."""
    removed = []
    for directory in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        owner = directory / OWNER_FILE
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


@dataclass
class Server:
    """One running cluster."""

    name: str
    datadir: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"


@dataclass
class ScratchPair:
    """A scratch primary and, once `add_standby()` ran, its streaming standby."""

    root: Path
    user: str | None
    bin: Path
    primary: Server | None = None
    standby: Server | None = None
    progress: Callable[[str], None] = field(default=lambda _line: None)

    @classmethod
    def create(cls, progress: Callable[[str], None] | None = None) -> ScratchPair:
        reap_orphans()
        root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (root / OWNER_FILE).write_text(str(os.getpid()))
        user = _run_as()
        if user is not None:
            shutil.chown(root, user=user)
        return cls(root, user, bindir(), progress=progress or (lambda _line: None))

    def _tool(self, name: str, *args: str) -> None:
        done = subprocess.run(  # noqa: S603 - the PostgreSQL binaries, our arguments
            [str(self.bin / name), *args],
            user=self.user,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr.strip()}")

    def _serve(self, name: str, datadir: Path, settings: dict[str, str]) -> Server:
        port = free_port()
        log = self.root / f"{name}.log"
        options = {
            "port": str(port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "max_connections": "200",
            **settings,
        }
        argv = [str(self.bin / "postgres"), "-D", str(datadir)]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        with open(log, "ab") as out:
            process = subprocess.Popen(  # noqa: S603 - the PostgreSQL server, our arguments
                argv,
                user=self.user,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C is the caller's to handle, not the server's
                preexec_fn=_quit_with_parent,
            )
        server = Server(name, datadir, port, process, log)
        self._wait_ready(server)
        return server

    def _wait_ready(self, server: Server, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"{server.name} exited ({server.process.returncode}): "
                    + server.log.read_text()[-2000:]
                )
            ready = subprocess.run(  # noqa: S603
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{server.name} did not accept connections within {within} s")

    def _wait_streaming(self, server: Server, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            status = subprocess.run(  # noqa: S603
                [
                    str(self.bin / "psql"),
                    *("-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-XAtc"),
                    "SELECT status FROM pg_stat_wal_receiver",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if status.stdout.strip() == "streaming":
                return
            time.sleep(0.1)
        raise RuntimeError(f"{server.name} did not stream from the primary within {within} s")

    def start_primary(self, settings: dict[str, str] | None = None) -> Server:
        """initdb, then the server, with WAL for a streaming standby (pg_hba from initdb
        trusts local replication connections)."""
        datadir = self.root / "primary"
        started = time.monotonic()
        self.progress("scratch primary: initdb")
        self._tool(
            "initdb",
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        self.primary = self._serve(
            "primary",
            datadir,
            {"wal_level": "replica", "max_wal_senders": "5", **(settings or {})},
        )
        self.progress(
            f"scratch primary: port {self.primary.port} ({time.monotonic() - started:.1f} s)"
        )
        return self.primary

    def add_standby(self, settings: dict[str, str] | None = None) -> Server:
        """pg_basebackup -R of the primary (as it is now), started as a hot standby."""
        assert self.primary is not None, "start_primary() first"
        datadir = self.root / "standby"
        started = time.monotonic()
        self.progress("standby: pg_basebackup -R of the primary")
        self._tool(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            "postgres",
            "-D",
            str(datadir),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        self.standby = self._serve("standby", datadir, {"hot_standby": "on", **(settings or {})})
        self._wait_streaming(self.standby)
        self.progress(
            f"standby: port {self.standby.port}, streaming ({time.monotonic() - started:.1f} s)"
        )
        return self.standby

    def stop(self) -> None:
        """Stops both servers (immediate shutdown) and removes their directories."""
        for server in (self.standby, self.primary):
            if server is None or server.process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                server.process.send_signal(signal.SIGQUIT)
            try:
                server.process.wait(15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        self.progress("scratch clusters stopped and removed")
