"""Files: upload, retrieve, list, delete, download, as OpenAI's /v1/files answers them.

Bytes live in `project.private["file"][id]`; the public object in `project.objects["file"]`.
Like OpenAI, downloading a file of purpose `assistants` or `user_data` is refused with 400
unless the project allows every download (a stand-in for compatible servers that do).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.errors import APIError, bad_request, missing_parameter
from sandbox.pagination import page
from sandbox.state import Project, new_id, now

KIND = "file"
# what a client may upload; the `*_output`/`*-results` purposes are made by OpenAI itself
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
NO_DOWNLOAD_PURPOSES = frozenset({"assistants", "user_data"})
BATCH_EXPIRY_SECONDS = 30 * 24 * 3600
MIN_EXPIRY, MAX_EXPIRY = 3600, 30 * 24 * 3600
FILES_MAX_LIMIT = 10_000


def file_not_found(file_id: str, *, param: str | None = "id") -> APIError:
    """OpenAI's 404 for a file id the project does not have."""
    return APIError(404, f"No such File object: {file_id}", param=param)


def require_file(
    project: Project, file_id: str, *, param: str | None = "id", status: int | None = None
) -> dict[str, Any]:
    """The file object, or OpenAI's refusal naming `param`.

    A path id (`param="id"`) answers 404; an id referenced from a request body (e.g.
    `tool_resources.code_interpreter.file_ids`) answers 400, as OpenAI validates bodies.
    """
    obj = project.objects.get(KIND, {}).get(file_id)
    if obj is None:
        if (status or (404 if param == "id" else 400)) == 400:
            raise bad_request(
                f"No file found with id '{file_id}'.", param=param, code="invalid_value"
            )
        raise file_not_found(file_id, param=param)
    return obj


def file_bytes(project: Project, file_id: str) -> bytes:
    """The stored bytes of a file (for other modules: vector stores, code interpreter)."""
    require_file(project, file_id)
    return project.private_of(KIND)[file_id]


def create_file(
    project: Project,
    filename: str,
    data: bytes,
    purpose: str,
    *,
    expires_at: int | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    """Store a file in the project (uploads, seeds, and outputs the sandbox itself makes)."""
    created = created_at if created_at is not None else now()
    if expires_at is None and purpose == "batch":
        expires_at = created + BATCH_EXPIRY_SECONDS
    obj: dict[str, Any] = {
        "id": new_id("file-"),
        "object": "file",
        "bytes": len(data),
        "created_at": created,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }
    if expires_at is not None:
        # the spec types `expires_at` as a plain integer: absent rather than null
        obj["expires_at"] = expires_at
    project.put(KIND, obj)
    project.private_of(KIND)[obj["id"]] = data
    return obj


async def upload(request: Request) -> Response:
    project: Project = request.state.project
    form = await request.form()
    upload_file = form.get("file")
    if not isinstance(upload_file, UploadFile):
        raise missing_parameter("file")
    purpose = form.get("purpose")
    if not purpose:
        raise missing_parameter("purpose")
    if purpose not in UPLOAD_PURPOSES:
        raise bad_request(
            f"Invalid value for 'purpose': '{purpose}'. Supported values are: "
            + ", ".join(f"'{p}'" for p in UPLOAD_PURPOSES)
            + ".",
            param="purpose",
            code="invalid_value",
        )
    created = now()
    expires_at = _expires_at(form, created)
    data = await upload_file.read()
    filename = upload_file.filename or "upload"
    obj = create_file(project, filename, data, str(purpose), expires_at=expires_at)
    return JSONResponse(obj)


def _expires_at(form: Any, created: int) -> int | None:
    anchor = form.get("expires_after[anchor]")
    seconds = form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise bad_request(
            f"Invalid value for 'expires_after.anchor': '{anchor}'. Supported values are: "
            "'created_at'.",
            param="expires_after.anchor",
            code="invalid_value",
        )
    try:
        secs = int(str(seconds))
    except ValueError:
        secs = -1
    if not MIN_EXPIRY <= secs <= MAX_EXPIRY:
        raise bad_request(
            f"Invalid 'expires_after.seconds': expected an integer between {MIN_EXPIRY} and "
            f"{MAX_EXPIRY}, got {seconds}.",
            param="expires_after.seconds",
        )
    return created + secs


async def list_files(request: Request) -> Response:
    project: Project = request.state.project
    items = project.table(KIND).values()
    if purpose := request.query_params.get("purpose"):
        items = [f for f in items if f["purpose"] == purpose]
    return JSONResponse(
        page(items, request.query_params, default_limit=FILES_MAX_LIMIT, max_limit=FILES_MAX_LIMIT)
    )


async def retrieve(request: Request) -> Response:
    return JSONResponse(require_file(request.state.project, request.path_params["file_id"]))


async def delete(request: Request) -> Response:
    project: Project = request.state.project
    file_id = request.path_params["file_id"]
    require_file(project, file_id)
    project.delete(KIND, file_id)
    # "Delete a file and remove it from all vector stores" (the spec's summary); the stores'
    # data (`vector_stores.StoreData`) is read by shape, as that module imports this one
    for store in project.private.get("vector_store", {}).values():
        store.files.pop(file_id, None)
    return JSONResponse({"id": file_id, "object": "file", "deleted": True})


async def content(request: Request) -> Response:
    project: Project = request.state.project
    obj = require_file(project, request.path_params["file_id"])
    if obj["purpose"] in NO_DOWNLOAD_PURPOSES and not project.allow_all_downloads:
        raise bad_request(f"Not allowed to download files of purpose: {obj['purpose']}")
    return Response(project.private_of(KIND)[obj["id"]], media_type="application/octet-stream")


routes = [
    Route("/files", upload, methods=["POST"]),
    Route("/files", list_files, methods=["GET"]),
    Route("/files/{file_id}", retrieve, methods=["GET"]),
    Route("/files/{file_id}", delete, methods=["DELETE"]),
    Route("/files/{file_id}/content", content, methods=["GET"]),
]
