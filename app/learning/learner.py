"""Learning: store an operator's reply as an example and file it under a pattern."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.errors import InvalidInput
from app.indexing import IndexWriter, enqueue
from app.learning.facts import key_facts, reply_key
from app.learning.memory import MemoryRegistry, PatternState, TenantMemory
from app.models import Decision, Example, ExampleStatus, Pattern, PatternStatus, utcnow
from app.privacy import mask_pii
from app.text import clean_text, fingerprint
from embeddings.base import Embedder


@dataclass(frozen=True)
class Interaction:
    """A customer message, the operator reply that answered it, and what came before."""

    text: str
    reply: str
    context: tuple[str, ...] = ()
    quality: float = 1.0
    # The stored customer message this answers (live flow), so an example knows its conversation.
    message_id: int | None = None


@dataclass(frozen=True)
class Learned:
    """Where one interaction ended up."""

    example_id: int
    pattern_id: int
    new_pattern: bool
    duplicate: bool


@dataclass
class LearnSummary:
    """Totals of a bulk learn."""

    read: int = 0
    learned: int = 0
    duplicates: int = 0
    new_patterns: int = 0
    results: list[Learned] = field(default_factory=list)


class Learner:
    """Turns operator replies into examples and patterns; SQL first, then the index."""

    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        memories: MemoryRegistry,
        index_writer: IndexWriter,
        max_chars: int = 4000,
    ) -> None:
        self.engine = engine
        self.embedder = embedder
        self.memories = memories
        self.index_writer = index_writer
        self.max_chars = max_chars

    def validate(self, interaction: Interaction) -> Interaction:
        """The interaction with cleaned, PII-masked texts, or InvalidInput naming the bad field.

        Every path into learning (API, imports, the live flow) passes here, so examples,
        patterns, embeddings and index payloads never see a raw phone number or e-mail.
        """
        if not 0.0 <= interaction.quality <= 1.0:
            raise InvalidInput("quality", "must be between 0 and 1")
        context = tuple(
            mask_pii(clean_text(item, f"context[{i}]", self.max_chars))
            for i, item in enumerate(interaction.context)
        )
        return Interaction(
            text=mask_pii(clean_text(interaction.text, "text", self.max_chars)),
            reply=mask_pii(clean_text(interaction.reply, "reply", self.max_chars)),
            context=context,
            quality=interaction.quality,
            message_id=interaction.message_id,
        )

    def learn(self, tenant: str, interaction: Interaction, source: str = "api") -> Learned:
        """Learn one interaction (idempotent: the same message and reply is stored once)."""
        summary = self.learn_many(tenant, [interaction], source=source)
        return summary.results[0]

    def learn_many(
        self,
        tenant: str,
        interactions: Iterable[Interaction],
        source: str = "import",
        chunk_size: int = 512,
        progress: Callable[[int], None] | None = None,
    ) -> LearnSummary:
        """Learn interactions in order, as if operators had sent them one by one."""
        self.memories.get(tenant)  # raises TenantNotFound before anything is read
        summary = LearnSummary()
        chunk: list[Interaction] = []
        for interaction in interactions:
            chunk.append(self.validate(interaction))
            if len(chunk) >= chunk_size:
                # The memory is taken afresh for every chunk: during a long import it may be
                # dropped and reloaded (another process changed the tenant), and the rest of
                # the import must update the one that matching uses.
                self._learn_chunk(self.memories.get(tenant), chunk, source, summary)
                if progress:
                    progress(len(chunk))
                chunk = []
        if chunk:
            self._learn_chunk(self.memories.get(tenant), chunk, source, summary)
            if progress:
                progress(len(chunk))
        return summary

    def _learn_chunk(
        self, memory: TenantMemory, chunk: Sequence[Interaction], source: str, summary: LearnSummary
    ) -> None:
        tenant = memory.tenant
        hashes = [fingerprint(i.text, i.reply) for i in chunk]
        # One embedding call for every text of the chunk; the cache makes repeats free.
        vectors = self.embedder.embed([i.text for i in chunk] + [i.reply for i in chunk])
        message_vecs, reply_vecs = vectors[: len(chunk)], vectors[len(chunk) :]
        # (example, is it new, did it create its pattern) in input order; ids exist after flush.
        outcome: list[tuple[Example, bool, bool]] = []
        fresh_vectors: list[np.ndarray] = []
        try:
            with memory.lock, session_scope(self.engine) as session:
                known = self._existing_examples(session, tenant, hashes)
                for interaction, text_hash, message_vec, reply_vec in zip(
                    chunk, hashes, message_vecs, reply_vecs, strict=True
                ):
                    if text_hash in known:
                        outcome.append((known[text_hash], False, False))
                        continue
                    pattern_id, created = self._assign(session, memory, interaction, reply_vec, message_vec)
                    example = Example(
                        tenant=tenant,
                        pattern_id=pattern_id,
                        message_id=interaction.message_id,
                        text=interaction.text,
                        reply=interaction.reply,
                        context=list(interaction.context),
                        quality=interaction.quality,
                        status=ExampleStatus.active,
                        text_hash=text_hash,
                        source=source,
                    )
                    session.add(example)
                    known[text_hash] = example
                    outcome.append((example, True, created))
                    fresh_vectors.append(message_vec)
                session.flush()
                fresh = [example for example, is_new, _ in outcome if is_new]
                self._bump_counts(session, fresh)
                enqueue(session, [example.id for example in fresh])  # type: ignore[misc]
        except BaseException:
            # The grouper already saw examples that never reached SQL: rebuild it from SQL.
            self.memories.forget(tenant)
            raise
        # Committed: only now do the in-memory statistics and the index follow.
        for example, vector in zip(fresh, fresh_vectors, strict=True):
            memory.patterns[example.pattern_id].add_example(vector, example.quality)
        for example, is_new, created in outcome:
            summary.read += 1
            summary.learned += int(is_new)
            summary.duplicates += int(not is_new)
            summary.new_patterns += int(created)
            summary.results.append(Learned(example.id, example.pattern_id, created, not is_new))  # type: ignore[arg-type]
        memory.learned_since_fit += len(fresh)
        if fresh:
            self.memories.settle(tenant, memory)
            self.index_writer.write_now(fresh, fresh_vectors)

    def _existing_examples(self, session: Session, tenant: str, hashes: list[str]) -> dict[str, Example]:
        rows = session.exec(
            select(Example).where(Example.tenant == tenant, col(Example.text_hash).in_(set(hashes)))
        ).all()
        return {row.text_hash: row for row in rows}

    def _assign(
        self,
        session: Session,
        memory: TenantMemory,
        interaction: Interaction,
        reply_vec: np.ndarray,
        message_vec: np.ndarray,
    ) -> tuple[int, bool]:
        """Pick the pattern for a new example, creating one when nothing fits."""
        pattern_id = memory.grouper.assign(
            interaction.reply, reply_vec, message_vec, message=interaction.text
        )
        created = pattern_id is None
        if pattern_id is None:
            pattern = Pattern(
                tenant=memory.tenant,
                response_text=interaction.reply,
                reply_key=reply_key(interaction.reply),
                key_facts=sorted(key_facts(interaction.reply, interaction.text)),
            )
            session.add(pattern)
            session.flush()
            pattern_id = pattern.id
            assert pattern_id is not None
            memory.patterns[pattern_id] = PatternState(
                pattern_id, pattern.status, pattern.mode, pattern.response_text
            )
        memory.grouper.add(pattern_id, interaction.reply, reply_vec, message_vec, message=interaction.text)
        return pattern_id, created

    def _bump_counts(self, session: Session, fresh: Sequence[Example]) -> None:
        added: dict[int, int] = {}
        for example in fresh:
            added[example.pattern_id] = added.get(example.pattern_id, 0) + 1
        if not added:
            return
        patterns = session.exec(select(Pattern).where(col(Pattern.id).in_(list(added)))).all()
        now = utcnow()
        for pattern in patterns:
            pattern.example_count += added[pattern.id]  # type: ignore[index]
            pattern.updated_at = now

    def consolidate(self, tenant: str) -> dict[int, int]:
        """Merge patterns that turned out to say the same thing (after a bulk import).

        Returns {merged pattern id: surviving pattern id}. Examples move to the survivor in
        SQL and in the index; merged patterns are deleted when nothing refers to them.
        """
        memory = self.memories.get(tenant)
        with memory.lock:
            mapping = memory.grouper.consolidate()
            if not mapping:
                return {}
            try:
                moved = self._apply_merges(tenant, mapping)
            except BaseException:
                self.memories.forget(tenant)
                raise
            for drop, keep in mapping.items():
                dropped = memory.patterns.pop(drop, None)
                if dropped is not None:
                    memory.patterns[keep].absorb(dropped)
        self.memories.settle(tenant, memory)
        self.index_writer.move_now(moved)
        return mapping

    def _apply_merges(self, tenant: str, mapping: dict[int, int]) -> dict[int, list[int]]:
        moved: dict[int, list[int]] = {}
        with session_scope(self.engine) as session:
            examples = session.exec(
                select(Example).where(Example.tenant == tenant, col(Example.pattern_id).in_(list(mapping)))
            ).all()
            for example in examples:
                example.pattern_id = mapping[example.pattern_id]
                moved.setdefault(example.pattern_id, []).append(example.id)  # type: ignore[arg-type]
            enqueue(session, [example.id for example in examples])  # type: ignore[misc]
            patterns = {
                p.id: p
                for p in session.exec(
                    select(Pattern).where(col(Pattern.id).in_(list(mapping) + list(mapping.values())))
                ).all()
            }
            session.flush()
            referenced = set(
                session.exec(
                    select(Decision.pattern_id).where(col(Decision.pattern_id).in_(list(mapping)))
                ).all()
            )
            for drop, keep in mapping.items():
                survivor, merged = patterns[keep], patterns[drop]
                survivor.example_count += merged.example_count
                survivor.match_count += merged.match_count
                survivor.updated_at = utcnow()
                if drop in referenced:
                    merged.status = PatternStatus.disabled
                    merged.example_count = 0
                else:
                    session.delete(merged)
        return moved
