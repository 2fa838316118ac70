"""Fixtures: a migrated store on SQLite and PostgreSQL, a service with a fake clock (R-REP-1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from ccagent.app.projects import ProjectService
from ccagent.storage.projects_repo import ProjectRepo


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def repo(migrated_engine: Engine) -> ProjectRepo:
    return ProjectRepo(migrated_engine)


@pytest.fixture
def service(repo: ProjectRepo, clock: FakeClock) -> ProjectService:
    return ProjectService(repo, clock=clock)
