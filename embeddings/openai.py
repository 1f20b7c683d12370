"""OpenAI embeddings through a client the caller builds (and tests fake)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.base import Embedder

if TYPE_CHECKING:
    from openai import OpenAI

# Output sizes when no `dimensions` is requested; any other size changes the vectors.
NATIVE_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder(Embedder):
    """Embeds with the OpenAI embeddings API; `client` is an `openai.OpenAI` built by the caller."""

    def __init__(
        self,
        client: OpenAI,
        model: str = "text-embedding-3-small",
        dim: int = 1536,
        batch_size: int = 256,
    ) -> None:
        self.client = client
        self.model = model
        self.dim = dim
        # The API takes up to 2,048 inputs and 300k tokens per request; 256 SMS-sized
        # texts stay far below both while keeping requests few.
        self.batch_size = batch_size
        # Shortened text-embedding-3 vectors differ from full ones, so the size is part
        # of the identity (and thus of cache keys) whenever it is not the model's own.
        native = NATIVE_DIMS.get(model)
        self.model_id = f"openai:{model}" if native in (None, dim) else f"openai:{model}:{dim}"
        self._send_dimensions = model.startswith("text-embedding-3")

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """One API request for up to `batch_size` texts; rows come back in input order."""
        # The API rejects empty strings; a single space embeds as "nothing" just as well.
        inputs = [text or " " for text in texts]
        # Only text-embedding-3 models accept `dimensions`; older ones reject the field.
        extra: dict[str, Any] = {"dimensions": self.dim} if self._send_dimensions else {}
        response = self.client.embeddings.create(
            model=self.model, input=inputs, encoding_format="float", **extra
        )
        rows = sorted(response.data, key=lambda item: item.index)
        vectors = np.array([row.embedding for row in rows], dtype=np.float32)
        if vectors.shape != (len(inputs), self.dim):
            raise ValueError(
                f"{self.model} returned {vectors.shape} for {len(inputs)} texts of dim {self.dim}"
            )
        return vectors
