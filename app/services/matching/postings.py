"""Sparse rows stored column-major (posting lists), with cheap appends.

The built part is a CSC matrix: for each column (a hashed word or topic) the sorted rows that
contain it and their weights, so scoring a query touches only the posting lists of the
query's columns (the query has tens of columns, the index a million rows). Rows appended
after the build (upserts) go to a small row-major delta until the next compaction.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class Postings:
    def __init__(self, n_cols: int, vals_dtype: type = np.float32) -> None:
        """`vals_dtype`: how the weights are stored (float16 where 3 digits are plenty: half
        the bytes); they are computed with in float32."""
        self.n_cols = n_cols
        self.vals_dtype = vals_dtype
        self.indptr = np.zeros(n_cols + 1, dtype=np.int64)
        self.rows = np.zeros(0, dtype=np.int32)
        self.vals: np.ndarray = np.zeros(0, dtype=vals_dtype)
        self.n_main = 0  # rows [0, n_main) are in the CSC part
        self._delta_rows: list[int] = []
        self._delta_cols: list[np.ndarray] = []
        self._delta_vals: list[np.ndarray] = []
        self._delta_csr: sp.csr_matrix | None = None

    # --- building ---------------------------------------------------------------------

    def build(self, indptr: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int) -> None:
        """Replace everything with the CSR rows (indptr, cols, vals) of rows [0, n_rows)."""
        csr = sp.csr_matrix(
            (vals.astype(np.float32), cols.astype(np.int32), indptr.astype(np.int64)),
            shape=(n_rows, self.n_cols),
        )
        csc = csr.tocsc()
        csc.sort_indices()
        self.indptr = csc.indptr.astype(np.int64)
        self.rows = csc.indices.astype(np.int32)
        self.vals = csc.data.astype(self.vals_dtype)
        self.n_main = n_rows
        self._delta_rows, self._delta_cols, self._delta_vals = [], [], []
        self._delta_csr = None

    def append(self, row: int, cols: np.ndarray, vals: np.ndarray) -> None:
        self._delta_rows.append(row)
        self._delta_cols.append(cols.astype(np.int32))
        self._delta_vals.append(vals.astype(np.float32))
        self._delta_csr = None

    @property
    def delta_size(self) -> int:
        return len(self._delta_rows)

    def to_csr(self, n_rows: int) -> sp.csr_matrix:
        """All rows as one CSR matrix of shape (n_rows, n_cols)."""
        main = sp.csc_matrix(
            (np.asarray(self.vals, dtype=np.float32), self.rows, self.indptr),
            shape=(self.n_main, self.n_cols),
        ).tocsr()
        parts = [main]
        if n_rows > self.n_main:
            parts.append(self._delta_matrix(n_rows))
        return sp.vstack(parts, format="csr") if len(parts) > 1 else main

    def _delta_matrix(self, n_rows: int) -> sp.csr_matrix:
        """Rows [n_main, n_rows) as CSR (rows never appended are empty)."""
        height = n_rows - self.n_main
        if self._delta_csr is not None and self._delta_csr.shape[0] == height:
            return self._delta_csr
        lengths = np.zeros(height, dtype=np.int64)
        for r, c in zip(self._delta_rows, self._delta_cols, strict=True):
            lengths[r - self.n_main] = len(c)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        order = np.argsort(np.asarray(self._delta_rows, dtype=np.int64), kind="stable")
        cols = [self._delta_cols[i] for i in order]
        vals = [self._delta_vals[i] for i in order]
        self._delta_csr = sp.csr_matrix(
            (
                np.concatenate(vals) if vals else np.zeros(0, np.float32),
                np.concatenate(cols) if cols else np.zeros(0, np.int32),
                indptr,
            ),
            shape=(height, self.n_cols),
        )
        return self._delta_csr

    def memory_bytes(self) -> int:
        delta = sum(
            c.nbytes + v.nbytes for c, v in zip(self._delta_cols, self._delta_vals, strict=True)
        )
        return self.indptr.nbytes + self.rows.nbytes + self.vals.nbytes + delta

    # --- querying -----------------------------------------------------------------------

    def scores(self, qcols: np.ndarray, qvals: np.ndarray, n_rows: int) -> np.ndarray:
        """Dot product of every row with the sparse query (float32, length n_rows)."""
        out = np.zeros(n_rows, dtype=np.float32)
        indptr, rows, vals = self.indptr, self.rows, self.vals
        for c, w in zip(qcols.tolist(), qvals.tolist(), strict=True):
            a, b = indptr[c], indptr[c + 1]
            if a != b:
                # Unbuffered in-place add: one pass over the posting list (fancy-index `+=`
                # gathers, adds and scatters: about twice the time at a million rows), the
                # same float32 sums in the same order.
                np.add.at(out, rows[a:b], np.float32(w) * vals[a:b])
        if n_rows > self.n_main and self._delta_rows:
            delta = self._delta_matrix(n_rows)
            out[self.n_main :] += delta[:, qcols] @ qvals
        return out

    def contains(self, rows: np.ndarray, qcols: np.ndarray, n_rows: int) -> np.ndarray:
        """(len(rows), len(qcols)) bool: which query columns each row has (for reasons)."""
        out = np.zeros((len(rows), len(qcols)), dtype=bool)
        main = rows < self.n_main
        main_rows = rows[main]
        if len(main_rows):
            where = np.flatnonzero(main)
            for k, c in enumerate(qcols.tolist()):
                a, b = self.indptr[c], self.indptr[c + 1]
                if a == b:
                    continue
                col_rows = self.rows[a:b]
                pos = np.minimum(np.searchsorted(col_rows, main_rows), b - a - 1)
                out[where, k] = col_rows[pos] == main_rows
        if not main.all():
            delta = self._delta_matrix(n_rows)
            for i in np.flatnonzero(~main).tolist():
                r = int(rows[i]) - self.n_main
                have = set(delta.indices[delta.indptr[r] : delta.indptr[r + 1]].tolist())
                out[i] = [c in have for c in qcols.tolist()]
        return out
