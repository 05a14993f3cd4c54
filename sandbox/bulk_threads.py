"""Threads in bulk, for migration tests: N users' threads of M messages each, written straight
into a project (no HTTP per message), with text and image parts mixed as real histories are.

Each thread carries `metadata.user` (`user-0001` …) and alternates user and assistant
messages, one second apart; every `image_every`-th user message also holds an image (an
`image_file` part naming one `vision` file uploaded for the purpose, or an `image_url` part,
in turn). Messages are stored as the messages routes store them, so the SDK lists them in
order and a migration meets exactly what it would read from OpenAI.
"""

from __future__ import annotations

from typing import Any

from sandbox import messages
from sandbox.routes import files
from sandbox.state import Project, new_id, now

# A 1x1 transparent PNG: the smallest image every reader accepts.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082"
)
IMAGE_URL = "https://example.com/images/receipt.png"
MAX_THREADS = 100_000


def fill_threads(
    project: Project,
    *,
    users: int,
    messages_per_thread: int,
    image_every: int = 3,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Make `users` threads of `messages_per_thread` messages; what was made."""
    if users < 1 or messages_per_thread < 1 or users > MAX_THREADS:
        raise ValueError(f"users must be 1..{MAX_THREADS} and messages at least 1")
    image = files.create_file(project, "pixel.png", PIXEL_PNG, "vision")
    start = now() - users * messages_per_thread  # every message in the past, one second apart
    made = []
    images = 0
    for user_index in range(users):
        user = f"user-{user_index + 1:04d}"
        thread_id = new_id("thread_")
        created = start + user_index * messages_per_thread
        project.put(
            "thread",
            {
                "id": thread_id,
                "object": "thread",
                "created_at": created,
                "metadata": {**(metadata or {}), "user": user},
                "tool_resources": {},
            },
        )
        for index in range(messages_per_thread):
            role = "user" if index % 2 == 0 else "assistant"
            text = f"{user} message {index + 1}: " + (
                "what does this receipt say?" if role == "user" else "It says 12.50 EUR."
            )
            content: list[dict[str, Any]] = [{"type": "text", "text": text}]
            turn = index // 2
            if role == "user" and image_every and turn % image_every == image_every - 1:
                images += 1
                content.append(
                    {"type": "image_file", "image_file": {"file_id": image["id"]}}
                    if images % 2
                    else {"type": "image_url", "image_url": {"url": IMAGE_URL}}
                )
            message = messages.build(
                project, thread_id, {"role": role, "content": content}, created_at=created + index
            )
            project.put(messages.KIND, message)
        made.append({"id": thread_id, "user": user})
    return {
        "threads": made,
        "messages_per_thread": messages_per_thread,
        "image_parts": images,
        "image_file_id": image["id"],
    }
