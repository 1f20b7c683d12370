"""Running the edge engine's optimizer (HNSW build) on a shard directory nobody else has open.

`EdgeShard.optimize()` holds the GIL for its whole run (minutes at 100,000 points), so run in a
thread it would stall every other Python thread, searches included. The default optimizer runs
it in a child process instead; the parent only waits on a pipe.

Run as `python indexer/edge_optimize.py SHARD_DIR [NICENESS]`; prints "changed" or "unchanged".
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import qdrant_edge as qe

# Optimizes the closed shard at a path; True if any segment was rebuilt.
Optimizer = Callable[[Path], bool]


class OptimizeCancelled(RuntimeError):
    """The optimizer was cancelled (the store is closing)."""


def optimize_in_process(shard_dir: Path) -> bool:
    """Optimize in this process: blocks every Python thread, so only for scripts and tests."""
    shard = qe.EdgeShard.load(str(shard_dir))
    try:
        changed = shard.optimize()
        shard.flush()
    finally:
        shard.close()
    return changed


class SubprocessOptimizer:
    """Optimizes in a child process at low CPU priority; `cancel()` ends it."""

    def __init__(self, niceness: int = 10) -> None:
        self._niceness = niceness
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._cancelled = False

    def __call__(self, shard_dir: Path) -> bool:
        """Optimize the shard at `shard_dir`; True if any segment was rebuilt."""
        # Run as a script, not `-m indexer...`: the package import would pull in qdrant-client.
        command = [sys.executable, __file__, str(shard_dir), str(self._niceness)]
        with self._lock:
            if self._cancelled:
                raise OptimizeCancelled("optimizer was cancelled")
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self._process = process
        try:
            out, err = process.communicate()
        finally:
            with self._lock:
                self._process = None
        if self._cancelled:
            raise OptimizeCancelled("optimizer was cancelled")
        if process.returncode != 0:
            raise RuntimeError(f"edge optimizer failed ({process.returncode}): {err.strip()}")
        lines = out.split()
        return bool(lines) and lines[-1] == "changed"

    def cancel(self) -> None:
        """Stop a running optimization and refuse new ones."""
        with self._lock:
            self._cancelled = True
            if self._process is not None and self._process.poll() is None:
                self._process.kill()


def main(argv: list[str]) -> int:
    """Entry point of the child process."""
    shard_dir = Path(argv[0])
    if len(argv) > 1:
        os.nice(int(argv[1]))
    changed = optimize_in_process(shard_dir)
    print("changed" if changed else "unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
