"""Grouping message-reply pairs by meaning from their words: a consensus of word-CCA partitions.

For examples whose replies are all worded differently, where no reply is shared to tell which
examples go together (`app/learning/regrouping.py`). It runs over all those examples at once,
and its co-association matrix grows with the square of their number, so it is bounded by
`regroup_max_examples`.

Why these features: a reply repeats much of its message (names, numbers, the object asked
about), and those repeated words group examples by who or what they name rather than by what
is asked. The words a reply adds (how to view an invoice rather than download one) follow the
request. A regularised CCA between the words of the message and the words of the reply that
the message does not contain keeps the directions on which the two agree; Ward's groups on
them change with CCA's settings, so several settings vote (co-association) and average
linkage over the votes gives the groups.

How a message is phrased ("I don't know what to do to...", "can you help me...") varies the
same way under every request, and replies echo it in their own words ("I understand you're
unsure"), so the CCA finds it too and splits requests by phrasing while two requests that
differ in a verb alone (viewing an invoice or getting one) stay mixed. A first vote gives
rough groups; the directions along which the examples vary most *within* those groups, pooled
over all of them, are that shared phrasing, and a second vote on the views with those few
directions taken out groups by request. (Bitext, 2,513 pairs of 27 requests, cut into 57
groups: label purity 0.955 with the first vote alone, 0.968 with the second.)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import AgglomerativeClustering

WORD = re.compile(r"[a-z]+")
MIN_DOCUMENTS = 3  # a word in fewer examples than this carries no group
REGULARISATIONS = (0.03, 0.1, 0.3, 1.0)
DIMENSIONS = (20, 30, 40)
# Each setting votes with Ward's partitions into about as many groups as asked for.
VOTING_SHARES = (0.85, 1.05)
# How many shared within-group directions (phrasing) the second vote takes out of each view;
# every setting votes once without each count. On Bitext any one count from 2 to 8 gains
# purity, but which requests stay mixed changes from one count to the next (answered at
# precision 0.98: 0.43 to 0.94 of bitext_val), and the vote over several is steadier.
PHRASING_DIMENSIONS = (4, 5, 6)


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def binary_tfidf(documents: Sequence[set[str]], min_documents: int = MIN_DOCUMENTS) -> np.ndarray:
    """Rows of 0/1 word presence weighted by inverse document frequency."""
    frequency = Counter(w for document in documents for w in document)
    vocabulary = {w: i for i, w in enumerate(sorted(w for w, c in frequency.items() if c >= min_documents))}
    matrix = np.zeros((len(documents), len(vocabulary)))
    for row, document in enumerate(documents):
        for w in document:
            if w in vocabulary:
                matrix[row, vocabulary[w]] = 1.0
    return matrix * np.log(len(documents) / (matrix.sum(axis=0) + 1.0))


def word_views(messages: Sequence[str], replies: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The message's words, and the words its reply adds to it."""
    message_words = [words(m) for m in messages]
    added = [words(r) - m for r, m in zip(replies, message_words, strict=True)]
    return binary_tfidf(message_words), binary_tfidf(added)


class CanonicalPair:
    """Two views of the same pairs, ready for regularised CCA at any regularisation and size.

    The regularisation only shifts each view's covariance eigenvalues, so one eigendecomposition
    per view serves every setting, and one SVD per regularisation serves every size.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a - a.mean(axis=0), b - b.mean(axis=0)
        n = len(a)
        self.cross = self.a.T @ self.b / n
        self._eigen_a = _eigen(self.a.T @ self.a / n)
        self._eigen_b = _eigen(self.b.T @ self.b / n)

    def projections(self, reg: float, sizes: Sequence[int]) -> list[np.ndarray]:
        """For each size, both views projected on that many first canonical directions, side
        by side, unit rows."""
        inv_a, inv_b = _inverse_sqrt(*self._eigen_a, reg), _inverse_sqrt(*self._eigen_b, reg)
        u, _, vt = np.linalg.svd(inv_a @ self.cross @ inv_b, full_matrices=False)
        most = min(max(sizes), u.shape[1], vt.shape[0])
        full = np.hstack([self.a @ (inv_a @ u[:, :most]), self.b @ (inv_b @ vt[:most].T)])
        out = []
        for size in sizes:
            size = min(size, most)
            z = np.hstack([full[:, :size], full[:, most : most + size]])
            out.append(z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12))
        return out


def _eigen(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh(covariance)
    return np.maximum(values, 0.0), vectors


def _inverse_sqrt(values: np.ndarray, vectors: np.ndarray, reg: float) -> np.ndarray:
    """(covariance + reg * I) ** -1/2 from the covariance's eigendecomposition."""
    return (vectors * (values + reg) ** -0.5) @ vectors.T


def consensus_groups(messages: Sequence[str], replies: Sequence[str], groups: int) -> np.ndarray:
    """A group number per pair, `groups` groups."""
    return cut(co_association(messages, replies, groups), groups)


def co_association(messages: Sequence[str], replies: Sequence[str], groups: int) -> np.ndarray:
    """Share of the voting partitions (of about `groups` groups) that put each two pairs
    together, in the second vote: the one on the views without their shared phrasing."""
    message_view, added_view = word_views(messages, replies)
    whole = CanonicalPair(message_view, added_view)
    rough = cut(_vote(whole, groups), groups)
    most = max(PHRASING_DIMENSIONS)
    message_phrasing = shared_within_groups(message_view, rough, most)
    added_phrasing = shared_within_groups(added_view, rough, most)
    together = np.zeros((len(messages), len(messages)), dtype=np.float32)
    for r in PHRASING_DIMENSIONS:
        without = CanonicalPair(
            _remove(message_view, message_phrasing[:r]), _remove(added_view, added_phrasing[:r])
        )
        together += _vote(without, groups)
    return together / len(PHRASING_DIMENSIONS)


def shared_within_groups(view: np.ndarray, labels: np.ndarray, directions: int) -> np.ndarray:
    """The `directions` unit directions (rows) of largest variance within the groups of
    `labels`, pooled over all groups: what varies alike under every request."""
    within = view.copy()
    for label in np.unique(labels):
        members = labels == label
        within[members] -= view[members].mean(axis=0)
    _, _, vt = np.linalg.svd(within, full_matrices=False)
    return vt[:directions]


def _remove(view: np.ndarray, directions: np.ndarray) -> np.ndarray:
    return view - (view @ directions.T) @ directions


def _vote(pair: CanonicalPair, groups: int) -> np.ndarray:
    """Co-association over Ward's partitions of the pair's CCA at every regularisation and size."""
    n = len(pair.a)
    together = np.zeros((n, n), dtype=np.float32)
    votes = 0
    for reg in REGULARISATIONS:
        for projected in pair.projections(reg, DIMENSIONS):
            for share in VOTING_SHARES:
                k = min(max(round(groups * share), 2), n)
                labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(projected)
                together += labels[:, None] == labels[None, :]
                votes += 1
    return together / votes


def cut(together: np.ndarray, groups: int) -> np.ndarray:
    """A group number per pair: average linkage over how rarely the votes put pairs together."""
    if len(together) <= groups:
        return np.arange(len(together))
    return AgglomerativeClustering(n_clusters=groups, metric="precomputed", linkage="average").fit_predict(
        1.0 - together
    )
