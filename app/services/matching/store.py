"""The listing index as files, shared by the API processes of one node.

One process builds the index (under a node-wide file lock) and writes its arrays as ``.npy``
files into a new generation directory; every process maps them copy-on-write
(``numpy.load(mmap_mode="c")``), so the node's processes share one copy in the page cache: N
processes use about one index's memory, not N. A process's own later changes (listings upserted
since the generation) touch only the pages they write, which become private to it.

Layout under the store's directory (one per database: its name hashes the URL)::

    CURRENT               the name of the newest complete generation (replaced atomically)
    gen-00000042/         one generation: one .npy per array, meta.json written last
    .tmp-gen-…/           a generation being written (never read; removed by the next writer)
    .lock                 held (flock) by the process that builds and writes a generation

A generation is complete once its directory is renamed from ``.tmp-…`` (after every file and
``meta.json``, which lists each file's size, are written and fsynced); CURRENT is replaced only
after that. A reader verifies every size before mapping, so a generation left half-written by a
crash, or truncated since, is never read: the next process builds a new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import gc
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import make_url

from app.services.matching import authenticity as au
from app.services.matching.index import IdColumn, ListingIndex, RowLookup
from app.services.matching.postings import Postings

# The files' layout and the columns' meaning: bump when a column is added or computed
# differently, so that a node never maps a generation the code cannot read (it rebuilds).
# 2: the spike_platform column (round 6); 3: last_post_day (the inactive gate); 4: spike_cl
# (round 6); 5: last_post_day from the recent posts when any is dated (sponsored posts else);
# 6: the content samples placed under topics (``samples``, ``samples_placed``: topic depth);
# 7: post captions placed with them (``evidence_mask``'s ``SAMPLES_CAPTIONED`` bit);
# 8: the topics' neighbours (``topic_adjacent``: lift of declaring both).
FORMAT = 8
CURRENT = "CURRENT"
KEEP = 2  # generations kept on disk: the current one and the one before (readers may map it)


def database_key(url: str) -> str:
    """A short name for the database an index is built from (the URL without its password)."""
    safe = make_url(url).render_as_string(hide_password=True)
    return hashlib.sha256(safe.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Generation:
    """A mapped generation: the index and what the builder recorded about the database."""

    name: str
    number: int
    index: ListingIndex
    stamp: dict[str, Any]


def _postings(index: ListingIndex) -> tuple[tuple[str, Postings], ...]:
    """The index's posting lists under the names their arrays are stored by."""
    return (("text", index.text), ("topics", index.topics), ("samples", index.samples))


def _per_topic(
    index: ListingIndex,
) -> tuple[tuple[str, dict[int, tuple[np.ndarray, np.ndarray]]], ...]:
    """The index's per-topic tables (topic -> (cols, vals)) under the names they are stored
    by: the topic profiles and the neighbouring topics."""
    return (("profiles", index.topic_profiles), ("adjacent", index.topic_adjacent))


def _read_per_topic(
    a: Mapping[str, np.ndarray], name: str
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """A per-topic table as `_arrays` stored it (views into the mapped arrays)."""
    ptr = a[f"{name}.indptr"]
    return {
        int(t): (a[f"{name}.cols"][ptr[i] : ptr[i + 1]], a[f"{name}.vals"][ptr[i] : ptr[i + 1]])
        for i, t in enumerate(a[f"{name}.topics"].tolist())
    }


def _arrays(index: ListingIndex) -> dict[str, np.ndarray]:
    arrays = {f"col.{k}": v for k, v in index.cols.items()}
    for part, postings in _postings(index):
        arrays[f"{part}.indptr"] = postings.indptr
        arrays[f"{part}.rows"] = postings.rows
        arrays[f"{part}.vals"] = postings.vals
    arrays["df"], arrays["idf"] = index.df, index.idf
    arrays["ids"] = index.ids.base
    arrays["row_of.keys"], arrays["row_of.rows"] = index.row_of.keys, index.row_of.rows
    for k, v in vars(index.stats).items():
        arrays[f"stats.{k}"] = np.asarray(v)
    for name, per_topic in _per_topic(index):
        topics = sorted(per_topic)
        arrays[f"{name}.topics"] = np.asarray(topics, dtype=np.int64)
        lengths = [len(per_topic[t][0]) for t in topics]
        arrays[f"{name}.indptr"] = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        cols = [per_topic[t][0] for t in topics]
        vals = [per_topic[t][1] for t in topics]
        arrays[f"{name}.cols"] = np.concatenate(cols) if cols else np.zeros(0, np.int32)
        arrays[f"{name}.vals"] = np.concatenate(vals) if vals else np.zeros(0, np.float32)
    return arrays


class IndexStore:
    """Generations of one database's listing index under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_database(cls, directory: Path, database_url: str) -> IndexStore:
        return cls(directory / database_key(database_url))

    def check_writable(self) -> None:
        """Raise OSError unless generations can be written here (made, then removed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f".tmp-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()

    # --- reading ------------------------------------------------------------------------

    def token(self) -> tuple[int, int, int] | None:
        """Changes whenever CURRENT is replaced (a stat, no read); None: no generation yet."""
        try:
            st = os.stat(self.root / CURRENT)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current_name(self) -> str | None:
        try:
            name = (self.root / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def load(self, name: str) -> Generation | None:
        """Map a generation's files (copy-on-write); None if it is missing or incomplete."""
        path = self.root / name
        try:
            meta = json.loads((path / "meta.json").read_text())
            if meta.get("format") != FORMAT:
                return None
            for file, size in meta["files"].items():
                if (path / file).stat().st_size != size:
                    return None
            arrays = {
                file[: -len(".npy")]: np.load(path / file, mmap_mode="c").view(np.ndarray)
                for file in meta["files"]
            }
        except (OSError, ValueError, KeyError):
            return None
        return Generation(name, int(meta["number"]), self._index(meta, arrays), meta["stamp"])

    def _index(self, meta: dict[str, Any], a: dict[str, np.ndarray]) -> ListingIndex:
        index = ListingIndex(as_of=date.fromisoformat(meta["as_of"]))
        index.auto_compact = False
        index.n, index.cap, index.n_dead = meta["n"], meta["cap"], meta["n_dead"]
        index.categories = dict(meta["categories"])
        index.topic_names = {int(k): v for k, v in meta.get("topic_names", {}).items()}
        index.cols = {k[len("col.") :]: v for k, v in a.items() if k.startswith("col.")}
        for part, postings in _postings(index):
            postings.indptr = a[f"{part}.indptr"]
            postings.rows = a[f"{part}.rows"]
            postings.vals = a[f"{part}.vals"]
            postings.n_main = meta["n"]
        index.df, index.idf = a["df"], a["idf"]
        index.ids = IdColumn(a["ids"])
        index.row_of = RowLookup(a["row_of.keys"], a["row_of.rows"])
        index.stats = au.EngagementStats(
            **{k[len("stats.") :]: v for k, v in a.items() if k.startswith("stats.")}
        )
        index.topic_profiles = _read_per_topic(a, "profiles")
        index.topic_adjacent = _read_per_topic(a, "adjacent")
        return index

    # --- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def try_lock(self) -> Iterator[bool]:
        """The node-wide builder's lock, without waiting: yields whether it is held."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _numbers(self) -> list[int]:
        return sorted(
            int(p.name[len("gen-") :])
            for p in self.root.glob("gen-*")
            if p.name[len("gen-") :].isdigit()
        )

    def write(self, index: ListingIndex, stamp: dict[str, Any]) -> str:
        """Write a new generation and make it CURRENT; call with the lock held. Returns its
        name. Only the index's built rows are written (a fresh build has no others)."""
        if any(postings.delta_size for _, postings in _postings(index)) or index.ids.extra:
            raise ValueError("only a freshly built or compacted index is written")
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(".tmp-*"):  # left by a writer that died
            shutil.rmtree(stale, ignore_errors=True)
        number = (self._numbers() or [0])[-1] + 1
        name = f"gen-{number:08d}"
        tmp = self.root / f".tmp-{name}-{os.getpid()}"
        tmp.mkdir()
        files: dict[str, int] = {}
        for key, array in _arrays(index).items():
            file = f"{key}.npy"
            with open(tmp / file, "wb") as f:
                np.save(f, np.ascontiguousarray(array), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
                files[file] = f.tell()
        meta = {
            "format": FORMAT,
            "number": number,
            "as_of": index.as_of.isoformat(),
            "n": index.n,
            "cap": index.cap,
            "n_dead": index.n_dead,
            "categories": index.categories,
            "topic_names": {str(k): v for k, v in index.topic_names.items()},
            "files": files,
            "stamp": stamp,
            "written_at": time.time(),
        }
        _write_synced(tmp / "meta.json", json.dumps(meta))
        _fsync_dir(tmp)
        os.rename(tmp, self.root / name)
        _fsync_dir(self.root)
        _write_synced(self.root / f".tmp-{CURRENT}", name)
        os.replace(self.root / f".tmp-{CURRENT}", self.root / CURRENT)
        _fsync_dir(self.root)
        # Older generations: a process that still maps one keeps its pages (an unlinked file
        # lives while mapped); one about to map it finds it gone and reads CURRENT again.
        for old in self._numbers()[:-KEEP]:
            shutil.rmtree(self.root / f"gen-{old:08d}", ignore_errors=True)
        return name


def release_freed_memory() -> None:
    """After a build: collect its garbage and hand the C heap's free pages back to the system
    (glibc's malloc_trim), so the process that built keeps little more than the mapping.
    Python's own allocator keeps arenas that are partly in use: some of the build's footprint
    stays (measured in benchmarks/matching/scaling.md)."""
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to trim


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
