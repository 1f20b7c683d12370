"""Shared pieces for the embeddings tests: the exported ONNX model and a fake embedder."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from embeddings.base import Embedder
from embeddings.onnx import ensure_onnx_model


@pytest.fixture(scope="session")
def onnx_dir() -> Path:
    """The MiniLM ONNX export, kept between runs so only the first run pays for exporting."""
    configured = os.environ.get("PLS_TEST_MODEL_DIR")
    target = Path(configured) if configured else Path.home() / ".cache" / "pls-test" / "onnx-minilm"
    return ensure_onnx_model(target)


class FakeEmbedder(Embedder):
    """Deterministic vectors from a hash of the text; records every text it embeds."""

    def __init__(
        self, model_id: str = "fake", dim: int = 8, delay: float = 0.0, fail_on: str | None = None
    ) -> None:
        self.model_id = model_id
        self.dim = dim
        self.delay = delay
        self.fail_on = fail_on
        self.embedded: list[str] = []
        self.calls: list[list[str]] = []
        self.closed = False
        self._lock = threading.Lock()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Hash-derived rows; raises ValueError for any text containing `fail_on`."""
        if self.fail_on is not None and any(self.fail_on in text for text in texts):
            raise ValueError(f"cannot embed {self.fail_on!r}")
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls.append(list(texts))
            self.embedded.extend(texts)
        return np.stack([fake_vector(text, self.dim) for text in texts])

    def close(self) -> None:
        """Remember that the owner closed us."""
        self.closed = True


def fake_vector(text: str, dim: int = 8) -> np.ndarray:
    """The unnormalised vector FakeEmbedder gives `text`."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def expected_rows(texts: Sequence[str], dim: int = 8) -> np.ndarray:
    """What any correct embedder stack over FakeEmbedder returns: unit rows in order."""
    rows = np.stack([fake_vector(text, dim) for text in texts])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
