"""Write a realistic golf-simulator message history (OpenPhone export shape) as JSONL.

    .venv/bin/python scripts/generate_golf_history.py out.jsonl --seed 7 --days 60 --per-day 12
    .venv/bin/pls import openphone out.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.demo_history import generate_history, write_history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="JSONL file to write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", type=int, default=12, help="conversations a day on average")
    args = parser.parse_args()
    messages = generate_history(seed=args.seed, days=args.days, per_day=args.per_day)
    write_history(args.out, messages)
    print(f"{len(messages)} messages written to {args.out}")


if __name__ == "__main__":
    main()
