"""What the benchmark scripts share: the machine they ran on, the commit, ports, a process's CPU.

Imported by benchmarks/api/bench.py, benchmarks/load/run.py and benchmarks/matching/
(throughput.py, report.py, outside.py) as `benchmarks.common`, with the repository's root on
`sys.path`. Each script keeps the keys its results files already use (`machine()` there maps
these facts to them), so earlier results stay readable.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path

from rapport_dev.ports import free_port as free_port  # the scripts' one copy

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def memory_gb() -> float | None:
    """Total memory in GiB (/proc/meminfo), one decimal; None where it cannot be read."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        return round(kib / 1024 / 1024, 1)
    return None


def kernel() -> str:
    return platform.release()


def git_commit() -> str:
    """The short commit of the checkout the scripts run from ("unknown" outside git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After the command: state is field 3, so utime (14) and stime (15) are [11] and [12].
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
