"""The OpenAI backend, against an httpx.MockTransport: never the network."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from embeddings.factory import build_embedder
from embeddings.openai import OpenAIEmbedder

Handler = Callable[[httpx.Request], httpx.Response]


def fake_api(requests: list[dict[str, Any]], reverse: bool = False) -> Handler:
    """An embeddings endpoint returning [i+1, 2, 2, 0, ...] for input i of each request."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        dim = body.get("dimensions", 1536)
        data = [
            {"object": "embedding", "index": i, "embedding": [i + 1.0, 2.0, 2.0] + [0.0] * (dim - 3)}
            for i in range(len(body["input"]))
        ]
        if reverse:
            data.reverse()
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return httpx.Response(
            200, json={"object": "list", "model": body["model"], "data": data, "usage": usage}
        )

    return handle


def client_for(handler: Handler) -> openai.OpenAI:
    transport = httpx.MockTransport(handler)
    return openai.OpenAI(
        api_key="x",
        base_url="http://fake-openai.test/v1",
        # openai annotates this as its vendored httpx2.Client; a plain httpx.Client works.
        http_client=httpx.Client(transport=transport),  # type: ignore[arg-type]
        max_retries=0,
    )


def test_texts_are_sent_in_batches_and_rows_come_back_in_order() -> None:
    requests: list[dict[str, Any]] = []
    embedder = OpenAIEmbedder(client_for(fake_api(requests)), batch_size=2)
    rows = embedder.embed(["a", "b", "c", "d", "e"])
    assert [r["input"] for r in requests] == [["a", "b"], ["c", "d"], ["e"]]
    assert rows.shape == (5, 1536)
    # The fake's first component is 1 + the text's position in its request.
    np.testing.assert_allclose(rows[:, 0] / rows[:, 1] * 2, [1, 2, 1, 2, 1], rtol=1e-6)


def test_rows_are_unit_float32() -> None:
    embedder = OpenAIEmbedder(client_for(fake_api([])))
    rows = embedder.embed(["x", "y", "z"])
    assert rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(embedder.embed_one("x")[:3], [1 / 3, 2 / 3, 2 / 3], atol=1e-6)


def test_response_rows_are_placed_by_index() -> None:
    embedder = OpenAIEmbedder(client_for(fake_api([], reverse=True)))
    rows = embedder.embed(["first", "second"])
    assert rows[0, 0] < rows[1, 0]


def test_shortened_vectors_are_requested_and_named_apart() -> None:
    requests: list[dict[str, Any]] = []
    embedder = OpenAIEmbedder(client_for(fake_api(requests)), dim=256)
    assert embedder.embed(["hi"]).shape == (1, 256)
    assert requests[0]["dimensions"] == 256
    assert requests[0]["model"] == "text-embedding-3-small"
    assert embedder.model_id == "openai:text-embedding-3-small:256"
    assert OpenAIEmbedder(client_for(fake_api([]))).model_id == "openai:text-embedding-3-small"


def test_older_models_are_not_sent_dimensions() -> None:
    requests: list[dict[str, Any]] = []
    embedder = OpenAIEmbedder(client_for(fake_api(requests)), model="text-embedding-ada-002")
    embedder.embed_one("hi")
    assert "dimensions" not in requests[0]
    assert embedder.model_id == "openai:text-embedding-ada-002"


def test_empty_text_is_sent_as_a_space() -> None:
    requests: list[dict[str, Any]] = []
    OpenAIEmbedder(client_for(fake_api(requests))).embed(["", "x"])
    assert requests[0]["input"] == [" ", "x"]


def test_wrong_vector_size_is_an_error() -> None:
    embedder = OpenAIEmbedder(client_for(fake_api([])), model="some-other-model", dim=64)
    with pytest.raises(ValueError, match="returned"):
        embedder.embed_one("hi")


def test_api_errors_reach_the_caller() -> None:
    failing = client_for(lambda request: httpx.Response(500, json={"error": {"message": "down"}}))
    with pytest.raises(openai.InternalServerError):
        OpenAIEmbedder(failing).embed_one("hi")


def test_factory_requires_an_api_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="API key"):
        build_embedder("openai", cache_path=None, onnx_dir=tmp_path)


def test_factory_builds_openai_embedder_without_calling_it(tmp_path: Path) -> None:
    embedder = build_embedder(
        "openai", cache_path=tmp_path / "c.sqlite", onnx_dir=tmp_path, openai_api_key="sk-test"
    )
    try:
        assert embedder.model_id == "openai:text-embedding-3-small"
        assert embedder.dim == 1536
    finally:
        embedder.close()
