"""The embedder contract: one abstract method; batching and normalisation live here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Embedder(ABC):
    """Turns texts into unit-length float32 vectors.

    A backend implements only `embed_batch`; callers use `embed` / `embed_one`, which
    split the input into batches of `batch_size` and normalise every row.
    """

    model_id: str
    dim: int
    batch_size: int = 32

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed at most `batch_size` texts; rows need not be normalised."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed any number of texts: an (n, dim) float32 array of unit rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.asarray(self.embed_batch(texts[i : i + self.batch_size]), dtype=np.float32)
            for i in range(0, len(texts), self.batch_size)
        ]
        return normalise(np.vstack(parts))

    def embed_one(self, text: str) -> np.ndarray:
        """Embed a single text: a (dim,) float32 unit vector."""
        return self.embed([text])[0]

    def close(self) -> None:  # noqa: B027 - an optional hook, deliberately not abstract
        """Release resources (threads, sessions, files); the default has none."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)
