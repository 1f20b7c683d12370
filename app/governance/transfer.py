"""Moving patterns between environments as versioned JSON, never overwriting silently.

Patterns are matched across environments by their reply (the hash of the normalised response
text), not by id: ids differ from one database to the next.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from app.errors import InvalidInput
from app.governance.rows import ChangeSet
from app.governance.versions import EDITABLE, apply_version, pattern_state, validate_changes
from app.learning.facts import key_facts, reply_key
from app.learning.loader import SEARCHABLE
from app.models import Example, Pattern, utcnow
from app.text import fingerprint

SCHEMA = "pls.patterns/1"


def export_patterns(session: Session, tenant: str) -> dict[str, Any]:
    """Every live pattern of a tenant (merged-away ones excluded) with its usable examples."""
    patterns = session.exec(
        select(Pattern)
        .where(Pattern.tenant == tenant, col(Pattern.merged_into).is_(None))
        .order_by(col(Pattern.id))
    ).all()
    examples: dict[int, list[dict[str, Any]]] = {}
    for e in session.exec(
        select(Example)
        .where(Example.tenant == tenant, col(Example.status).in_(SEARCHABLE))
        .order_by(col(Example.id))
    ).all():
        examples.setdefault(e.pattern_id, []).append(
            {"text": e.text, "reply": e.reply, "context": e.context, "quality": e.quality, "status": e.status}
        )
    return {
        "schema": SCHEMA,
        "source_tenant": tenant,
        "exported_at": utcnow().isoformat(),
        "patterns": [
            {**pattern_state(p), "key_facts": p.key_facts, "examples": examples.get(p.id or 0, [])}
            for p in patterns
        ],
    }


def import_patterns(
    session: Session,
    changes: ChangeSet,
    tenant: str,
    document: dict[str, Any],
    *,
    author: str,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Bring a document's patterns in: new ones added, equal ones left, different ones reported.

    With `overwrite`, a pattern whose state differs takes the document's state as a new
    version; without it, it is reported as a conflict and left alone.
    """
    items = _parse(document)
    local = {p.reply_key: p for p in session.exec(select(Pattern).where(Pattern.tenant == tenant)).all()}
    known_hashes = set(session.exec(select(Example.text_hash).where(Example.tenant == tenant)).all())
    report: dict[str, Any] = {
        "added": [],
        "changed": [],
        "unchanged": 0,
        "conflicts": [],
        "examples_added": 0,
    }
    for index, item in enumerate(items):
        state = {name: item[name] for name in EDITABLE}
        pattern = local.get(reply_key(item["response_text"]))
        if pattern is None:
            pattern = Pattern(
                tenant=tenant,
                reply_key=reply_key(item["response_text"]),
                key_facts=list(item.get("key_facts") or key_facts(item["response_text"])),
                **state,
            )
            changes.created(session, pattern)
            local[pattern.reply_key] = pattern
            report["added"].append(item["response_text"])
        else:
            differs = {
                n: {"local": v, "imported": state[n]}
                for n, v in pattern_state(pattern).items()
                if v != state[n]
            }
            if differs and not overwrite:
                report["conflicts"].append({"index": index, "pattern_id": pattern.id, "fields": differs})
                continue
            if differs:
                apply_version(session, changes, pattern, state, author=author, reason="import")
                report["changed"].append(pattern.id)
            else:
                report["unchanged"] += 1
        report["examples_added"] += _add_examples(session, changes, pattern, item["examples"], known_hashes)
    return report


def _add_examples(
    session: Session, changes: ChangeSet, pattern: Pattern, examples: list[dict[str, Any]], known: set[str]
) -> int:
    added = 0
    for example in examples:
        text_hash = fingerprint(example["text"], example["reply"])
        if text_hash in known:
            continue
        known.add(text_hash)
        changes.created(
            session,
            Example(
                tenant=pattern.tenant,
                pattern_id=pattern.id,  # type: ignore[arg-type]
                text=example["text"],
                reply=example["reply"],
                context=list(example.get("context") or []),
                quality=float(example.get("quality", 1.0)),
                status=example.get("status", "active"),
                text_hash=text_hash,
                source="import",
            ),
        )
        added += 1
    return added


def _parse(document: Any) -> list[dict[str, Any]]:
    """Check the document's shape up front, naming the first thing that is wrong."""
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise InvalidInput("schema", f'expected a document with "schema": "{SCHEMA}"')
    patterns = document.get("patterns")
    if not isinstance(patterns, list):
        raise InvalidInput("patterns", "must be a list")
    out = []
    for i, item in enumerate(patterns):
        where = f"patterns[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput(where, "must be an object")
        missing = [name for name in EDITABLE if name not in item]
        if missing:
            raise InvalidInput(f"{where}.{missing[0]}", "is missing")
        try:
            validate_changes({name: item[name] for name in EDITABLE})
        except InvalidInput as error:
            raise InvalidInput(f"{where}.{error.field}", error.message) from None
        examples = item.get("examples", [])
        if not isinstance(examples, list) or any(
            not isinstance(e, dict)
            or not isinstance(e.get("text"), str)
            or not isinstance(e.get("reply"), str)
            for e in examples
        ):
            raise InvalidInput(f"{where}.examples", "must be a list of {text, reply} objects")
        out.append({**item, "examples": examples})
    return out
