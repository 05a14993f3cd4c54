"""Vector stores: create, retrieve, update, list, delete, search (files: vector_store_files).

The public object lives in `project.objects["vector_store"]`; its files and batches live in
`project.private["vector_store"][id]` (a `StoreData`), so deleting the store drops them.
`status`, `file_counts` and `usage_bytes` are computed on read from the files' timers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import ingestion
from sandbox.bodies import json_body, metadata, optional_str
from sandbox.errors import APIError, bad_request, missing_parameter
from sandbox.ingestion import Ingest
from sandbox.pagination import page
from sandbox.routes.files import file_bytes, require_file
from sandbox.state import Project, new_id, now

KIND = "vector_store"
DAY = 24 * 3600
MAX_FILE_IDS = 500


@dataclass
class StoreData:
    """A store's files (by file id) and file batches (by batch id)."""

    files: dict[str, Ingest] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str | None = None


def require_vector_store(
    project: Project, vs_id: str, *, param: str | None = None, status: int | None = None
) -> dict[str, Any]:
    """The store (refreshed), or OpenAI's refusal: 404 for a path id, 400 for a body reference."""
    obj = project.objects.get(KIND, {}).get(vs_id)
    if obj is None:
        message = f"No vector store found with id '{vs_id}'."
        if (status or (400 if param else 404)) == 400:
            raise bad_request(message, param=param, code="invalid_value")
        raise APIError(404, message, param=param)
    return refresh(project, obj)


def store_data(project: Project, vs_id: str) -> StoreData:
    return project.private_of(KIND).setdefault(vs_id, StoreData())


def refresh(project: Project, obj: dict[str, Any]) -> dict[str, Any]:
    """Bring `status`, `file_counts` and `usage_bytes` up to date (they follow the files)."""
    ingests = list(store_data(project, obj["id"]).files.values())
    counts = ingestion.counts(ingests)
    obj["file_counts"] = counts
    obj["usage_bytes"] = sum(
        i.obj["usage_bytes"] for i in ingests if i.obj["status"] == "completed"
    )
    if obj.get("expires_at") is not None and obj["expires_at"] <= time.time():
        obj["status"] = "expired"
    else:
        obj["status"] = "in_progress" if counts["in_progress"] else "completed"
    return obj


def attach(
    project: Project,
    vs_id: str,
    file_id: str,
    *,
    strategy: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
    batch_id: str | None = None,
    param: str = "file_id",
    delay: float | None = None,
) -> Ingest:
    """Attach a project file to a store; ingestion takes `delay` (default: the project's)."""
    file_obj = require_file(project, file_id, param=param)
    ingest = ingestion.start(
        vs_id,
        file_obj,
        file_bytes(project, file_id),
        strategy=strategy,
        attributes=attributes,
        delay=project.ingestion_seconds if delay is None else delay,
        created_at=now(),
        batch_id=batch_id,
    )
    store_data(project, vs_id).files[file_id] = ingest
    touch(project, vs_id)
    return ingest


def touch(project: Project, vs_id: str) -> None:
    """Mark the store active now; its expiry (anchored on last activity) moves with it."""
    obj = project.objects[KIND][vs_id]
    obj["last_active_at"] = now()
    if (after := obj.get("expires_after")) is not None:
        obj["expires_at"] = obj["last_active_at"] + after["days"] * DAY


def create_store(
    project: Project,
    *,
    name: str = "",
    description: str | None = None,
    file_ids: list[str] | None = None,
    strategy: dict[str, Any] | None = None,
    expires_after: dict[str, Any] | None = None,
    meta: dict[str, str] | None = None,
    delay: float | None = None,
) -> dict[str, Any]:
    """Create a store in the project and start ingesting its files (routes and seed)."""
    for index, file_id in enumerate(file_ids or []):
        require_file(project, file_id, param=f"file_ids[{index}]")
    created = now()
    obj: dict[str, Any] = {
        "id": new_id("vs_"),
        "object": "vector_store",
        "created_at": created,
        "name": name,
        "usage_bytes": 0,
        "file_counts": {},
        "status": "completed",
        "last_active_at": created,
        "metadata": meta or {},
    }
    if description is not None:
        # accepted by CreateVectorStoreRequest, absent from VectorStoreObject: kept, not shown
        store_data(project, obj["id"]).description = description
    if expires_after is not None:
        obj["expires_after"] = expires_after
        obj["expires_at"] = created + expires_after["days"] * DAY
    project.put(KIND, obj)
    for file_id in file_ids or []:
        attach(project, obj["id"], file_id, strategy=strategy, delay=delay)
    return refresh(project, obj)


def chunking_strategy(
    body: dict[str, Any], name: str = "chunking_strategy"
) -> dict[str, Any] | None:
    """The checked request strategy, as the response states it (`auto` is static 800/400)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("auto", "static"):
        raise bad_request(
            f"Invalid value for '{name}.type': expected 'auto' or 'static'.",
            param=f"{name}.type",
            code="invalid_value",
        )
    if value["type"] == "auto":
        return None
    static = value.get("static") or {}
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or not 100 <= size <= 4096:
        raise bad_request(
            f"Invalid '{name}.static.max_chunk_size_tokens': expected an integer between 100 "
            f"and 4096, got {size}.",
            param=f"{name}.static.max_chunk_size_tokens",
        )
    if not isinstance(overlap, int) or not 0 <= overlap <= size // 2:
        raise bad_request(
            f"Invalid '{name}.static.chunk_overlap_tokens': must not exceed half of "
            f"max_chunk_size_tokens ({size // 2}), got {overlap}.",
            param=f"{name}.static.chunk_overlap_tokens",
        )
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
    }


def _expires_after(body: dict[str, Any]) -> dict[str, Any] | None:
    value = body.get("expires_after")
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("anchor") != "last_active_at":
        raise bad_request(
            "Invalid value for 'expires_after.anchor': supported anchors: 'last_active_at'.",
            param="expires_after.anchor",
            code="invalid_value",
        )
    days = value.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise bad_request(
            f"Invalid 'expires_after.days': expected an integer between 1 and 365, got {days}.",
            param="expires_after.days",
        )
    return {"anchor": "last_active_at", "days": days}


async def create(request: Request) -> Response:
    project: Project = request.state.project
    body = await json_body(
        request,
        allowed=(
            "name",
            "description",
            "file_ids",
            "chunking_strategy",
            "expires_after",
            "metadata",
        ),
    )
    file_ids = body.get("file_ids") or []
    if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
        raise bad_request(
            "Invalid type for 'file_ids': expected an array of strings.", param="file_ids"
        )
    if len(file_ids) > MAX_FILE_IDS:
        raise bad_request(
            f"Invalid 'file_ids': array too long. Expected an array with maximum length "
            f"{MAX_FILE_IDS}, but got an array with length {len(file_ids)} instead.",
            param="file_ids",
            code="array_above_max_length",
        )
    obj = create_store(
        project,
        name=optional_str(body, "name") or "",
        description=optional_str(body, "description", max_chars=512),
        file_ids=file_ids,
        strategy=chunking_strategy(body),
        expires_after=_expires_after(body),
        meta=metadata(body),
    )
    return JSONResponse(obj)


async def list_stores(request: Request) -> Response:
    project: Project = request.state.project
    stores = [refresh(project, obj) for obj in project.table(KIND).values()]
    return JSONResponse(page(stores, request.query_params))


async def retrieve(request: Request) -> Response:
    return JSONResponse(require_vector_store(request.state.project, request.path_params["vs_id"]))


async def update(request: Request) -> Response:
    project: Project = request.state.project
    obj = require_vector_store(project, request.path_params["vs_id"])
    body = await json_body(request, allowed=("name", "expires_after", "metadata"))
    if "name" in body:
        obj["name"] = optional_str(body, "name") or ""
    if "metadata" in body:
        obj["metadata"] = metadata(body) or {}
    if "expires_after" in body:
        after = _expires_after(body)
        if after is None:
            obj.pop("expires_after", None)
            obj.pop("expires_at", None)
        else:
            obj["expires_after"] = after
    touch(project, obj["id"])
    return JSONResponse(refresh(project, obj))


async def delete(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    project.delete(KIND, vs_id)
    return JSONResponse({"id": vs_id, "object": "vector_store.deleted", "deleted": True})


def search_chunks(
    project: Project, vs_ids: list[str], query: str, *, max_results: int = 10
) -> list[dict[str, Any]]:
    """Completed chunks ranked by how many query words they contain (file_search's stand-in)."""
    words = {w for w in query.lower().split() if len(w) > 2}
    hits = []
    for vs_id in vs_ids:
        for file_id, ingest in store_data(project, vs_id).files.items():
            if ingest.refresh()["status"] != "completed":
                continue
            filename = project.objects.get("file", {}).get(file_id, {}).get("filename", "")
            for text in ingest.chunks:
                lowered = text.lower()
                score = sum(lowered.count(w) for w in words)
                if score or not words:
                    hits.append((score, file_id, filename, ingest.obj["attributes"], text))
    hits.sort(key=lambda h: -h[0])
    top = max((h[0] for h in hits), default=0) or 1
    return [
        {
            "file_id": file_id,
            "filename": filename,
            "score": round(score / top, 4),
            "attributes": attributes,
            "content": [{"type": "text", "text": text}],
        }
        for score, file_id, filename, attributes, text in hits[:max_results]
    ]


async def search(request: Request) -> Response:
    project: Project = request.state.project
    vs_id = request.path_params["vs_id"]
    require_vector_store(project, vs_id)
    body = await json_body(
        request, allowed=("query", "filters", "max_num_results", "ranking_options", "rewrite_query")
    )
    query = body.get("query")
    if isinstance(query, list):
        query = " ".join(str(q) for q in query)
    if not isinstance(query, str):
        raise missing_parameter("query")
    limit = body.get("max_num_results", 10)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
        raise bad_request(
            "Invalid 'max_num_results': expected an integer between 1 and 50.",
            param="max_num_results",
        )
    touch(project, vs_id)
    return JSONResponse(
        {
            "object": "vector_store.search_results.page",
            "search_query": [query],
            "data": search_chunks(project, [vs_id], query, max_results=limit),
            "has_more": False,
            "next_page": None,
        }
    )


routes = [
    Route("/vector_stores", create, methods=["POST"]),
    Route("/vector_stores", list_stores, methods=["GET"]),
    Route("/vector_stores/{vs_id}", retrieve, methods=["GET"]),
    Route("/vector_stores/{vs_id}", update, methods=["POST"]),
    Route("/vector_stores/{vs_id}", delete, methods=["DELETE"]),
    Route("/vector_stores/{vs_id}/search", search, methods=["POST"]),
]
