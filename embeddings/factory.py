"""Build the configured embedder stack from plain settings values."""

from __future__ import annotations

from pathlib import Path

from embeddings.base import Embedder
from embeddings.batching import MicroBatchingEmbedder, workers_per_core
from embeddings.cache import CachedEmbedder, EmbeddingCache

KINDS = ("onnx", "sentence-transformers", "openai")


def build_embedder(
    kind: str = "onnx",
    *,
    cache_path: Path | None,
    model_dir: Path | None = None,
    onnx_dir: Path,
    openai_api_key: str | None = None,
    openai_model: str = "text-embedding-3-small",
    openai_dim: int = 1536,
    onnx_threads: int | None = None,
    micro_batch: bool = True,
) -> Embedder:
    """The embedder for `kind`, behind a content cache (if `cache_path`) and a micro-batcher.

    The micro-batcher sits outside the cache, so concurrent callers' texts are looked up and
    embedded in batches (a text asked for twice in one batch is embedded once). A caller that
    batches for itself, like the matcher, takes the embedder from behind it (`unbatched`).
    """
    embedder: Embedder
    if kind == "onnx":
        from embeddings.onnx import OnnxEmbedder, ensure_onnx_model

        embedder = OnnxEmbedder(ensure_onnx_model(onnx_dir, model_dir), threads=onnx_threads)
    elif kind == "sentence-transformers":
        from embeddings.local import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(model_dir)
    elif kind == "openai":
        if not openai_api_key:
            raise ValueError("embedder kind 'openai' needs an OpenAI API key (openai_api_key)")
        from openai import OpenAI

        from embeddings.openai import OpenAIEmbedder

        embedder = OpenAIEmbedder(OpenAI(api_key=openai_api_key), openai_model, openai_dim)
    else:
        raise ValueError(f"unknown embedder kind {kind!r}; expected one of {', '.join(KINDS)}")
    if cache_path is not None:
        embedder = CachedEmbedder(embedder, EmbeddingCache(cache_path))
    if micro_batch:
        embedder = MicroBatchingEmbedder(embedder, workers=workers_per_core())
    return embedder
