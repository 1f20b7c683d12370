"""Grouping message-reply pairs by meaning from their words: a consensus of word-CCA partitions.

For examples whose replies are all worded differently, where no reply is shared to tell which
examples go together (`app/learning/regrouping.py`). It runs over all those examples at once,
and its partitions and co-association matrix grow with the square of how many vote: above
`MAX_VOTERS` pairs the votes are counted between units instead, k-means groups of pairs alike
on their words (see `Votes`), and the learner bounds the whole by `regroup_max_examples`.

Why these features: a reply repeats much of its message (names, numbers, the object asked
about), and those repeated words group examples by who or what they name rather than by what
is asked. The words a reply adds (how to view an invoice rather than download one) follow the
request. A regularised CCA between the words of the message and the words of the reply that
the message does not contain keeps the directions on which the two agree; Ward's groups on
them change with CCA's settings, so several settings vote (co-association) and average
linkage over the votes gives the groups.

A reply also names what its message named in words of its own: asked about a bill or about an
invoice, it points to the "Billing or Invoices" page either way. The word it adds is then
whichever one the customer did not use, and the CCA, finding that agreement as strong as
any request, groups bills apart from invoices with viewing and getting mixed in both. In the
second vote below, a word the reply repeats in most pairs whose message says it (an echo word:
names, the thing asked about) carries no weight in the reply's view wherever it appears. How
often is "most" has no natural cut (Bitext's words spread evenly from never to always
repeated), so each of the second vote's settings takes another cut.

How a message is phrased ("I don't know what to do to...", "can you help me...") varies the
same way under every request, and replies echo it in their own words ("I understand you're
unsure"), so the CCA finds it too and splits requests by phrasing while two requests that
differ in a verb alone (viewing an invoice or getting one) stay mixed. A first vote gives
rough groups; the directions along which the examples vary most *within* those groups, pooled
over all of them, are that shared phrasing, and a second vote on the views with those few
directions taken out groups by request. (Bitext, 2,513 pairs of 27 requests, cut into 57
groups: label purity 0.955 with the first vote alone, 0.971 with the second, 0.977 with echo
words out of its replies' view.)
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans

WORD = re.compile(r"[a-z]+")
MIN_DOCUMENTS = 3  # a word in fewer examples than this carries no group
# The words in most examples, at most: each view's covariance is this square, and its
# decomposition grows with its cube (Bitext's 3,141 pairs: 417 message and 1,600 added words).
MAX_VOCABULARY = 2000
# Up to this many pairs, each pair votes; above it, pairs are pooled into this many units.
# Ward's partition of 4,000 points takes about 0.5 s here, and the vote matrix takes 64 MB.
MAX_VOTERS = 4000
# The CCA setting the units are cut on: the middle regularisation, the most directions.
UNIT_REGULARISATION = 0.1
REGULARISATIONS = (0.03, 0.1, 0.3, 1.0)
DIMENSIONS = (20, 30, 40)
# Each setting votes with Ward's partitions into about as many groups as asked for.
VOTING_SHARES = (0.85, 1.05)
# How many shared within-group directions (phrasing) the second vote takes out of each view;
# every setting votes once without each count. On Bitext any one count from 2 to 8 gains
# purity, but which requests stay mixed changes from one count to the next (answered at
# precision 0.98: 0.43 to 0.94 of bitext_val), and the vote over several is steadier.
PHRASING_DIMENSIONS = (4, 5, 6)
# Paired with those counts: a word is an echo word in that setting when replies repeat it in at
# least this share of the pairs whose message says it. The first vote keeps every word: its
# groups only find the phrasing, and cut without echo words they held both invoice requests in
# fewer, larger groups, whose spread then passed for phrasing and was taken out (a quarter of
# what tells checking from getting in the messages' words, against 0.15, on one sample), so
# that the second vote now and then merged the two. Through `pls eval` from bitext_train and
# nine 70-85% samples of it, answered at precision 0.98 of bitext_val: 0.85-0.995 (median
# 0.97), against 0.65-0.96 (0.91) with echo words kept; out of both votes, 0.003-0.99 (0.89,
# seven trainings).
ECHO_SHARES = (0.7, 0.8, 0.9)


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def binary_tfidf(
    documents: Sequence[set[str]], min_documents: int = MIN_DOCUMENTS, max_words: int = MAX_VOCABULARY
) -> np.ndarray:
    """Rows of 0/1 word presence weighted by inverse document frequency, for the `max_words`
    words in most documents."""
    frequency = Counter(w for document in documents for w in document)
    common = sorted((w for w, c in frequency.items() if c >= min_documents), key=lambda w: (-frequency[w], w))
    vocabulary = {w: i for i, w in enumerate(sorted(common[:max_words]))}
    matrix = np.zeros((len(documents), len(vocabulary)))
    for row, document in enumerate(documents):
        for w in document:
            if w in vocabulary:
                matrix[row, vocabulary[w]] = 1.0
    return matrix * np.log(len(documents) / (matrix.sum(axis=0) + 1.0))


@dataclass(frozen=True)
class PairWords:
    """The words of each message and reply, and how often replies repeat each message word."""

    message: list[set[str]]
    reply: list[set[str]]
    # For each word in at least `MIN_DOCUMENTS` messages: the share of those pairs whose reply
    # says it too.
    repeated: dict[str, float]

    @classmethod
    def of(cls, messages: Sequence[str], replies: Sequence[str]) -> PairWords:
        """The words of each pair, counted."""
        message = [words(m) for m in messages]
        reply = [words(r) for r in replies]
        said = Counter(w for document in message for w in document)
        echoed = Counter(w for m, r in zip(message, reply, strict=True) for w in m & r)
        repeated = {w: echoed[w] / n for w, n in said.items() if n >= MIN_DOCUMENTS}
        return cls(message, reply, repeated)

    def message_view(self) -> np.ndarray:
        """Each message's words."""
        return binary_tfidf(self.message)

    def added_view(self, echo_share: float = math.inf) -> np.ndarray:
        """The words each reply adds to its message, but for the echo words: those replies
        repeat in at least `echo_share` of the pairs whose message says them (none by default)."""
        echo = {w for w, share in self.repeated.items() if share >= echo_share}
        return binary_tfidf([r - m - echo for r, m in zip(self.reply, self.message, strict=True)])


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


@dataclass(frozen=True)
class Votes:
    """How often the voting partitions put pairs together, counted between units.

    A unit is one pair or, above `MAX_VOTERS` pairs, a k-means group of pairs alike on the
    whole CCA: each partition then groups the units' mean projections (see `_partition`), and
    two pairs are together as often as their units are.
    """

    units: np.ndarray  # the unit of each pair
    together: np.ndarray  # share of the partitions that put each two units together

    def cut(self, groups: int) -> np.ndarray:
        """A group number per pair, `groups` groups (see `cut`)."""
        return cut(self.together, groups)[self.units]

    def with_members(self, pair: int, members: Sequence[int]) -> float:
        """How often, on average, the votes put `pair` with each of `members`."""
        return float(self.together[self.units[pair], self.units[list(members)]].mean())


def consensus_groups(messages: Sequence[str], replies: Sequence[str], groups: int) -> np.ndarray:
    """A group number per pair, `groups` groups."""
    return co_association(messages, replies, groups).cut(groups)


def co_association(
    messages: Sequence[str], replies: Sequence[str], groups: int, max_voters: int | None = None
) -> Votes:
    """How often the partitions (of about `groups` groups) put pairs together, in the second
    vote: the one on the views without their shared phrasing and, in the reply's, without echo
    words. Above `max_voters` pairs (default `MAX_VOTERS`) the votes are counted between that
    many units."""
    pair_words = PairWords.of(messages, replies)
    message_view = pair_words.message_view()
    whole = CanonicalPair(message_view, pair_words.added_view())
    units = voting_units(whole, MAX_VOTERS if max_voters is None else max_voters)
    rough = Votes(units, _vote(whole, groups, units)).cut(groups)
    del whole  # its centred copy of both views: at 20,000 pairs, a few hundred MB
    message_phrasing = shared_within_groups(message_view, rough, max(PHRASING_DIMENSIONS))
    together = np.zeros((int(units.max()) + 1,) * 2, dtype=np.float32)
    for r, echo_share in zip(PHRASING_DIMENSIONS, ECHO_SHARES, strict=True):
        # Temporaries: one setting's views are alive at a time.
        added_view = pair_words.added_view(echo_share)
        added_phrasing = shared_within_groups(added_view, rough, r)
        together += _vote(
            CanonicalPair(_remove(message_view, message_phrasing[:r]), _remove(added_view, added_phrasing)),
            groups,
            units,
        )
        del added_view
    return Votes(units, together / len(PHRASING_DIMENSIONS))


def voting_units(pair: CanonicalPair, max_voters: int) -> np.ndarray:
    """The unit of each pair: itself or, above `max_voters` pairs, one of `max_voters` k-means
    groups on the whole CCA's projections."""
    n = len(pair.a)
    if n <= max_voters:
        return np.arange(n)
    projected = pair.projections(UNIT_REGULARISATION, (max(DIMENSIONS),))[0]
    labels = KMeans(n_clusters=max_voters, n_init=1, random_state=0).fit_predict(projected)
    return np.unique(labels, return_inverse=True)[1]


def shared_within_groups(view: np.ndarray, labels: np.ndarray, directions: int) -> np.ndarray:
    """The `directions` unit directions (rows) of largest variance within the groups of
    `labels`, pooled over all groups: what varies alike under every request."""
    within = view.copy()
    for label in np.unique(labels):
        members = labels == label
        within[members] -= view[members].mean(axis=0)
    # The leading eigenvectors of the pooled scatter are the leading right singular vectors of
    # `within`, from a matrix the size of the vocabulary however many pairs there are.
    values, vectors = np.linalg.eigh(within.T @ within)
    return vectors[:, np.argsort(values)[::-1][:directions]].T


def _remove(view: np.ndarray, directions: np.ndarray) -> np.ndarray:
    return view - (view @ directions.T) @ directions


def _vote(pair: CanonicalPair, groups: int, units: np.ndarray) -> np.ndarray:
    """Co-association of the units over partitions of the pair's CCA at every regularisation
    and size."""
    count = int(units.max()) + 1
    sizes = np.bincount(units, minlength=count) if count < len(units) else None
    together = np.zeros((count, count), dtype=np.float32)
    votes = 0
    for reg in REGULARISATIONS:
        for projected in pair.projections(reg, DIMENSIONS):
            if sizes is not None:
                means = np.zeros((count, projected.shape[1]))
                np.add.at(means, units, projected)
                projected = means / sizes[:, None]
            for share in VOTING_SHARES:
                k = min(max(round(groups * share), 2), count)
                labels = _partition(projected, k, sizes, seed=votes)
                together += labels[:, None] == labels[None, :]
                votes += 1
    return together / votes


def _partition(points: np.ndarray, k: int, sizes: np.ndarray | None, seed: int) -> np.ndarray:
    """Ward's `k` groups of pairs; of units, k-means weighted by how many pairs each holds.

    Ward's implementation here takes no weights, and ignoring them lets units of one pair weigh
    as much as units of twenty (Bitext's 2,513 pairs in 1,500 units: label purity 0.959 by Ward
    on the units, 0.974 by weighted k-means, 0.969 by Ward on the pairs themselves).
    """
    if sizes is None:
        return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(points)
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(points, sample_weight=sizes)


def cut(together: np.ndarray, groups: int) -> np.ndarray:
    """A group number per pair: average linkage over how rarely the votes put pairs together."""
    if len(together) <= groups:
        return np.arange(len(together))
    return AgglomerativeClustering(n_clusters=groups, metric="precomputed", linkage="average").fit_predict(
        1.0 - together
    )
