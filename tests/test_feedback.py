"""Classifying an operator's reply against PLS's proposal; the live hub's tenant isolation."""

from __future__ import annotations

import asyncio

import pytest

from app.flow.live import LiveHub
from app.learning.feedback import classify

PROPOSED = "The door code for Bedford is 4512."


@pytest.mark.parametrize(
    ("actual", "verdict"),
    [
        ("The door code for Bedford is 4512.", "accepted"),
        ("the door code for bedford is 4512", "accepted"),
        ("Hi Sam! The door code for Bedford is 4512, enjoy your session.", "edited"),
        ("The door code for Bedford is 7788.", "rejected"),
        ("Sorry, Bedford is closed for maintenance today.", "rejected"),
    ],
)
def test_operator_reply_is_classified(actual: str, verdict: str) -> None:
    assert classify(PROPOSED, actual)[0] == verdict


def test_live_hub_delivers_only_to_the_tenants_subscribers() -> None:
    async def scenario() -> tuple[list[dict], list[dict]]:
        hub = LiveHub()
        mine, other = hub.subscribe("a"), hub.subscribe("b")
        await asyncio.to_thread(hub.publish, "a", {"n": 1})  # published from a worker thread
        await asyncio.sleep(0.05)
        got_mine = [mine.queue.get_nowait() for _ in range(mine.queue.qsize())]
        got_other = [other.queue.get_nowait() for _ in range(other.queue.qsize())]
        hub.unsubscribe(mine)
        assert hub.subscribers("a") == 0
        return got_mine, got_other

    mine, other = asyncio.run(scenario())
    assert mine == [{"n": 1}] and other == []


def test_slow_subscriber_drops_the_oldest_events() -> None:
    async def scenario() -> tuple[int, dict]:
        hub = LiveHub()
        sub = hub.subscribe("a")
        for n in range(sub.queue.maxsize + 5):
            hub.publish("a", {"n": n})
        await asyncio.sleep(0.05)
        return sub.dropped, sub.queue.get_nowait()

    dropped, first = asyncio.run(scenario())
    assert dropped == 5 and first == {"n": 5}
