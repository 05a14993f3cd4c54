"""Thread messages (object kind "message"): built from requests, read back as model transcripts."""

from __future__ import annotations

from typing import Any

from sandbox import bodies
from sandbox.bodies import invalid_type, invalid_value
from sandbox.errors import missing_parameter
from sandbox.model import Entry
from sandbox.routes import files, vector_stores
from sandbox.state import Project, new_id, now

KIND = "message"
_ROLES = ("user", "assistant")
_ATTACHMENT_TOOLS = ("code_interpreter", "file_search")
# OpenAI's file-search guide: a thread's own store expires 7 days after its last activity
THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}


def content_parts(value: Any, *, param: str = "content") -> list[dict[str, Any]]:
    """A message's content (a string or a list of parts) as MessageObject content parts."""
    if isinstance(value, str):
        return [_text_part(value)]
    if not isinstance(value, list) or not value:
        raise invalid_type(param, "a string or an array of content parts", value)
    parts = []
    for i, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(_text_part(part["text"]))
        elif kind == "image_file" and isinstance(part.get("image_file"), dict):
            parts.append(
                {"type": "image_file", "image_file": {"detail": "auto", **part["image_file"]}}
            )
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            parts.append(
                {"type": "image_url", "image_url": {"detail": "auto", **part["image_url"]}}
            )
        else:
            raise invalid_value(
                kind, "'image_file', 'image_url', and 'text'", param=f"{param}[{i}].type"
            )
    return parts


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": text, "annotations": []}}


def build(
    project: Project,
    thread_id: str,
    body: dict[str, Any],
    *,
    param: str = "",
    run_id: str | None = None,
    assistant_id: str | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    """Check a message request (`role`, `content`, `attachments`, `metadata`); store nothing."""
    role = body.get("role")
    if role is None:
        raise missing_parameter(f"{param}role")
    if role not in _ROLES:
        raise invalid_value(role, "'user' and 'assistant'", param=f"{param}role")
    if body.get("content") is None:
        raise missing_parameter(f"{param}content")
    content = content_parts(body["content"], param=f"{param}content")
    attachments = body.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise invalid_type(f"{param}attachments", "an array", attachments)
    for i, attachment in enumerate(attachments or []):
        where = f"{param}attachments[{i}].file_id"
        if not isinstance(attachment, dict) or not isinstance(attachment.get("file_id"), str):
            raise missing_parameter(where)
        files.require_file(project, attachment["file_id"], param=where)
        for j, tool in enumerate(attachment.get("tools") or []):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind not in _ATTACHMENT_TOOLS:
                raise invalid_value(
                    kind,
                    "'code_interpreter' and 'file_search'",
                    param=f"{param}attachments[{i}].tools[{j}].type",
                )
    message = {
        "id": new_id("msg_"),
        "object": "thread.message",
        "created_at": created_at if created_at is not None else now(),
        "thread_id": thread_id,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": role,
        "content": content,
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": attachments or [],
        "metadata": bodies.metadata(body) or {},
    }
    if role == "assistant" and run_id is not None:
        message["completed_at"] = message["created_at"]
    return message


def new_message(
    project: Project, thread_id: str, body: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """Check a message request and store the message (options as for `build`)."""
    return store(project, build(project, thread_id, body, **options))


def store(project: Project, message: dict[str, Any]) -> dict[str, Any]:
    """Store a built message and give its attachments to the thread's tools, as OpenAI does:
    `file_search` files go into the thread's own vector store (made on first need),
    `code_interpreter` files into the thread's code_interpreter files."""
    project.put(KIND, message)
    thread = project.table("thread").get(message["thread_id"])
    if thread is None:
        return message
    for attachment in message["attachments"]:
        kinds = {t.get("type") for t in attachment.get("tools") or []}
        file_id = attachment["file_id"]
        resources = thread.setdefault("tool_resources", {})
        if "file_search" in kinds:
            search = resources.setdefault("file_search", {"vector_store_ids": []})
            if search["vector_store_ids"]:
                vector_stores.attach(project, search["vector_store_ids"][0], file_id)
            else:
                made = vector_stores.create_store(
                    project, file_ids=[file_id], expires_after=dict(THREAD_STORE_EXPIRY)
                )
                search["vector_store_ids"] = [made["id"]]
        if "code_interpreter" in kinds:
            code = resources.setdefault("code_interpreter", {"file_ids": []})
            if file_id not in code["file_ids"]:
                code["file_ids"].append(file_id)
    return message


def text_of(message: dict[str, Any]) -> str:
    """The message's text parts joined by newlines."""
    return "\n".join(p["text"]["value"] for p in message["content"] if p["type"] == "text")


def of_thread(project: Project, thread_id: str) -> list[dict[str, Any]]:
    """The thread's messages in creation order."""
    return [m for m in project.table(KIND).values() if m["thread_id"] == thread_id]


def transcript(messages: list[dict[str, Any]]) -> list[Entry]:
    """Messages as the scripted model reads them."""
    return [Entry(kind=m["role"], text=text_of(m)) for m in messages]
