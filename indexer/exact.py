"""Exact nearest neighbours over vectors held in memory, as hits like an engine's search.

For work that already has every vector of a tenant at hand and cannot, or need not, ask the
index: a calibration fitted while another process holds the embedded index, and the tuning
scripts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from indexer.store import Hit

# Similarities computed at once: bounds the matrix to 80 MB whatever the number of examples.
_MAX_SCORES = 20_000_000


class ExactNeighbours:
    """Cosine kNN over unit vectors; row i of `vectors` is example `example_ids[i]`."""

    def __init__(
        self,
        vectors: np.ndarray,
        example_ids: Sequence[int] | np.ndarray,
        pattern_ids: Sequence[int] | np.ndarray,
        statuses: Sequence[str] | None = None,
        qualities: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        self.vectors = np.asarray(vectors, dtype=np.float32)
        n = self.vectors.shape[0]
        self.example_ids = np.asarray(example_ids, dtype=np.int64)
        self.pattern_ids = np.asarray(pattern_ids, dtype=np.int64)
        self.statuses = list(statuses) if statuses is not None else ["active"] * n
        self.qualities = np.ones(n) if qualities is None else np.asarray(qualities, dtype=np.float64)
        if not (
            len(self.example_ids) == len(self.pattern_ids) == len(self.statuses) == len(self.qualities) == n
        ):
            raise ValueError("one example id, pattern id, status and quality per vector")

    def search_batch(self, queries: np.ndarray, k: int) -> list[list[Hit]]:
        """The k nearest examples of each query row, most similar first."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, self.vectors.shape[0])
        if k <= 0:
            return [[] for _ in range(queries.shape[0])]
        out: list[list[Hit]] = []
        chunk = max(1, _MAX_SCORES // self.vectors.shape[0])
        for start in range(0, queries.shape[0], chunk):
            sims = queries[start : start + chunk] @ self.vectors.T
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            for row, cols in enumerate(top):
                cols = cols[np.argsort(-sims[row, cols], kind="stable")]
                out.append([self._hit(int(c), float(sims[row, c])) for c in cols])
        return out

    def _hit(self, row: int, score: float) -> Hit:
        return Hit(
            example_id=int(self.example_ids[row]),
            pattern_id=int(self.pattern_ids[row]),
            score=score,
            status=self.statuses[row],
            quality=float(self.qualities[row]),
        )
