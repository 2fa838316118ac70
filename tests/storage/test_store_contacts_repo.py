"""The contact import's bulk writer on SQLite and PostgreSQL (R-PRJ-7, R-REP-1).

``tests/projects/test_import.py`` drives it through files; these tests hold the repository to
its own contract: counts per chunk, newer non-empty values win, memberships once, one
transaction per import, and a fixed number of statements per chunk whatever its size.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from ccagent.core.projects import new_project
from ccagent.storage.contacts_repo import ContactsRepo, ImportedContact, MergeCounts
from ccagent.storage.models import ContactRow, ProjectContactRow
from ccagent.storage.projects_repo import ProjectRepo
from tests.statements import statements

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
A, B, C = "+380501234567", "+380671234567", "+380931234567"


def _base(engine: Engine) -> dict[str, tuple[Any, ...]]:
    c = ContactRow.__table__.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.phone_e164, c.name, c.time_zone, c.fields, c.updated_at)).all()
    return {r[0]: (r[1], r[2], dict(r[3]), r[4]) for r in rows}


def _members(engine: Engine) -> dict[tuple[str, str], str]:
    pc, c = ProjectContactRow.__table__.c, ContactRow.__table__.c
    q = select(pc.project_id, c.phone_e164, pc.state).join_from(
        ProjectContactRow.__table__, ContactRow.__table__, c.id == pc.contact_id
    )
    with engine.connect() as conn:
        return {(r[0], r[1]): r[2] for r in conn.execute(q)}


def test_R_PRJ_7_chunks_create_then_merge_with_newer_non_empty_values_winning(
    migrated_engine: Engine,
) -> None:
    repo = ContactsRepo(migrated_engine)
    with repo.importing(None, NOW) as batch:
        first = batch.merge({A: ("Іван", None, {"city": "Київ"}), B: (None, "Europe/Kyiv", {})})
        # the same number in a later chunk of the same file: a duplicate, its new values still merge
        again = batch.merge({A: (None, "Europe/Warsaw", {"segment": "b"})})
    assert (first, again) == (MergeCounts(created=2), MergeCounts(duplicates=1))
    with repo.importing(None, LATER) as batch:
        later = batch.merge({A: ("Іван Петров", None, {"city": "Львів"}), C: (None, None, {})})
    assert later == MergeCounts(created=1, merged=1)
    base = _base(migrated_engine)
    assert {k: v[:3] for k, v in base.items()} == {
        A: ("Іван Петров", "Europe/Warsaw", {"city": "Львів", "segment": "b"}),
        B: (None, "Europe/Kyiv", {}),
        C: (None, None, {}),
    }
    assert {k: v[3] for k, v in base.items()} == {A: LATER, B: NOW, C: LATER}  # what each import touched


def test_R_PRJ_7_a_project_gets_each_contact_once_and_keeps_the_states_it_had(
    migrated_engine: Engine,
) -> None:
    ProjectRepo(migrated_engine).add(new_project("p", "P", "autoinformer", NOW))
    repo = ContactsRepo(migrated_engine)
    with repo.importing("p", NOW) as batch:
        batch.merge({A: ("a", None, {})})
        assert batch.added_to_project() == 1
    with migrated_engine.begin() as conn:
        conn.execute(ProjectContactRow.__table__.update().values(state="reached"))
    with repo.importing("p", LATER) as batch:
        assert batch.merge({A: (None, None, {}), B: (None, None, {})}) == MergeCounts(created=1, merged=1)
        assert batch.added_to_project() == 1
    with repo.importing(None, LATER + timedelta(days=1)) as batch:  # the base only
        batch.merge({C: (None, None, {})})
        assert batch.added_to_project() == 0
    assert _members(migrated_engine) == {("p", A): "reached", ("p", B): "not_called"}


def test_R_PRJ_7_an_import_that_fails_midway_leaves_nothing(migrated_engine: Engine) -> None:
    ProjectRepo(migrated_engine).add(new_project("p", "P", "autoinformer", NOW))
    repo = ContactsRepo(migrated_engine)
    with pytest.raises(RuntimeError, match="unreadable"), repo.importing("p", NOW) as batch:
        batch.merge({A: ("a", None, {"k": "v"}), B: (None, None, {})})
        raise RuntimeError("the rest of the file is unreadable")
    assert (_base(migrated_engine), _members(migrated_engine)) == ({}, {})


def test_R_PRJ_7_awkward_text_survives_the_bulk_write(migrated_engine: Engine) -> None:
    """COPY's text format escapes (PostgreSQL) and the JSON quick encoder, on names and fields."""
    awkward = 'tab\there \\N back\\slash\nnew "line"\r ё'
    with ContactsRepo(migrated_engine).importing(None, NOW) as batch:
        batch.merge({A: (awkward, None, {awkward: awkward, "ключ": "значення"})})
        batch.merge({A: (None, None, {"more": awkward})})  # the update path (a temporary table on PostgreSQL)
    assert _base(migrated_engine)[A][:3] == (
        awkward,
        None,
        {awkward: awkward, "ключ": "значення", "more": awkward},
    )


def _chunk(start: int, n: int) -> dict[str, ImportedContact]:
    return {f"+3805012{i:05d}": (f"n{i}", None, {"i": str(i)}) for i in range(start, start + n)}


@pytest.mark.parametrize("n", [3, 300])
def test_R_PRJ_7_a_chunk_costs_the_same_statements_whatever_its_size(migrated_engine: Engine, n: int) -> None:
    """No statement per row: the lookup, the bulk writes and the memberships are set-wise."""
    ProjectRepo(migrated_engine).add(new_project("p", "P", "autoinformer", NOW))
    repo = ContactsRepo(migrated_engine)
    with repo.importing(None, NOW) as batch:
        batch.merge(_chunk(0, n))
    with repo.importing("p", LATER) as batch, statements(migrated_engine) as sent:
        counts = batch.merge({**_chunk(0, n), **_chunk(n, n)})  # half merged, half new
    assert counts == MergeCounts(created=n, merged=n)
    # lookup, update, (SQLite) insert, memberships; on PostgreSQL COPY is not a cursor execute but
    # the temporary table's creation is
    assert len(sent) == 4, sent
    assert len(_members(migrated_engine)) == 2 * n
