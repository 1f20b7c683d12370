"""Online grouping of examples into patterns: which reply does this new example give?

One tenant's state in memory. Identical replies (after `normalise_reply`) share a pattern;
a differently worded reply joins a pattern when it says the same thing (its vector is close to
the pattern's replies) to the same kind of message (its message is close to the pattern's
messages); replies that state different key facts never share a pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.learning.facts import facts_conflict, key_facts, normalise_reply

REPLY_THRESHOLD = 0.80
MESSAGE_THRESHOLD = 0.55
MERGE_REPLY_THRESHOLD = 0.90
MERGE_MESSAGE_THRESHOLD = 0.75


@dataclass
class _Pattern:
    row: int
    count: int = 0
    facts: set[str] = field(default_factory=set)


class PatternGrouper:
    """Assigns examples to patterns one at a time; cost per example is O(patterns) in numpy."""

    def __init__(
        self,
        dim: int = 384,
        *,
        reply_threshold: float = REPLY_THRESHOLD,
        message_threshold: float = MESSAGE_THRESHOLD,
    ) -> None:
        self.dim = dim
        self.reply_threshold = reply_threshold
        self.message_threshold = message_threshold
        self._by_reply: dict[str, int] = {}
        self._patterns: dict[int, _Pattern] = {}
        self._ids: list[int] = []
        self._reply_sum = np.zeros((16, dim), dtype=np.float64)
        self._message_sum = np.zeros((16, dim), dtype=np.float64)

    def __len__(self) -> int:
        return len(self._patterns)

    @property
    def pattern_ids(self) -> list[int]:
        """Ids of the patterns the grouper knows."""
        return list(self._patterns)

    def assign(
        self,
        reply: str,
        reply_vec: np.ndarray,
        message_vec: np.ndarray,
        message: str | None = None,
    ) -> int | None:
        """The pattern this example belongs to, or None when it needs a new one."""
        known = self._by_reply.get(normalise_reply(reply))
        if known is not None:
            return known
        if not self._patterns:
            return None
        facts = key_facts(reply, message)
        n = len(self._ids)
        rs = _cosines(self._reply_sum[:n], reply_vec)
        ms = _cosines(self._message_sum[:n], message_vec)
        score = np.where((rs >= self.reply_threshold) & (ms >= self.message_threshold), rs + ms, -np.inf)
        for row in np.argsort(-score)[:8]:
            if not np.isfinite(score[row]):
                break
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
        """Record that this example now belongs to `pattern_id` (creating it if new)."""
        pattern = self._patterns.get(pattern_id)
        if pattern is None:
            pattern = self._new_row(pattern_id)
        key = normalise_reply(reply)
        self._by_reply.setdefault(key, pattern_id)
        pattern.count += 1
        pattern.facts |= key_facts(reply, message)
        self._reply_sum[pattern.row] += reply_vec
        self._message_sum[pattern.row] += message_vec

    def _new_row(self, pattern_id: int) -> _Pattern:
        row = len(self._ids)
        if row == self._reply_sum.shape[0]:
            self._reply_sum = np.vstack([self._reply_sum, np.zeros_like(self._reply_sum)])
            self._message_sum = np.vstack([self._message_sum, np.zeros_like(self._message_sum)])
        self._ids.append(pattern_id)
        pattern = _Pattern(row=row)
        self._patterns[pattern_id] = pattern
        return pattern

    def consolidate(
        self,
        reply_threshold: float = MERGE_REPLY_THRESHOLD,
        message_threshold: float = MERGE_MESSAGE_THRESHOLD,
    ) -> dict[int, int]:
        """Merge patterns that turned out to be one after a bulk import: {old id: surviving id}.

        Two patterns merge when their mean reply vectors and mean message vectors are both
        close and their key facts agree; the larger one survives. Pairs are merged most similar
        first and similarities are recomputed after each merge.
        """
        mapping: dict[int, int] = {}
        while len(self._ids) > 1:
            n = len(self._ids)
            r = _normalised(self._reply_sum[:n])
            m = _normalised(self._message_sum[:n])
            rs, ms = r @ r.T, m @ m.T
            score = np.where((rs >= reply_threshold) & (ms >= message_threshold), rs + ms, -np.inf)
            np.fill_diagonal(score, -np.inf)
            merged = False
            for flat in np.argsort(-score, axis=None)[: 4 * n]:
                i, j = divmod(int(flat), n)
                if not np.isfinite(score[i, j]):
                    break
                a, b = self._ids[i], self._ids[j]
                if facts_conflict(self._patterns[a].facts, self._patterns[b].facts):
                    continue
                keep, drop = (a, b) if self._patterns[a].count >= self._patterns[b].count else (b, a)
                self._merge(drop, keep)
                mapping[drop] = keep
                merged = True
                break
            if not merged:
                break
        # Follow chains so every old id points at a pattern that still exists.
        for old, new in list(mapping.items()):
            while new in mapping:
                new = mapping[new]
            mapping[old] = new
        return mapping

    def _merge(self, drop: int, keep: int) -> None:
        src, dst = self._patterns.pop(drop), self._patterns[keep]
        dst.count += src.count
        dst.facts |= src.facts
        self._reply_sum[dst.row] += self._reply_sum[src.row]
        self._message_sum[dst.row] += self._message_sum[src.row]
        for key, pid in self._by_reply.items():
            if pid == drop:
                self._by_reply[key] = keep
        # Keep rows dense: move the last row into the freed one.
        last = len(self._ids) - 1
        if src.row != last:
            moved = self._ids[last]
            self._reply_sum[src.row] = self._reply_sum[last]
            self._message_sum[src.row] = self._message_sum[last]
            self._ids[src.row] = moved
            self._patterns[moved].row = src.row
        self._ids.pop()
        self._reply_sum[last] = 0.0
        self._message_sum[last] = 0.0


def _normalised(sums: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return sums / norms


def _cosines(sums: np.ndarray, vector: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(sums, axis=1)
    norms[norms == 0] = 1.0
    return (sums @ np.asarray(vector, dtype=np.float64)) / norms
