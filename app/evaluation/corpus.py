"""Real customer texts to build benchmarks from: the dev data beside the project, or the demo."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from app.demo import DEMO_HISTORY

# The dev data lives beside the repository (../shared/data/eval); every file is optional.
SHARED_EVAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "eval"
DATA_DIRS = (Path("../shared/data/eval"), SHARED_EVAL_DATA)
CORPUS_FILES = ("clinc150_train_all.jsonl", "banking77_train_all.jsonl", "bitext_train.jsonl")


def labelled_texts(limit: int | None = None) -> list[tuple[str, str]]:
    """(text, label) pairs from the dev data if present, else from the demo history."""
    pairs: list[tuple[str, str]] = []
    for directory in DATA_DIRS:
        for name in CORPUS_FILES:
            path = directory / name
            if not path.is_file():
                continue
            prefix = name.split("_", 1)[0]
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                pairs.append((row["text"], f"{prefix}:{row.get('label') or row['reply'][:40]}"))
        if pairs:
            break
    if not pairs:
        pairs = [(text, reply) for texts, reply in DEMO_HISTORY for text in texts]
    # Interleave sources so a prefix of the list covers every dataset.
    pairs.sort(key=lambda pair: zlib.crc32(pair[0].encode("utf-8")))
    return pairs[:limit] if limit else pairs
