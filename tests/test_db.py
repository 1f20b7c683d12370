"""The schema: migrations create it on SQLite and PostgreSQL, and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

import app.models  # noqa: F401
from app.db import migrate, session_scope
from app.models import Example, Pattern, Tenant


def test_migrations_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"tenant", "message", "pattern", "example", "decision", "calibration", "indexoutbox"} <= tables


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_migrate_twice_is_a_no_op(engine: Engine) -> None:
    migrate(engine)
    with Session(engine) as session:
        assert [t.id for t in session.exec(select(Tenant))] == ["default"]


def test_example_text_hash_is_unique_per_tenant(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Tenant(id="other", name="Other"))
        session.flush()
        pattern = Pattern(tenant="default", response_text="Hi", reply_key="k")
        other = Pattern(tenant="other", response_text="Hi", reply_key="k")
        session.add_all([pattern, other])
        session.flush()
        session.add(Example(tenant="default", pattern_id=pattern.id, text="a", reply="Hi", text_hash="h"))
        session.add(Example(tenant="other", pattern_id=other.id, text="a", reply="Hi", text_hash="h"))
    try:
        with session_scope(engine) as session:
            session.add(Example(tenant="default", pattern_id=pattern.id, text="a", reply="Hi", text_hash="h"))
    except IntegrityError:
        pass
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("duplicate example was stored")
    with Session(engine) as session:
        assert len(session.exec(select(Example)).all()) == 2


def test_json_columns_round_trip(engine: Engine) -> None:
    with session_scope(engine) as session:
        pattern = Pattern(tenant="default", response_text="Code 4512", reply_key="x", key_facts=["4512"])
        session.add(pattern)
        session.flush()
        session.add(
            Example(
                tenant="default",
                pattern_id=pattern.id,
                text="door code?",
                reply="Code 4512",
                context=["hi", "at Bedford"],
                text_hash="y",
            )
        )
    with Session(engine) as session:
        example = session.exec(select(Example)).one()
        assert example.context == ["hi", "at Bedford"]
        assert session.get(Pattern, example.pattern_id).key_facts == ["4512"]  # type: ignore[union-attr]


def test_migrations_have_a_single_head() -> None:
    from alembic.script import ScriptDirectory

    from app.db import MIGRATIONS_DIR

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert len(script.get_heads()) == 1, script.get_heads()
