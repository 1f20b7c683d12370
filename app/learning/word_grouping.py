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


def regularised_cca(a: np.ndarray, b: np.ndarray, reg: float, dims: int) -> np.ndarray:
    """Both views projected on their first `dims` canonical directions, side by side, unit rows."""
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    n = len(a)
    inv_a = _inverse_sqrt(a.T @ a / n + reg * np.eye(a.shape[1]))
    inv_b = _inverse_sqrt(b.T @ b / n + reg * np.eye(b.shape[1]))
    u, _, vt = np.linalg.svd(inv_a @ (a.T @ b / n) @ inv_b)
    dims = min(dims, u.shape[1], vt.shape[0])
    z = np.hstack([a @ inv_a @ u[:, :dims], b @ inv_b @ vt[:dims].T])
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def _inverse_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * values**-0.5) @ vectors.T


def consensus_groups(messages: Sequence[str], replies: Sequence[str], groups: int) -> np.ndarray:
    """A group number per pair, `groups` groups."""
    return cut(co_association(messages, replies, groups), groups)


def co_association(messages: Sequence[str], replies: Sequence[str], groups: int) -> np.ndarray:
    """Share of the voting partitions (of about `groups` groups) that put each two pairs together."""
    message_view, added_view = word_views(messages, replies)
    together = np.zeros((len(messages), len(messages)), dtype=np.float32)
    votes = 0
    for reg in REGULARISATIONS:
        for dims in DIMENSIONS:
            projected = regularised_cca(message_view, added_view, reg, dims)
            for share in VOTING_SHARES:
                k = min(max(round(groups * share), 2), len(messages))
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
