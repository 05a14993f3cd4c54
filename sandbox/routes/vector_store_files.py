"""A vector store's files and file batches: attach, list, retrieve, update, detach, content.

Statuses follow `sandbox.ingestion` timers; answers for files still `in_progress` carry
`openai-poll-after-ms`, so the SDK's `*_and_poll` helpers poll no longer than needed.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import ingestion
from sandbox.bodies import json_body
from sandbox.errors import APIError, bad_request, missing_parameter
from sandbox.ingestion import Ingest
from sandbox.pagination import page
from sandbox.routes.files import require_file
from sandbox.routes.vector_stores import (
    attach,
    chunking_strategy,
    require_vector_store,
    store_data,
    touch,
)
from sandbox.state import Project, new_id, now

STATUSES = ("in_progress", "completed", "failed", "cancelled")
MAX_ATTRIBUTES = 16
MAX_BATCH = 2000


def _answer(obj: dict[str, Any], ingests: list[Ingest]) -> JSONResponse:
    pending = [i for i in ingests if i.obj["status"] == "in_progress"]
    headers = (
        {"openai-poll-after-ms": str(min(i.poll_after_ms() for i in pending))} if pending else None
    )
    return JSONResponse(obj, headers=headers)


def attributes(body: dict[str, Any], name: str = "attributes") -> dict[str, Any] | None:
    """Checked file attributes: ≤ 16 keys ≤ 64 chars; values strings ≤ 512, numbers, booleans."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(
            f"Invalid type for '{name}': expected an object.", param=name, code="invalid_type"
        )
    if len(value) > MAX_ATTRIBUTES:
        raise bad_request(
            f"Invalid '{name}': too many properties. Expected an object with at most "
            f"{MAX_ATTRIBUTES} properties, but got an object with {len(value)} properties instead.",
            param=name,
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > 64:
            raise bad_request(
                f"Invalid '{name}': key too long.", param=name, code="string_above_max_length"
            )
        if isinstance(item, str) and len(item) > 512:
            raise bad_request(
                f"Invalid '{name}.{key}': string too long.",
                param=f"{name}.{key}",
                code="string_above_max_length",
            )
        if not isinstance(item, str | int | float | bool):
            raise bad_request(
                f"Invalid type for '{name}.{key}': expected a string, number or boolean.",
                param=f"{name}.{key}",
                code="invalid_type",
            )
    return dict(value)


def _ingest(project: Project, vs_id: str, file_id: str) -> Ingest:
    ingest = store_data(project, vs_id).files.get(file_id)
    if ingest is None:
        raise APIError(404, f"No file found with id '{file_id}' in vector store '{vs_id}'.")
    ingest.refresh()
    return ingest


def _status_filter(request: Request) -> str | None:
    wanted = request.query_params.get("filter")
    if wanted is not None and wanted not in STATUSES:
        raise bad_request(
            f"Invalid value for 'filter': expected one of {', '.join(STATUSES)}, got '{wanted}'.",
            param="filter",
            code="invalid_value",
        )
    return wanted


def _listing(request: Request, ingests: list[Ingest]) -> Response:
    wanted = _status_filter(request)
    objs = [i.refresh() for i in ingests]
    if wanted is not None:
        objs = [o for o in objs if o["status"] == wanted]
    return JSONResponse(page(objs, request.query_params))


async def create_file(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    body = await json_body(request, allowed=("file_id", "chunking_strategy", "attributes"))
    file_id = body.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise missing_parameter("file_id")
    ingest = attach(
        project, vs_id, file_id, strategy=chunking_strategy(body), attributes=attributes(body)
    )
    return _answer(ingest.obj, [ingest])


async def list_files(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    return _listing(request, list(store_data(project, vs_id).files.values()))


async def retrieve_file(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    ingest = _ingest(project, vs_id, request.path_params["file_id"])
    return _answer(ingest.obj, [ingest])


async def update_file(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    ingest = _ingest(project, vs_id, request.path_params["file_id"])
    body = await json_body(request, allowed=("attributes",))
    if "attributes" not in body:
        raise missing_parameter("attributes")
    ingest.obj["attributes"] = attributes(body) or {}
    touch(project, vs_id)
    return _answer(ingest.obj, [ingest])


async def delete_file(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    file_id = request.path_params["file_id"]
    _ingest(project, vs_id, file_id)
    # detaching leaves the file itself in the project, as on OpenAI
    del store_data(project, vs_id).files[file_id]
    touch(project, vs_id)
    return JSONResponse({"id": file_id, "object": "vector_store.file.deleted", "deleted": True})


async def file_content(request: Request) -> Response:
    """The parsed text, in pieces that concatenate back to the whole (pages for a PDF)."""
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    ingest = _ingest(project, vs_id, request.path_params["file_id"])
    done = ingest.obj["status"] == "completed"
    data = [{"type": "text", "text": piece} for piece in ingest.parsed.pieces] if done else []
    return JSONResponse(
        {
            "object": "vector_store.file_content.page",
            "data": data,
            "has_more": False,
            "next_page": None,
        }
    )


def _batch_view(project: Project, batch: dict[str, Any]) -> tuple[dict[str, Any], list[Ingest]]:
    files = store_data(project, batch["vector_store_id"]).files
    ingests = [
        files[f] for f in batch["_file_ids"] if f in files and files[f].batch_id == batch["id"]
    ]
    counts = ingestion.counts(ingests)
    if batch["_cancelled"]:
        status = "cancelled"
    elif counts["in_progress"]:
        status = "in_progress"
    elif counts["total"] and counts["failed"] == counts["total"]:
        status = "failed"
    else:
        status = "completed"
    public = {k: v for k, v in batch.items() if not k.startswith("_")}
    return {**public, "status": status, "file_counts": counts}, ingests


def _batch(project: Project, vs_id: str, batch_id: str) -> dict[str, Any]:
    batch = store_data(project, vs_id).batches.get(batch_id)
    if batch is None:
        raise APIError(404, f"No file batch found with id '{batch_id}' in vector store '{vs_id}'.")
    return batch


async def create_batch(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    body = await json_body(
        request, allowed=("file_ids", "files", "chunking_strategy", "attributes")
    )
    if body.get("file_ids") and body.get("files"):
        raise bad_request("'file_ids' and 'files' are mutually exclusive.", param="files")
    strategy, attrs = chunking_strategy(body), attributes(body)
    if files := body.get("files"):
        if not isinstance(files, list) or not all(
            isinstance(f, dict) and isinstance(f.get("file_id"), str) for f in files
        ):
            raise bad_request(
                "Invalid 'files': expected an array of objects with a 'file_id'.",
                param="files",
                code="invalid_type",
            )
        # per-file settings replace the batch-wide ones, as the spec says
        entries = [
            (f["file_id"], chunking_strategy(f), attributes(f), f"files[{i}].file_id")
            for i, f in enumerate(files)
        ]
    else:
        file_ids = body.get("file_ids")
        if not isinstance(file_ids, list) or not file_ids:
            raise missing_parameter("file_ids")
        entries = [(f, strategy, attrs, f"file_ids[{i}]") for i, f in enumerate(file_ids)]
    if len(entries) > MAX_BATCH:
        raise bad_request(
            f"Invalid 'file_ids': at most {MAX_BATCH} files a batch.", param="file_ids"
        )
    for file_id, _, _, param in entries:  # all or nothing: check every id before attaching
        require_file(project, str(file_id), param=param)
    batch = {
        "id": new_id("vsfb_"),
        "object": "vector_store.files_batch",
        "created_at": now(),
        "vector_store_id": vs_id,
        "_file_ids": [str(e[0]) for e in entries],
        "_cancelled": False,
    }
    store_data(project, vs_id).batches[batch["id"]] = batch
    for file_id, file_strategy, file_attrs, param in entries:
        attach(
            project,
            vs_id,
            str(file_id),
            strategy=file_strategy,
            attributes=file_attrs,
            batch_id=batch["id"],
            param=param,
        )
    view, ingests = _batch_view(project, batch)
    return _answer(view, ingests)


async def retrieve_batch(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    view, ingests = _batch_view(project, _batch(project, vs_id, request.path_params["batch_id"]))
    return _answer(view, ingests)


async def cancel_batch(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    batch = _batch(project, vs_id, request.path_params["batch_id"])
    view, ingests = _batch_view(project, batch)
    if view["status"] != "in_progress":
        raise bad_request(f"Cannot cancel a file batch with status '{view['status']}'.")
    for ingest in ingests:
        ingest.cancel()
    batch["_cancelled"] = True
    return JSONResponse(_batch_view(project, batch)[0])


async def list_batch_files(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    _, ingests = _batch_view(project, _batch(project, vs_id, request.path_params["batch_id"]))
    return _listing(request, ingests)


routes = [
    Route("/vector_stores/{vs_id}/files", create_file, methods=["POST"]),
    Route("/vector_stores/{vs_id}/files", list_files, methods=["GET"]),
    Route("/vector_stores/{vs_id}/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/vector_stores/{vs_id}/files/{file_id}", update_file, methods=["POST"]),
    Route("/vector_stores/{vs_id}/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/vector_stores/{vs_id}/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/vector_stores/{vs_id}/file_batches", create_batch, methods=["POST"]),
    Route("/vector_stores/{vs_id}/file_batches/{batch_id}", retrieve_batch, methods=["GET"]),
    Route("/vector_stores/{vs_id}/file_batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    Route(
        "/vector_stores/{vs_id}/file_batches/{batch_id}/files", list_batch_files, methods=["GET"]
    ),
]
