"""Online grouping of examples into patterns: which answer does this new example give?

One tenant's state in memory. Identical replies (after `normalise_reply`) share a pattern.
A differently worded reply joins the pattern whose replies it resembles and whose messages its
message resembles, both measured as the average similarity to the pattern's examples (average
linkage: the dot product with the mean vector), so a large pattern is not favoured just for
being large. Replies that state different key facts never share a pattern.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from app.learning.facts import facts_conflict, key_facts, normalise_reply

# Weight of the reply side in the joint score; the rest goes to the message side.
REPLY_WEIGHT = 0.7
JOIN_THRESHOLD = 0.55
# Whatever the joint score, the replies must be alike and the messages related.
REPLY_FLOOR = 0.5
MESSAGE_FLOOR = 0.3
MERGE_THRESHOLD = 0.5


@dataclass
class _Pattern:
    row: int
    count: int = 0
    facts: set[str] = field(default_factory=set)
    replies: set[bytes] = field(default_factory=set)


class PatternGrouper:
    """Assigns examples to patterns one at a time; each step is O(patterns) numpy work."""

    def __init__(
        self,
        dim: int = 384,
        *,
        reply_weight: float = REPLY_WEIGHT,
        join_threshold: float = JOIN_THRESHOLD,
        reply_floor: float = REPLY_FLOOR,
        message_floor: float = MESSAGE_FLOOR,
    ) -> None:
        self.dim = dim
        self.reply_weight = reply_weight
        self.join_threshold = join_threshold
        self.reply_floor = reply_floor
        self.message_floor = message_floor
        self._by_reply: dict[bytes, int] = {}
        self._patterns: dict[int, _Pattern] = {}
        self._ids: list[int] = []
        self._reply_sum = np.zeros((16, dim), dtype=np.float64)
        self._message_sum = np.zeros((16, dim), dtype=np.float64)
        self._count = np.zeros(16, dtype=np.float64)

    def __len__(self) -> int:
        return len(self._patterns)

    @property
    def pattern_ids(self) -> list[int]:
        """Ids of the patterns the grouper knows."""
        return list(self._patterns)

    def pattern_of_reply(self, reply: str) -> int | None:
        """The pattern that already holds this exact reply (after normalisation), if any."""
        return self._by_reply.get(_reply_key(reply))

    def assign(
        self,
        reply: str,
        reply_vec: np.ndarray,
        message_vec: np.ndarray,
        message: str | None = None,
    ) -> int | None:
        """The pattern this example belongs to, or None when it needs a new one.

        `message` (the customer's text) lets identifiers the reply merely repeats from it,
        such as an order number, count as slots rather than facts.
        """
        known = self.pattern_of_reply(reply)
        if known is not None:
            return known
        n = len(self._ids)
        if n == 0:
            return None
        rs, ms = self._mean_similarities(n, reply_vec, message_vec)
        score = self.reply_weight * rs + (1 - self.reply_weight) * ms
        ok = (score >= self.join_threshold) & (rs >= self.reply_floor) & (ms >= self.message_floor)
        if not ok.any():
            return None
        facts = key_facts(reply, message)
        score = np.where(ok, score, -np.inf)
        for row in np.argsort(-score)[: int(ok.sum())][:8]:
            pattern_id = self._ids[row]
            if not facts_conflict(facts, self._patterns[pattern_id].facts):
                return pattern_id
        return None

    def add(
        self,
        pattern_id: int,
        reply: str,
        reply_vec: np.ndarray,
        message_vec: np.ndarray,
        message: str | None = None,
    ) -> None:
        """Record that this example now belongs to `pattern_id` (creating the pattern if new)."""
        pattern = self._file(pattern_id, _reply_key(reply), reply, message)
        self._reply_sum[pattern.row] += reply_vec
        self._message_sum[pattern.row] += message_vec
        self._count[pattern.row] += 1

    def add_many(
        self,
        pattern_ids: Sequence[int],
        replies: Sequence[str],
        reply_vecs: np.ndarray,
        message_vecs: np.ndarray,
        messages: Sequence[str | None],
    ) -> None:
        """`add` for many examples at once, as a memory is loaded: the vectors are summed per
        pattern in one pass instead of one row update per example."""
        keys: dict[str, bytes] = {}  # each distinct reply hashed once
        rows = np.empty(len(pattern_ids), dtype=np.int64)
        for i, (pattern_id, reply, message) in enumerate(zip(pattern_ids, replies, messages, strict=True)):
            key = keys.get(reply)
            if key is None:
                key = keys[reply] = _reply_key(reply)
            rows[i] = self._file(pattern_id, key, reply, message).row
        size = self._count.shape[0]
        self._reply_sum += sum_by_row(rows, reply_vecs, size)
        self._message_sum += sum_by_row(rows, message_vecs, size)
        self._count += np.bincount(rows, minlength=size)

    def message_sum(self, pattern_id: int) -> np.ndarray:
        """The sum of the message vectors of the pattern's examples."""
        return self._message_sum[self._patterns[pattern_id].row]

    def _file(self, pattern_id: int, key: bytes, reply: str, message: str | None) -> _Pattern:
        """Count one example with this reply (of digest `key`) under the pattern; its vectors are
        the caller's to add."""
        pattern = self._patterns.get(pattern_id)
        if pattern is None:
            pattern = self._new_row(pattern_id)
        self._by_reply.setdefault(key, pattern_id)
        pattern.replies.add(key)
        pattern.count += 1
        pattern.facts |= key_facts(reply, message)
        return pattern

    def consolidate(self, threshold: float = MERGE_THRESHOLD, neighbours: int = 10) -> dict[int, int]:
        """Merge patterns that turn out to be one after a bulk import: {old id: surviving id}.

        Average-linkage agglomeration on the same joint score `assign` uses (with the same
        floors), most similar pair first, never across a key-fact conflict; the larger pattern
        of a pair survives. Only each pattern's `neighbours` best partners are candidates, so
        memory stays O(patterns) and the first pass is one blockwise matrix product.
        """
        n = len(self._ids)
        if n < 2:
            return {}
        alive = np.ones(n, dtype=bool)
        version = np.zeros(n, dtype=np.int64)
        heap: list[tuple[float, int, int, int, int]] = []
        for start in range(0, n, 512):
            rows = np.arange(start, min(n, start + 512))
            self._push_best(heap, rows, self._row_scores(rows, alive), threshold, neighbours, version)
        mapping: dict[int, int] = {}
        while heap:
            neg, i, j, vi, vj = heapq.heappop(heap)
            if not (alive[i] and alive[j]):
                continue
            if vi != version[i] or vj != version[j]:
                # One side grew since this pair was scored: score it again and requeue.
                score = self._row_scores(np.array([i]), alive)[0, j]
                if score >= threshold:
                    heapq.heappush(heap, (-score, i, j, int(version[i]), int(version[j])))
                continue
            if facts_conflict(self._patterns[self._ids[i]].facts, self._patterns[self._ids[j]].facts):
                continue
            keep, drop = (i, j) if self._count[i] >= self._count[j] else (j, i)
            mapping[self._ids[drop]] = self._ids[keep]
            self._absorb(drop, keep)
            alive[drop] = False
            version[keep] += 1
            rows = np.array([keep])
            self._push_best(heap, rows, self._row_scores(rows, alive), threshold, neighbours, version)
        for old, new in list(mapping.items()):
            while new in mapping:
                new = mapping[new]
            mapping[old] = new
        self._compact()
        return mapping

    @staticmethod
    def _push_best(
        heap: list[tuple[float, int, int, int, int]],
        rows: np.ndarray,
        scores: np.ndarray,
        threshold: float,
        neighbours: int,
        version: np.ndarray,
    ) -> None:
        m = min(neighbours, scores.shape[1])
        best = np.argpartition(-scores, m - 1, axis=1)[:, :m]
        for r, cols in zip(rows.tolist(), best, strict=True):
            for c in cols.tolist():
                score = float(scores[r - rows[0], c])
                if score >= threshold:
                    heapq.heappush(heap, (-score, r, c, int(version[r]), int(version[c])))

    def _mean_similarities(
        self, n: int, reply_vec: np.ndarray, message_vec: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        count = self._count[:n]
        rs = (self._reply_sum[:n] @ np.asarray(reply_vec, dtype=np.float64)) / count
        ms = (self._message_sum[:n] @ np.asarray(message_vec, dtype=np.float64)) / count
        return rs, ms

    def _means(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        count = np.maximum(self._count[:n], 1.0)[:, None]
        return self._reply_sum[:n] / count, self._message_sum[:n] / count

    def _row_scores(self, rows: np.ndarray, alive: np.ndarray) -> np.ndarray:
        """Joint average-linkage scores of `rows` against every pattern (-inf where not allowed)."""
        r, m = self._means(alive.shape[0])
        rs, ms = r[rows] @ r.T, m[rows] @ m.T
        score = self.reply_weight * rs + (1 - self.reply_weight) * ms
        score[(rs < self.reply_floor) | (ms < self.message_floor)] = -np.inf
        score[:, ~alive] = -np.inf
        score[np.arange(rows.shape[0]), rows] = -np.inf
        return score

    def _absorb(self, drop_row: int, keep_row: int) -> None:
        src = self._patterns[self._ids[drop_row]]
        dst = self._patterns[self._ids[keep_row]]
        dst.count += src.count
        dst.facts |= src.facts
        dst.replies |= src.replies
        for key in src.replies:
            self._by_reply[key] = self._ids[keep_row]
        self._reply_sum[keep_row] += self._reply_sum[drop_row]
        self._message_sum[keep_row] += self._message_sum[drop_row]
        self._count[keep_row] += self._count[drop_row]
        self._count[drop_row] = 0.0
        del self._patterns[self._ids[drop_row]]

    def _compact(self) -> None:
        """Drop the rows of merged-away patterns so rows stay dense."""
        keep = [row for row, pid in enumerate(self._ids) if pid in self._patterns]
        self._ids = [self._ids[row] for row in keep]
        size = max(16, len(keep))
        for name in ("_reply_sum", "_message_sum"):
            old = getattr(self, name)
            new = np.zeros((size, self.dim), dtype=np.float64)
            new[: len(keep)] = old[keep]
            setattr(self, name, new)
        count = np.zeros(size, dtype=np.float64)
        count[: len(keep)] = self._count[keep]
        self._count = count
        for row, pid in enumerate(self._ids):
            self._patterns[pid].row = row

    def _new_row(self, pattern_id: int) -> _Pattern:
        row = len(self._ids)
        if row == self._count.shape[0]:
            self._reply_sum = np.vstack([self._reply_sum, np.zeros_like(self._reply_sum)])
            self._message_sum = np.vstack([self._message_sum, np.zeros_like(self._message_sum)])
            self._count = np.concatenate([self._count, np.zeros_like(self._count)])
        self._ids.append(pattern_id)
        pattern = _Pattern(row=row)
        self._patterns[pattern_id] = pattern
        return pattern


def sum_by_row(rows: np.ndarray, vectors: np.ndarray, size: int) -> np.ndarray:
    """Row i of the result is the float64 sum of the `vectors` whose entry in `rows` is i.

    One sparse product: adding 100,000 vectors one row update at a time (or with np.add.at)
    took seconds of a large tenant's load.
    """
    rows = np.asarray(rows, dtype=np.int64)
    ones = np.ones(rows.shape[0], dtype=np.float64)
    membership = sparse.csr_matrix((ones, (rows, np.arange(rows.shape[0]))), shape=(size, rows.shape[0]))
    return np.asarray(membership @ np.asarray(vectors, dtype=np.float64))


def _reply_key(reply: str) -> bytes:
    """A short digest of the normalised reply: equal replies, equal keys, without keeping the text."""
    return hashlib.blake2b(normalise_reply(reply).encode("utf-8"), digest_size=16).digest()
