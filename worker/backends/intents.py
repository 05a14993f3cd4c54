"""A create that a killed attempt may already have made: looked for before it is made again.

The mapping tables (`clone_files`, `clone_vector_stores`, ...) are written right after a
create answers, so a worker killed between the answer and the record leaves an object no
table knows. Files carry no metadata tag a re-run could find them by, so each create is
marked first (`store.create_intents`); a mark found still there sends the next attempt
looking, by name, size and time since the mark, before it creates. One path for every job
that uploads files (the clone and `knowledge.sync`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from openai.types import FileObject

from store import clone_state, create_intents
from store.registry import Database
from worker.backends.calls import RECONCILE_WINDOW_S, reconciled
from worker.backends.files import RemoteFiles

T = TypeVar("T")


async def created_once(
    db: Database,
    kind: str,
    destination: str,
    source_id: str,
    *,
    create: Callable[[], Awaitable[T]],
    find: Callable[[int], Awaitable[T | None]],
    record: Callable[[T], Awaitable[None]],
) -> tuple[T, bool]:
    """The object `create()` makes, made at most once across attempts; (object, sent).

    `find(since)` looks for one made at or after `since` (Unix seconds); it runs when an
    earlier attempt's mark is still there, and when this attempt's answer was lost
    (`reconciled`). `record(object)` writes the mapping; the mark goes after it. `sent` says
    a create request went out (a write), False when an earlier attempt's object was found.
    The caller holds the object's `copy_lock`, so no live attempt shares the mark.
    """
    earlier = await create_intents.begin(db, kind, destination, source_id)
    started = earlier.timestamp() if earlier is not None else time.time()
    # Slack before the mark for the destination's clock, which is not Postgres's.
    since = int(started) - RECONCILE_WINDOW_S
    found = await find(since) if earlier is not None else None
    if found is None:
        made = await reconciled(create, lambda: find(since))
    else:
        made = found
    await record(made)
    await create_intents.finish(db, kind, destination, source_id)
    return made, found is None


async def unrecorded_upload(
    db: Database,
    files: RemoteFiles,
    destination: str,
    filename: str,
    size: int,
    *,
    purpose: str,
    since: int,
) -> FileObject | None:
    """The newest file named `filename` with `size` bytes made since `since` that no
    mapping of `destination` holds yet (one that does is another source's copy)."""
    found = await files.find_uploaded(filename, size, purpose=purpose, since=since)
    if not found:
        return None
    known = await clone_state.recorded_file_ids(db, destination, [f.id for f in found])
    return next((f for f in found if f.id not in known), None)
