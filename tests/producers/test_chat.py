"""Bad chat input is refused by the producer before anything is enqueued or sent."""

from __future__ import annotations

import asyncpg
import pytest

from producers.client import FerryClient
from producers.errors import JobRejected
from schemas.assistants import parse_spec
from store import registry_writes


@pytest.fixture
async def with_assistant(db: asyncpg.Pool, ferry: FerryClient) -> FerryClient:
    spec = parse_spec({"name": "plain", "model": "gpt-4o"})
    await registry_writes.write(db, ferry.redis, ferry.keys, "dst", spec)
    return ferry


async def refusal(ferry: FerryClient, **kwargs: object) -> list[tuple[str, str]]:
    options = {"profile": "dst", "message_id": "m-1", **kwargs}
    text = options.pop("text", "hello")
    assistant = options.pop("assistant", "plain")
    with pytest.raises(JobRejected) as refused:
        await ferry.chats.send("u1", assistant, text, **options)  # type: ignore[arg-type]
    assert await ferry.ledger_row("m-1") is None  # nothing was enqueued
    return [(f.loc, f.message) for f in refused.value.fields]


async def test_empty_text_is_refused(with_assistant: FerryClient) -> None:
    assert await refusal(with_assistant, text="  \n") == [
        ("text", "Value error, text is empty: a turn needs something to say")
    ]


async def test_an_unknown_assistant_is_refused(with_assistant: FerryClient) -> None:
    [(loc, message)] = await refusal(with_assistant, assistant="nobody")
    assert loc == "assistant"
    assert message.startswith("no assistant 'nobody' in profile 'dst'")


async def test_an_attachment_the_assistant_cannot_read_is_refused(
    with_assistant: FerryClient,
) -> None:
    attachment = {"file_id": "file-1", "filename": "data.csv"}
    [(loc, message)] = await refusal(with_assistant, attachments=[attachment])
    assert loc == "attachments[0]"
    assert "'data.csv' is neither an image nor a PDF" in message


async def test_an_attachment_with_neither_id_nor_url_is_refused(
    with_assistant: FerryClient,
) -> None:
    [(loc, message)] = await refusal(with_assistant, attachments=[{"filename": "x.png"}])
    assert loc == "attachments[0]"
    assert "give exactly one of file_id, image_url and blob_sha256" in message
