"""A profile's knowledge on a fresh sandbox project, its uploads kept in this test's schema."""

from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import SandboxProject
from worker.backends.knowledge import Knowledge
from worker.blobs import PostgresBlobStore


@pytest.fixture
def knowledge(sandbox_project: SandboxProject, db: asyncpg.Pool) -> Knowledge:
    return Knowledge("src", sandbox_project.client(), PostgresBlobStore(db))
