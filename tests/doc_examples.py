"""Runs a guide's examples (docs/partners.md): its fenced ```sh and ```python blocks, in document
order, against a real server, each one as written.

The conventions a guide follows so that it reads as a guide and runs as a test:

- ```sh blocks run in bash (`set -euo pipefail`), one after the other in one working folder; the
  variables a block sets (`TOKEN=…`) are there for the blocks after it, and exported, so the
  Python blocks see them in `os.environ` too. Every `curl` must get a 2xx answer (the runner
  adds `--fail-with-body`), unless the block is marked `<!-- example: errors -->` (it shows
  error answers on purpose).
- ```python blocks run in one interpreter (this venv's), sharing their names as one program
  does; `os.environ` is refreshed from the shell's variables before each block.
- A comment `# {"id": "cli_…", "status": "active", …}` (over one or more `#` lines) in a shell
  block is the answer the block prints: the runner finds a JSON document in the block's output
  that has those fields. `…` stands for anything: inside a string (`"cli_…"`: starts with
  `cli_`), as a value, or as the last member (other fields may follow); without it the object
  has exactly those fields.
- `<!-- example … -->` HTML comments (invisible once rendered) may hold blocks too: run in their
  place like the visible ones, they check what the visible ones did (`test "$STATUS" = active`,
  `assert …`) or play the parts a guide leaves to the reader (a user's browser, the receiver).
- Other blocks (```json, output, ```http) are only read.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```\n", re.S | re.M)
HIDDEN = re.compile(r"<!--\s*example\b((?:(?!-->)[^\n])*)\n(.*?)-->", re.S)
MARK = re.compile(r"<!--\s*example:\s*([a-z-]+)\s*-->\s*\Z")
RUNNABLE = ("sh", "python")


@dataclass
class Block:
    language: str
    code: str
    line: int  # where it starts in the guide (1-based)
    hidden: bool = False
    marks: set[str] = field(default_factory=set)

    def where(self) -> str:
        return f"{'hidden ' if self.hidden else ''}{self.language} block at line {self.line}"


def blocks(text: str) -> list[Block]:
    """The runnable blocks of a guide, in order, visible and hidden."""
    found: list[Block] = []
    hidden_spans = []
    for comment in HIDDEN.finditer(text):
        hidden_spans.append(comment.span())
        for fence in FENCE.finditer(comment.group(2)):
            if fence.group(1) in RUNNABLE:
                start = comment.start(2) + fence.start()
                line = text.count("\n", 0, start) + 1
                found.append(Block(fence.group(1), fence.group(2), line, hidden=True))
    for fence in FENCE.finditer(text):
        if fence.group(1) not in RUNNABLE:
            continue
        if any(a <= fence.start() < b for a, b in hidden_spans):
            continue
        marks = set()
        before = MARK.search(text[max(0, fence.start() - 200) : fence.start()])
        if before:
            marks.add(before.group(1))
        line = text.count("\n", 0, fence.start()) + 1
        found.append(Block(fence.group(1), fence.group(2), line, marks=marks))
    return sorted(found, key=lambda b: b.line)


# --- expected answers --------------------------------------------------------------------------

ANY = "\u2026"  # …


def expectations(code: str) -> list[Any]:
    """The `# {…}` answers a shell block shows, as patterns."""
    shown, current = [], ""
    for line in code.splitlines():
        stripped = line.strip()
        if stripped.startswith("# {") and not current:
            current = stripped[2:]
        elif current and stripped.startswith("#"):
            current += " " + stripped[1:].strip()
        elif current:
            shown.append(current)
            current = ""
        if current and _balanced(current):
            shown.append(current)
            current = ""
    if current:
        shown.append(current)
    return [_pattern(s) for s in shown]


def _balanced(text: str) -> bool:
    return text.count("{") == text.count("}") and text.count("[") == text.count("]")


def _pattern(text: str) -> Any:
    """`{"id": "cli_…", "scopes": [...], …}` as JSON, `…` outside strings made a marker."""
    out, in_string, i = [], False, 0
    while i < len(text):
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\":
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch == ANY or text.startswith("...", i):
            # a trailing member (`, …}`) or a value (`: …` / `[…]`)
            previous = "".join(out).rstrip()
            marker = f'"{ANY}": "{ANY}"' if previous.endswith(("{", ",")) else f'"{ANY}"'
            out.append(marker)
            i += 0 if ch == ANY else 2
        else:
            out.append(ch)
        i += 1
    return json.loads("".join(out).replace(f'["{ANY}"]', f'"{ANY}"'))


def matches(pattern: Any, value: Any) -> bool:
    if pattern == ANY:
        return True
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        keys = set(pattern) - {ANY}
        if ANY not in pattern and keys != set(value):
            return False
        return keys <= set(value) and all(matches(pattern[k], value[k]) for k in keys)
    if isinstance(pattern, list):
        return (
            isinstance(value, list)
            and len(pattern) == len(value)
            and all(matches(p, v) for p, v in zip(pattern, value, strict=True))
        )
    if isinstance(pattern, str) and ANY in pattern:
        regex = ".*".join(re.escape(part) for part in pattern.split(ANY))
        return isinstance(value, str) and re.fullmatch(regex, value, re.S) is not None
    return bool(pattern == value and type(pattern) is type(value))


def json_documents(output: str) -> list[Any]:
    """Every JSON object or array printed in `output` (curl prints them back to back)."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while i < len(output):
        if output[i] in "{[":
            try:
                document, end = decoder.raw_decode(output, i)
            except ValueError:
                i += 1
                continue
            found.append(document)
            i = end
        else:
            i += 1
    return found


# --- running -----------------------------------------------------------------------------------

_PYTHON_CHILD = r"""
import contextlib, io, json, os, sys, traceback
namespace = {"__name__": "__guide__"}
for line in sys.stdin:
    request = json.loads(line)
    os.environ.clear()
    os.environ.update(request["env"])
    out = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(request["code"], request["name"], "exec"), namespace)
    except BaseException:
        error = traceback.format_exc()
    sys.__stdout__.write(json.dumps({"stdout": out.getvalue(), "error": error}) + "\n")
    sys.__stdout__.flush()
"""


class BlockFailed(AssertionError):
    pass


class GuideRunner:
    """Runs blocks in order in `folder` with `env`; raises BlockFailed on the first that fails."""

    def __init__(self, guide: Path, folder: Path, env: dict[str, str]) -> None:
        self.guide = guide
        self.folder = folder
        self.state = folder / ".guide-env"
        self.env = env
        self.python = subprocess.Popen(  # noqa: S603 - this venv's interpreter
            [sys.executable, "-c", _PYTHON_CHILD],
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ran: list[Block] = []

    def close(self) -> None:
        assert self.python.stdin is not None
        self.python.stdin.close()
        self.python.wait(timeout=10)

    def shell_env(self) -> dict[str, str]:
        """The exported variables after the last shell block."""
        if not self.state.exists():
            return dict(self.env)
        dump = subprocess.run(  # noqa: S603
            ["bash", "-c", f"source {shlex.quote(str(self.state))}; env -0"],  # noqa: S607
            env=self.env,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)

    def run(self, block: Block, timeout: float = 60) -> str:
        output = self._sh(block, timeout) if block.language == "sh" else self._py(block)
        self.ran.append(block)
        return output

    def _sh(self, block: Block, timeout: float) -> str:
        state = shlex.quote(str(self.state))
        wrapper = (
            "" if "errors" in block.marks else 'curl() { command curl --fail-with-body "$@"; }\n'
        )
        script = (
            "set -euo pipefail\n"
            f"if [ -f {state} ]; then source {state}; fi\n"
            "set -a\n" + wrapper + block.code + f"\nexport -p > {state}\n"
        )
        done = subprocess.run(  # noqa: S603
            ["bash", "-c", script],  # noqa: S607
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise BlockFailed(
                f"{self.guide.name}: the {block.where()} failed (exit {done.returncode}):\n"
                f"{block.code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        printed = json_documents(done.stdout)
        for pattern in expectations(block.code):
            if not any(matches(pattern, document) for document in printed):
                raise BlockFailed(
                    f"{self.guide.name}: the {block.where()} did not answer what it shows:\n"
                    f"{json.dumps(pattern, ensure_ascii=False)}\n--- it printed\n{done.stdout}"
                )
        return done.stdout

    def _py(self, block: Block) -> str:
        assert self.python.stdin is not None and self.python.stdout is not None
        request = {"env": self.shell_env(), "code": block.code, "name": block.where()}
        self.python.stdin.write(json.dumps(request) + "\n")
        self.python.stdin.flush()
        line = self.python.stdout.readline()
        if not line:
            raise BlockFailed(f"{self.guide.name}: the Python interpreter died at {block.where()}")
        answer = json.loads(line)
        if answer["error"]:
            raise BlockFailed(
                f"{self.guide.name}: the {block.where()} failed:\n{block.code}\n"
                f"--- printed\n{answer['stdout']}\n--- error\n{answer['error']}"
            )
        return str(answer["stdout"])


def environment(**values: str) -> dict[str, str]:
    """A clean environment for the guide's commands: PATH and HOME, and `values`."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return keep | {"NO_PROXY": "127.0.0.1,localhost"} | values
