"""Curating what was learned: void or promote examples, move them, split and merge patterns."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.errors import Conflict, InvalidInput, NotFound
from app.governance.rows import ChangeSet
from app.governance.versions import apply_version, owned_pattern
from app.learning.facts import key_facts, reply_key
from app.models import Conversation, Example, ExampleStatus, Message, Pattern, PatternStatus


def owned_examples(session: Session, tenant: str, example_ids: Sequence[int]) -> list[Example]:
    """The named examples of this tenant; any missing or foreign id is not found."""
    if not example_ids:
        raise InvalidInput("example_ids", "name at least one example")
    rows = session.exec(
        select(Example).where(Example.tenant == tenant, col(Example.id).in_(set(example_ids)))
    ).all()
    found = {row.id for row in rows}
    missing = [i for i in example_ids if i not in found]
    if missing:
        raise NotFound("example", missing[0])
    return list(rows)


def void_examples(
    session: Session, changes: ChangeSet, tenant: str, example_ids: Sequence[int], reason: str
) -> None:
    """Take examples out of matching, keeping them (and why) for the record."""
    if not reason.strip():
        raise InvalidInput("reason", "say why the example is voided")
    for example in owned_examples(session, tenant, example_ids):
        changes.track(example)
        example.status = ExampleStatus.voided
        example.void_reason = reason.strip()


def mark_gold(session: Session, changes: ChangeSet, tenant: str, example_ids: Sequence[int]) -> None:
    """Mark examples as gold: confirmed right, kept active for matching and evaluation."""
    for example in owned_examples(session, tenant, example_ids):
        changes.track(example)
        example.status = ExampleStatus.gold
        example.void_reason = None


def conversation_examples(session: Session, tenant: str, conversation_id: int) -> list[int]:
    """Examples learned from a conversation of this tenant (through the customer messages they answer)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.tenant != tenant:
        raise NotFound("conversation", conversation_id)
    rows = session.exec(
        select(Example.id)
        .join(Message, col(Message.id) == col(Example.message_id))
        .where(Example.tenant == tenant, Message.conversation_id == conversation_id)
    ).all()
    if not rows:
        raise Conflict(f"nothing has been learned from conversation {conversation_id} yet")
    return [row for row in rows if row is not None]


def move_examples(
    session: Session, changes: ChangeSet, tenant: str, example_ids: Sequence[int], pattern_id: int
) -> None:
    """File examples under another pattern of the same tenant."""
    owned_pattern(session, tenant, pattern_id)
    for example in owned_examples(session, tenant, example_ids):
        changes.track(example)
        example.pattern_id = pattern_id


def split_pattern(
    session: Session,
    changes: ChangeSet,
    tenant: str,
    pattern_id: int,
    example_ids: Sequence[int],
    response_text: str | None = None,
) -> Pattern:
    """Move some examples of a pattern into a new pattern (a candidate awaiting approval)."""
    source = owned_pattern(session, tenant, pattern_id)
    examples = owned_examples(session, tenant, example_ids)
    strangers = [e.id for e in examples if e.pattern_id != pattern_id]
    if strangers:
        raise InvalidInput("example_ids", f"example {strangers[0]} is not in pattern {pattern_id}")
    remaining = session.exec(
        select(func.count()).select_from(Example).where(Example.pattern_id == pattern_id)
    ).one()
    if remaining <= len(examples):
        raise InvalidInput("example_ids", "a split must leave at least one example behind")
    reply = (response_text or examples[0].reply).strip()
    new = Pattern(
        tenant=tenant,
        response_text=reply,
        reply_key=reply_key(reply),
        key_facts=sorted(key_facts(reply, examples[0].text)),
        status=PatternStatus.candidate,
        mode=source.mode,
    )
    changes.created(session, new)
    assert new.id is not None
    for example in examples:
        changes.track(example)
        example.pattern_id = new.id
    return new


def merge_pattern(
    session: Session, changes: ChangeSet, tenant: str, pattern_id: int, into: int, author: str, reason: str
) -> Pattern:
    """Merge a pattern into another: examples move, its replies stay on as alternatives."""
    if pattern_id == into:
        raise InvalidInput("into", "a pattern cannot be merged into itself")
    source = owned_pattern(session, tenant, pattern_id)
    target = owned_pattern(session, tenant, into)
    alternatives = list(target.alternatives or [])
    for reply in [source.response_text, *(source.alternatives or [])]:
        if reply != target.response_text and reply not in alternatives:
            alternatives.append(reply)
    apply_version(session, changes, target, {"alternatives": alternatives}, author=author, reason=reason)
    apply_version(session, changes, source, {"status": PatternStatus.disabled}, author=author, reason=reason)
    changes.track(source)
    source.merged_into = into
    for example in session.exec(select(Example).where(Example.pattern_id == pattern_id)).all():
        changes.track(example)
        example.pattern_id = into
    return target
