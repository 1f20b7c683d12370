"""MiniLM served by onnxruntime + tokenizers: fast startup, no torch at serving time."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from embeddings.base import Embedder
from embeddings.batching import in_batch_worker
from embeddings.local import DIM, MODEL_ID, hub_offline, model_dir

# Tokenizing a text costs microseconds against milliseconds for the model, and the service
# already runs calls side by side: the tokenizers' own thread pool only adds workers that
# spin for work and crowd the cores the model runs on (16 concurrent matches: about 1.6 of
# those threads runnable on 2 cores, 6% fewer matches per second). An explicit setting wins.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
    tmp.chmod(0o755)  # mkdtemp makes it owner-only; other accounts may serve from the export
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

    # Eager attention traces to plain MatMul/Softmax ops. The SDPA path picks mask shortcuts
    # in Python, and a trace freezes whatever it picked for the sample into the graph.
    model = AutoModel.from_pretrained(
        str(model_path), local_files_only=True, attn_implementation="eager"
    )

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    # eval() on the wrapper too: export restores the wrapper's mode afterwards, and a fresh
    # Module is in training mode, which would switch dropout on in the model under it.
    wrapper = TokenEmbeddings().eval()
    # A padded sample, so a mask shortcut taken at trace time could not go unnoticed.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    sample = (ids, mask, torch.zeros_like(ids))
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter and the tracer warn about constructs this graph does not hit.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        expected = wrapper(*sample).numpy()
        torch.onnx.export(
            wrapper,
            sample,
            str(target),
            input_names=list(INPUT_NAMES),
            output_names=["token_embeddings"],
            dynamic_axes={name: axes for name in (*INPUT_NAMES, "token_embeddings")},
            opset_version=OPSET,
            dynamo=False,
        )
    _check_export(target, sample, expected)


def _check_export(target: Path, sample: tuple, expected: np.ndarray) -> None:
    """Refuse an export whose output drifts from torch on the padded sample."""
    session = _session(str(target), None)
    got = session.run(None, {n: t.numpy() for n, t in zip(INPUT_NAMES, sample, strict=True)})[0]
    mask = sample[1].numpy().astype(bool)
    drift = float(np.abs(got - expected)[mask].max())
    if drift > 1e-3:
        raise RuntimeError(f"ONNX export differs from torch by {drift:.2e}")


class OnnxEmbedder(Embedder):
    """all-MiniLM-L6-v2 via onnxruntime; same vectors as sentence-transformers.

    With `threads` unset, a call that runs alone gets every core, and calls that overlap
    another, or come from a batch worker (which runs only while other calls are in flight), get
    one core each. A lone text is up to 1.5x faster on two cores than on one (it varies between
    machines, and on some it gains nothing), so the lone caller takes that gain; overlapping
    calls (batches from several workers) each run on their own core, which beats sharing one
    pool of all cores: in batches of 8, two single-thread calls side by side embed a text every
    2.4 ms, one two-thread call every 3.1 ms (measured on one 2-core machine), and 16 concurrent
    matches ran about 9% faster.
    """

    model_id = MODEL_ID
    dim = DIM

    def __init__(self, onnx_dir: Path, threads: int | None = None, batch_size: int = 32) -> None:
        onnx_dir = Path(onnx_dir)
        self.batch_size = batch_size
        config = json.loads((onnx_dir / "sentence_bert_config.json").read_text())
        self.max_seq_length: int = int(config["max_seq_length"])
        self.tokenizer = _load_tokenizer(onnx_dir / "tokenizer.json", self.max_seq_length)
        graph = str(onnx_dir / MODEL_FILE)
        self.session = _session(graph, threads)
        # With one intra-op thread, onnxruntime computes on the calling thread, so one narrow
        # session serves any number of overlapping calls side by side.
        self._narrow = self.session if threads or (os.cpu_count() or 1) == 1 else _session(graph, 1)
        self._running = 0
        self._running_lock = threading.Lock()
        self._inputs = {i.name for i in self.session.get_inputs()}

    @contextmanager
    def _session_for_call(self) -> Iterator[ort.InferenceSession]:
        """The wide session for a call that runs alone, the narrow one while others run."""
        with self._running_lock:
            alone = self._running == 0 and not in_batch_worker()
            self._running += 1
        try:
            yield self.session if alone else self._narrow
        finally:
            with self._running_lock:
                self._running -= 1

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Tokenize, run the graph on groups of similar length, mean-pool over real tokens."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        arrays = {name: value for name, value in arrays.items() if name in self._inputs}
        lengths = arrays["attention_mask"].sum(axis=1)
        out = np.empty((len(encodings), self.dim), dtype=np.float32)
        with self._session_for_call() as session:
            for rows in length_groups(lengths):
                # Padding is on the right, so cutting columns to the group's longest text
                # drops only padding, and a text's vector does not depend on its padding.
                width = int(lengths[rows].max())
                feeds = {name: value[rows, :width] for name, value in arrays.items()}
                tokens = session.run(None, feeds)[0]
                mask = feeds["attention_mask"][:, :, None].astype(np.float32)
                out[rows] = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return out


def length_groups(lengths: np.ndarray, slack: float = 1.5) -> list[np.ndarray]:
    """Split row indices into runs whose padded size stays within `slack` x their real tokens.

    One long message would otherwise pad every short text in its micro-batch to its length.
    """
    order = np.argsort(lengths, kind="stable")
    groups: list[np.ndarray] = []
    if len(order) == 0:
        return groups
    start, real = 0, 0
    for end, row in enumerate(order):
        longest = int(lengths[row])  # ascending order: the newest row is the longest
        if end > start and longest * (end - start + 1) > slack * (real + longest):
            groups.append(order[start:end])
            start, real = end, 0
        real += longest
    groups.append(order[start:])
    return groups


def _session(graph: str, threads: int | None) -> ort.InferenceSession:
    return ort.InferenceSession(graph, sess_options=session_options(threads), providers=["CPUExecutionProvider"])


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Session options for small CPU batches; `threads` caps onnxruntime's intra-op pool."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The graph is one chain of layers: parallel execution mode only adds scheduling.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    # Idle pool threads spin by default; on a shared box the spinning steals the very cores
    # the busy thread needs (measured here: single-text latency 2x worse, batches 1.7x slower).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
