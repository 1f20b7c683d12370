"""Pattern versions: every change to a pattern's editable state is a new, numbered version."""

from __future__ import annotations

import difflib
from typing import Any

from sqlmodel import Session, col, select

from app.errors import Conflict, InvalidInput, NotFound, PatternNotFound
from app.governance.rows import ChangeSet
from app.models import Pattern, PatternMode, PatternStatus, PatternVersion, utcnow

EDITABLE = ("response_text", "alternatives", "mode", "status", "threshold_override")


class StaleVersion(Conflict):
    """The caller edited from an older version than the one now stored."""

    def __init__(self, pattern_id: int, expected: int, current: int) -> None:
        super().__init__(f"pattern {pattern_id} is at version {current}, not {expected}: reload and retry")
        self.current_version = current


def pattern_state(pattern: Pattern) -> dict[str, Any]:
    """The editable state a version records."""
    return {
        "response_text": pattern.response_text,
        "alternatives": list(pattern.alternatives or []),
        "mode": pattern.mode,
        "status": pattern.status,
        "threshold_override": pattern.threshold_override,
    }


def owned_pattern(session: Session, tenant: str, pattern_id: int) -> Pattern:
    """A pattern of this tenant; another tenant's pattern does not exist for the caller."""
    pattern = session.get(Pattern, pattern_id)
    if pattern is None or pattern.tenant != tenant:
        raise PatternNotFound(pattern_id)
    return pattern


def validate_changes(changes: dict[str, Any], validate_text: Any = None) -> dict[str, Any]:
    """Reject unknown fields and impossible values before anything is written."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "not an editable pattern field")
    if "mode" in changes and changes["mode"] not in set(PatternMode):
        raise InvalidInput("mode", f"must be one of {', '.join(PatternMode)}")
    if "status" in changes and changes["status"] not in set(PatternStatus):
        raise InvalidInput("status", f"must be one of {', '.join(PatternStatus)}")
    threshold = changes.get("threshold_override")
    if threshold is not None and not 0.0 < float(threshold) <= 1.0:
        raise InvalidInput("threshold_override", "must be in (0, 1] or null")
    if "response_text" in changes:
        text = str(changes["response_text"] or "").strip()
        if not text:
            raise InvalidInput("response_text", "must not be empty")
        changes["response_text"] = text
    if "alternatives" in changes:
        alternatives = [str(a).strip() for a in changes["alternatives"] or []]
        if any(not a for a in alternatives):
            raise InvalidInput("alternatives", "must not contain empty replies")
        changes["alternatives"] = alternatives
    if validate_text is not None:
        for name, text in _texts(changes):
            validate_text(text, name)
    return changes


def _texts(changes: dict[str, Any]) -> list[tuple[str, str]]:
    texts = [("response_text", changes["response_text"])] if "response_text" in changes else []
    texts += [(f"alternatives[{i}]", a) for i, a in enumerate(changes.get("alternatives", []))]
    return texts


def apply_version(
    session: Session,
    changeset: ChangeSet,
    pattern: Pattern,
    changes: dict[str, Any],
    *,
    author: str,
    reason: str,
    expected_version: int | None = None,
) -> PatternVersion | None:
    """Apply `changes` to a pattern as a new version; None when nothing would change."""
    assert pattern.id is not None
    if expected_version is not None and expected_version != pattern.version:
        raise StaleVersion(pattern.id, expected_version, pattern.version)
    current = pattern_state(pattern)
    new_state = {**current, **changes}
    if new_state == current:
        return None
    _ensure_baseline(session, pattern)
    changeset.track(pattern)
    for name, value in changes.items():
        setattr(pattern, name, value)
    pattern.version += 1
    pattern.updated_at = utcnow()
    version = PatternVersion(
        tenant=pattern.tenant,
        pattern_id=pattern.id,
        version=pattern.version,
        state=pattern_state(pattern),
        author=author,
        reason=reason,
    )
    session.add(version)
    return version


def _ensure_baseline(session: Session, pattern: Pattern) -> None:
    """Record the state PLS learned as a version before the first change by a person."""
    exists = session.exec(
        select(PatternVersion.id).where(
            PatternVersion.pattern_id == pattern.id, PatternVersion.version == pattern.version
        )
    ).first()
    if exists is None:
        session.add(
            PatternVersion(
                tenant=pattern.tenant,
                pattern_id=pattern.id,  # type: ignore[arg-type]
                version=pattern.version,
                state=pattern_state(pattern),
                author="pls",
                reason="as learned",
                created_at=pattern.updated_at,
            )
        )
        session.flush()


def list_versions(session: Session, tenant: str, pattern_id: int) -> list[PatternVersion]:
    """Every recorded version of a pattern, the newest first (the current one included)."""
    pattern = owned_pattern(session, tenant, pattern_id)
    rows = list(
        session.exec(
            select(PatternVersion)
            .where(PatternVersion.pattern_id == pattern_id)
            .order_by(col(PatternVersion.version).desc())
        ).all()
    )
    if not rows or rows[0].version != pattern.version:
        # Never edited: the current state is the only version there is.
        rows.insert(
            0,
            PatternVersion(
                tenant=tenant,
                pattern_id=pattern_id,
                version=pattern.version,
                state=pattern_state(pattern),
                author="pls",
                reason="as learned",
                created_at=pattern.updated_at,
            ),
        )
    return rows


def get_version(session: Session, tenant: str, pattern_id: int, version: int) -> PatternVersion:
    """One version of a pattern."""
    for row in list_versions(session, tenant, pattern_id):
        if row.version == version:
            return row
    raise NotFound("version", f"{pattern_id}@{version}")


def diff_versions(session: Session, tenant: str, pattern_id: int, a: int, b: int) -> dict[str, Any]:
    """What changed between two versions: per field before/after, and a line diff of the reply."""
    old, new = get_version(session, tenant, pattern_id, a), get_version(session, tenant, pattern_id, b)
    fields = {
        name: {"from": old.state.get(name), "to": new.state.get(name)}
        for name in EDITABLE
        if old.state.get(name) != new.state.get(name)
    }
    text_diff = list(
        difflib.unified_diff(
            str(old.state.get("response_text", "")).splitlines(),
            str(new.state.get("response_text", "")).splitlines(),
            fromfile=f"v{a}",
            tofile=f"v{b}",
            lineterm="",
        )
    )
    return {"pattern_id": pattern_id, "from": a, "to": b, "fields": fields, "response_diff": text_diff}
