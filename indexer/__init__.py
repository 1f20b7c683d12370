"""The example index: one vector-store contract, an embedded engine and a Qdrant server engine."""

from indexer.edge import EdgeRebuild, EdgeStore
from indexer.edge_config import EdgeTuning
from indexer.edge_optimize import SubprocessOptimizer, optimize_in_process
from indexer.exact import ExactNeighbours
from indexer.factory import build_store
from indexer.held_elsewhere import HeldElsewhereStore
from indexer.server import ServerRebuild, ServerStore
from indexer.store import Hit, IndexBusy, IndexHeldElsewhere, IndexPoint, Rebuild, StoredPoint, VectorStore

__all__ = [
    "EdgeRebuild",
    "EdgeStore",
    "EdgeTuning",
    "ExactNeighbours",
    "HeldElsewhereStore",
    "Hit",
    "IndexBusy",
    "IndexHeldElsewhere",
    "IndexPoint",
    "Rebuild",
    "ServerRebuild",
    "ServerStore",
    "StoredPoint",
    "SubprocessOptimizer",
    "VectorStore",
    "build_store",
    "optimize_in_process",
]
