"""Where the shared dev data lies: `../shared/data/eval/` beside the repository, as in CI."""

from pathlib import Path

EVAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
