"""MiniLM served by onnxruntime + tokenizers: fast startup, no torch at serving time."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from embeddings.base import Embedder
from embeddings.local import DIM, MODEL_ID, hub_offline, model_dir

MODEL_FILE = "model.onnx"
# Everything serving needs besides the graph: the tokenizer and the truncation length.
COPIED_FILES = ("tokenizer.json", "sentence_bert_config.json", "config.json")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


def export_onnx(out_dir: Path, model_path: Path | None = None) -> Path:
    """Export the model to `out_dir` (model.onnx + tokenizer files), replacing any previous export."""
    out_dir = Path(out_dir)
    with _export_lock(out_dir):
        _export(out_dir, Path(model_path) if model_path else model_dir())
    return out_dir


def ensure_onnx_model(out_dir: Path, model_path: Path | None = None) -> Path:
    """Return `out_dir`, exporting the model there first if it is not already exported."""
    out_dir = Path(out_dir)
    if _is_complete(out_dir):
        return out_dir
    with _export_lock(out_dir):
        # Another process may have finished the export while we waited for the lock.
        if not _is_complete(out_dir):
            _export(out_dir, Path(model_path) if model_path else model_dir())
    return out_dir


def _is_complete(out_dir: Path) -> bool:
    return all((out_dir / name).is_file() for name in (MODEL_FILE, *COPIED_FILES))


@contextmanager
def _export_lock(out_dir: Path) -> Iterator[None]:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # The lock lives beside out_dir, not inside it, because out_dir is swapped by rename.
    with open(out_dir.parent / f".{out_dir.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export(out_dir: Path, model_path: Path) -> None:
    # Build everything in a sibling temp dir, then rename: readers never see half a model.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        _write_onnx(model_path, tmp / MODEL_FILE)
        for name in COPIED_FILES:
            shutil.copyfile(model_path / name, tmp / name)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.rename(out_dir, old)
            os.rename(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_onnx(model_path: Path, target: Path) -> None:
    """Trace the transformer (token embeddings out; pooling is done at serving time)."""
    hub_offline()
    import torch
    from transformers import AutoModel

    # Eager attention: the SDPA path decides at trace time whether a mask is needed, and a
    # trace taken without padding would then ignore the attention mask for ever after.
    model = AutoModel.from_pretrained(
        str(model_path), local_files_only=True, attn_implementation="eager"
    )
    model.eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    # A padded sample batch, so the traced graph really uses the attention mask.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    sample = (ids, mask, torch.zeros_like(ids))
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            TokenEmbeddings(),
            sample,
            str(target),
            input_names=list(INPUT_NAMES),
            output_names=["token_embeddings"],
            dynamic_axes={name: axes for name in (*INPUT_NAMES, "token_embeddings")},
            opset_version=OPSET,
            dynamo=False,
        )
        expected = TokenEmbeddings()(*sample).numpy()
    _check_export(target, sample, expected)


def _check_export(target: Path, sample: tuple, expected: np.ndarray) -> None:
    """Refuse an export whose output drifts from torch on the padded sample."""
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(INPUT_NAMES, sample, strict=True)})[0]
    mask = sample[1].numpy().astype(bool)
    drift = float(np.abs(got - expected)[mask].max())
    if drift > 1e-3:
        raise RuntimeError(f"ONNX export differs from torch by {drift:.2e}")


class OnnxEmbedder(Embedder):
    """all-MiniLM-L6-v2 via onnxruntime; same vectors as sentence-transformers."""

    model_id = MODEL_ID
    dim = DIM

    def __init__(self, onnx_dir: Path, threads: int | None = None, batch_size: int = 32) -> None:
        onnx_dir = Path(onnx_dir)
        self.batch_size = batch_size
        config = json.loads((onnx_dir / "sentence_bert_config.json").read_text())
        self.max_seq_length: int = int(config["max_seq_length"])
        self.tokenizer = _load_tokenizer(onnx_dir / "tokenizer.json", self.max_seq_length)
        self.session = ort.InferenceSession(
            str(onnx_dir / MODEL_FILE),
            sess_options=session_options(threads),
            providers=["CPUExecutionProvider"],
        )
        self._inputs = {i.name for i in self.session.get_inputs()}

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Tokenize (padded to the longest text), run the graph, mean-pool over real tokens."""
        encodings = self.tokenizer.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        feeds = {name: value for name, value in feeds.items() if name in self._inputs}
        tokens = self.session.run(None, feeds)[0]
        mask = feeds["attention_mask"][:, :, None].astype(np.float32)
        return (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Session options for small CPU batches; `threads` caps onnxruntime's intra-op pool."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return options


def _load_tokenizer(path: Path, max_length: int) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    # The shipped tokenizer.json pads and truncates to a fixed 128; sentence-transformers
    # truncates at max_seq_length and pads only to the longest text in the batch.
    tokenizer.enable_truncation(max_length=max_length)
    pad = tokenizer.padding or {}
    tokenizer.enable_padding(
        pad_id=int(pad.get("pad_id", 0)), pad_token=str(pad.get("pad_token", "[PAD]"))
    )
    return tokenizer
