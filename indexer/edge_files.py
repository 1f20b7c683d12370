"""On-disk layout of an edge index: numbered shard generations and a pointer to the live one.

<root>/.lock          held (flock) by the one EdgeStore that owns the directory
<root>/CURRENT        name of the live generation, replaced atomically
<root>/REBUILD        name of a generation being rebuilt (kept across restarts to resume it)
<root>/gen-000001/    one edge shard per generation
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from pathlib import Path
from typing import IO

from indexer.store import IndexHeldElsewhere

POINTER = "CURRENT"
REBUILD = "REBUILD"
LOCK = ".lock"
_GEN = re.compile(r"^gen-(\d{6,})$")


def generation_dir(root: Path, generation: int) -> Path:
    """Directory of one shard generation."""
    return root / f"gen-{generation:06d}"


def generations(root: Path) -> list[int]:
    """Generation numbers that have a directory under `root`, ascending."""
    found = []
    for entry in root.iterdir():
        match = _GEN.match(entry.name)
        if match and entry.is_dir():
            found.append(int(match.group(1)))
    return sorted(found)


def read_pointer(root: Path) -> int | None:
    """The live generation, or None for a fresh (or never committed) directory."""
    try:
        name = (root / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    match = _GEN.match(name)
    if match is None or not generation_dir(root, int(match.group(1))).is_dir():
        raise RuntimeError(f"{root / POINTER} names no shard generation: {name!r}")
    return int(match.group(1))


def write_pointer(root: Path, generation: int) -> None:
    """Make `generation` live: write a temporary file, fsync it, rename it over the pointer."""
    tmp = root / f"{POINTER}.tmp"
    with open(tmp, "w") as f:
        f.write(generation_dir(root, generation).name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / POINTER)
    # The rename itself is durable only once the directory entry is on disk.
    dir_fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def sweep(root: Path, keep: int | None) -> None:
    """Remove every generation but `keep` and a resumable rebuild: copies a crash left behind."""
    (root / f"{POINTER}.tmp").unlink(missing_ok=True)
    rebuilding = read_rebuild(root)
    for generation in generations(root):
        if generation not in (keep, rebuilding):
            shutil.rmtree(generation_dir(root, generation), ignore_errors=True)


def read_rebuild(root: Path) -> int | None:
    """The generation a rebuild is filling (None when no rebuild is pending)."""
    try:
        name = (root / REBUILD).read_text().strip()
    except FileNotFoundError:
        return None
    match = _GEN.match(name)
    return int(match.group(1)) if match else None


def write_rebuild(root: Path, generation: int | None) -> None:
    """Mark `generation` as a pending rebuild (None: no rebuild pending)."""
    if generation is None:
        (root / REBUILD).unlink(missing_ok=True)
        return
    tmp = root / f"{REBUILD}.tmp"
    tmp.write_text(generation_dir(root, generation).name + "\n")
    os.replace(tmp, root / REBUILD)


def lock(root: Path) -> IO[str]:
    """Take the directory's exclusive lock, or fail if another store holds it."""
    # Kept open for the store's lifetime: closing the file would drop the lock.
    handle = open(root / LOCK, "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise IndexHeldElsewhere(
            f"the vector index under {root} is already open in another EdgeStore (one process holds it"
            " at a time, such as a running service)"
        ) from None
    return handle


def held_elsewhere(root: Path) -> bool:
    """Whether another store holds the directory's lock now (a check only: nothing is taken)."""
    if not (root / LOCK).exists():
        return False
    try:
        unlock(lock(root))
    except IndexHeldElsewhere:
        return True
    return False


def unlock(handle: IO[str]) -> None:
    """Release the directory lock taken by `lock`."""
    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    handle.close()
