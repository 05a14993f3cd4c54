"""Threads in bulk (for history-migration tests): N users' threads of M mixed messages."""

from __future__ import annotations

import json

import httpx
import pytest

from sandbox.bulk_threads import IMAGE_URL, fill_threads
from tests.sandbox.openapi import assert_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_the_admin_route_fills_a_project_the_sdk_then_reads(sandbox_project) -> None:
    root = sandbox_project.base_url.removesuffix("/v1")
    async with httpx.AsyncClient(base_url=f"{root}/_sandbox") as admin:
        answer = await admin.post(
            f"/projects/{sandbox_project.project_id}/threads/bulk",
            json={"users": 3, "messages": 6, "image_every": 1, "metadata": {"batch": "b1"}},
        )
        assert answer.status_code == 201
        made = answer.json()
        bad = await admin.post(
            f"/projects/{sandbox_project.project_id}/threads/bulk", json={"users": 0}
        )
        assert bad.status_code == 400
    assert [t["user"] for t in made["threads"]] == ["user-0001", "user-0002", "user-0003"]
    assert made["image_parts"] == 9  # every user message of every thread (image_every=1)
    client = sandbox_project.client()
    thread = await client.beta.threads.retrieve(made["threads"][1]["id"])
    assert thread.metadata == {"batch": "b1", "user": "user-0002"}
    raw = await client.beta.threads.messages.with_raw_response.list(thread.id, order="asc")
    page = json.loads(raw.text)
    assert_matches("ListMessagesResponse", page)
    listed = page["data"]
    assert [m["role"] for m in listed] == ["user", "assistant"] * 3
    kinds = [[part["type"] for part in m["content"]] for m in listed]
    assert kinds == [["text", "image_url"], ["text"], ["text", "image_file"], ["text"],
                     ["text", "image_url"], ["text"]]  # fmt: skip
    assert listed[0]["content"][0]["text"]["value"] == (
        "user-0002 message 1: what does this receipt say?"
    )
    assert listed[0]["content"][1]["image_url"]["url"] == IMAGE_URL
    assert listed[2]["content"][1]["image_file"]["file_id"] == made["image_file_id"]
    image = await client.files.retrieve(made["image_file_id"])
    assert image.purpose == "vision"
    created = [m["created_at"] for m in listed]
    assert created == sorted(created) and len(set(created)) == 6


def test_fill_threads_scales_to_many_users(sandbox_server) -> None:
    project = sandbox_server.state.add_project("proj_bulk_scale", "org-bulk")
    made = fill_threads(project, users=500, messages_per_thread=20)
    assert len(made["threads"]) == 500
    assert project.object_counts()["message"] == 10_000
    # every third user message carries an image: turns 3, 6 and 9 of 10
    assert made["image_parts"] == 1500
