"""Text embedders: one small contract, several backends, a cache and a micro-batcher."""

from embeddings.base import Embedder, normalise
from embeddings.batching import MicroBatchingEmbedder
from embeddings.cache import CachedEmbedder, EmbeddingCache
from embeddings.factory import build_embedder
from embeddings.local import SentenceTransformerEmbedder, model_dir
from embeddings.onnx import OnnxEmbedder, ensure_onnx_model, export_onnx
from embeddings.openai import OpenAIEmbedder

__all__ = [
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "MicroBatchingEmbedder",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "build_embedder",
    "ensure_onnx_model",
    "export_onnx",
    "model_dir",
    "normalise",
]
