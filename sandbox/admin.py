"""Admin routes under /_sandbox/ for tests and benchmarks (outside OpenAI's API).

No auth unless the sandbox has an `admin_token`, then `Authorization: Bearer <token>`.
Every route answers JSON; errors use OpenAI's error shape too, so one parser reads both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import bulk_threads, model
from sandbox.bodies import json_body
from sandbox.errors import APIError, bad_request
from sandbox.faults import Fault
from sandbox.state import Project, SandboxState


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    if state.admin_token is not None:
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ").strip() != state.admin_token:
            raise APIError(401, "Admin token required for /_sandbox routes.", code="admin_token")
    return state


def _project(state: SandboxState, project_id: str) -> Project:
    try:
        return state.project(project_id)
    except KeyError:
        raise APIError(404, f"No project '{project_id}' in the sandbox.") from None


def _project_view(project: Project) -> dict[str, Any]:
    limits = project.limiter.limits
    return {
        "id": project.id,
        "org_id": project.org_id,
        "insufficient_quota": project.insufficient_quota,
        "quota_code": project.quota_code,
        "allow_all_downloads": project.allow_all_downloads,
        "ingestion_seconds": project.ingestion_seconds,
        "limits": {
            "requests_per_minute": limits.requests_per_minute,
            "tokens_per_minute": limits.tokens_per_minute,
        },
        "models": list(project.models),
        "model_limits": {
            family: {
                "requests_per_minute": limiter.limits.requests_per_minute,
                "tokens_per_minute": limiter.limits.tokens_per_minute,
                "models": sorted(m for m, f in project.model_families.items() if f == family),
            }
            for family, limiter in project.model_limiters.items()
        },
        "objects": project.object_counts(),
    }


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def reset(request: Request) -> Response:
    _state(request).reset()
    return JSONResponse({"reset": True})


async def seed(request: Request) -> Response:
    """Load a fixture manifest (`{"path": …}`; default: the demo fixture)."""
    from sandbox.fixtures import DEMO_MANIFEST, load_seed

    state = _state(request)
    body = await json_body(request)
    path = Path(body.get("path") or DEMO_MANIFEST)
    try:
        # a small local manifest: reading it inline is quicker than a thread hop
        loaded = load_seed(state, path)
    except FileNotFoundError:
        raise bad_request(f"No fixture at {path}.", param="path") from None
    return JSONResponse(loaded)


async def counters(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({**state.counters.snapshot(), "objects": state.object_counts()})


async def list_keys(request: Request) -> Response:
    state = _state(request)
    return JSONResponse(
        {"data": [{"org_id": k.org_id, "project_id": k.project_id} for k in state.keys.values()]}
    )


async def add_key(request: Request) -> Response:
    """Add `{"key", "org_id", "project_id"}` (the project is created if new)."""
    state = _state(request)
    body = await json_body(request)
    missing = [name for name in ("key", "org_id", "project_id") if not body.get(name)]
    if missing:
        raise bad_request(f"Missing {', '.join(missing)}.", param=missing[0])
    state.add_key(body["key"], body["org_id"], body["project_id"])
    return JSONResponse(_project_view(state.project(body["project_id"])), status_code=201)


async def list_projects(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"data": [_project_view(p) for p in state.projects.values()]})


async def get_project(request: Request) -> Response:
    state = _state(request)
    return JSONResponse(_project_view(_project(state, request.path_params["project_id"])))


async def update_project(request: Request) -> Response:
    """Patch a project: `limits`, `insufficient_quota` (+`quota_code`), downloads, ingestion."""
    state = _state(request)
    project = _project(state, request.path_params["project_id"])
    body = await json_body(request)
    if (limits := body.get("limits")) is not None:
        state.set_limits(
            project.id,
            requests_per_minute=limits.get("requests_per_minute"),
            tokens_per_minute=limits.get("tokens_per_minute"),
        )
    if "insufficient_quota" in body:
        state.set_insufficient_quota(
            project.id,
            bool(body["insufficient_quota"]),
            code=body.get("quota_code", "insufficient_quota"),
        )
    if "allow_all_downloads" in body:
        state.set_allow_all_downloads(bool(body["allow_all_downloads"]), project.id)
    if "ingestion_seconds" in body:
        state.set_ingestion_seconds(float(body["ingestion_seconds"]), project.id)
    if "models" in body:
        state.set_models(project.id, _model_ids(body["models"]))
    for family, limits in (body.get("model_limits") or {}).items():
        if not isinstance(limits, dict):
            raise bad_request(f"model_limits.{family} must be an object.", param="model_limits")
        state.set_model_limits(
            project.id,
            family,
            requests_per_minute=limits.get("requests_per_minute"),
            tokens_per_minute=limits.get("tokens_per_minute"),
            models=limits.get("models"),
        )
    return JSONResponse(_project_view(project))


def _model_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request("'models' must be a list of model ids.", param="models")
    return value


async def list_models(request: Request) -> Response:
    project = _project(_state(request), request.path_params["project_id"])
    return JSONResponse({"data": list(project.models)})


async def put_models(request: Request) -> Response:
    """Replace (PUT) or extend (POST) the models the project may use: `{"models": [...]}`."""
    state = _state(request)
    project = _project(state, request.path_params["project_id"])
    ids = _model_ids((await json_body(request)).get("models"))
    listed = state.set_models(project.id, ids, replace=request.method == "PUT")
    return JSONResponse({"data": listed})


async def delete_model(request: Request) -> Response:
    state = _state(request)
    project = _project(state, request.path_params["project_id"])
    return JSONResponse({"data": state.remove_models(project.id, [request.path_params["model"]])})


async def fill_threads(request: Request) -> Response:
    """`{"users": N, "messages": M, "image_every": 3, "metadata": {}}`: N threads of M messages."""
    project = _project(_state(request), request.path_params["project_id"])
    body = await json_body(request)
    try:
        made = bulk_threads.fill_threads(
            project,
            users=int(body.get("users", 0)),
            messages_per_thread=int(body.get("messages", 0)),
            image_every=int(body.get("image_every", 3)),
            metadata=body.get("metadata"),
        )
    except (TypeError, ValueError) as exc:
        raise bad_request(f"Invalid bulk threads request: {exc}", param="users") from None
    return JSONResponse(made, status_code=201)


async def update_settings(request: Request) -> Response:
    """Sandbox-wide switches: `allow_all_downloads`, `ingestion_seconds` (all projects)."""
    state = _state(request)
    body = await json_body(request)
    if "allow_all_downloads" in body:
        state.set_allow_all_downloads(bool(body["allow_all_downloads"]))
    if "ingestion_seconds" in body:
        state.set_ingestion_seconds(float(body["ingestion_seconds"]))
    return JSONResponse(
        {
            "allow_all_downloads": state.allow_all_downloads,
            "ingestion_seconds": state.ingestion_seconds,
        }
    )


async def list_faults(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"data": [f.to_dict() for f in state.faults.faults]})


async def add_fault(request: Request) -> Response:
    state = _state(request)
    body = await json_body(request)
    try:
        fault = Fault.from_dict(body)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"Invalid fault: {exc}") from None
    state.add_fault(fault)
    return JSONResponse(fault.to_dict(), status_code=201)


async def delete_fault(request: Request) -> Response:
    state = _state(request)
    fault_id = request.path_params["fault_id"]
    if not state.faults.remove(fault_id):
        raise APIError(404, f"No fault '{fault_id}'.")
    return JSONResponse({"id": fault_id, "deleted": True})


async def clear_faults(request: Request) -> Response:
    _state(request).clear_faults()
    return JSONResponse({"deleted": True})


async def queue_model_outputs(request: Request) -> Response:
    """The project's next model turns, instead of the script (see `model.queue_outputs`)."""
    project = _project(_state(request), request.path_params["project_id"])
    outputs = (await json_body(request)).get("outputs")
    if not isinstance(outputs, list) or not outputs:
        raise bad_request(
            "'outputs' must be a non-empty list of texts or {text|tool_calls|error} objects.",
            param="outputs",
        )
    try:
        queued = model.queue_outputs(project, outputs)
    except (TypeError, ValueError, KeyError) as exc:
        raise bad_request(f"Invalid output: {exc}", param="outputs") from None
    return JSONResponse({"queued": queued}, status_code=201)


async def clear_model_outputs(request: Request) -> Response:
    model.clear_outputs(_project(_state(request), request.path_params["project_id"]))
    return JSONResponse({"queued": 0})


async def set_model_timing(request: Request) -> Response:
    """`run_step_seconds` (each run state) and `response_latency_seconds` (each response)."""
    project = _project(_state(request), request.path_params["project_id"])
    body = await json_body(request)
    try:
        timing = {
            name: float(body[name])
            for name in ("run_step_seconds", "response_latency_seconds")
            if name in body
        }
    except (TypeError, ValueError):
        raise bad_request("Timings are numbers of seconds.") from None
    settings = model.set_timing(project, **timing)
    return JSONResponse(
        {
            "run_step_seconds": settings.run_step_seconds,
            "response_latency_seconds": settings.response_latency_seconds,
        }
    )


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/reset", reset, methods=["POST"]),
    Route("/seed", seed, methods=["POST"]),
    Route("/counters", counters, methods=["GET"]),
    Route("/keys", list_keys, methods=["GET"]),
    Route("/keys", add_key, methods=["POST"]),
    Route("/projects", list_projects, methods=["GET"]),
    Route("/projects/{project_id}", get_project, methods=["GET"]),
    Route("/projects/{project_id}", update_project, methods=["PATCH", "POST"]),
    Route("/projects/{project_id}/model/outputs", queue_model_outputs, methods=["POST"]),
    Route("/projects/{project_id}/model/outputs", clear_model_outputs, methods=["DELETE"]),
    Route("/projects/{project_id}/model/timing", set_model_timing, methods=["PATCH", "POST"]),
    Route("/projects/{project_id}/models", list_models, methods=["GET"]),
    Route("/projects/{project_id}/models", put_models, methods=["PUT", "POST"]),
    Route("/projects/{project_id}/models/{model:path}", delete_model, methods=["DELETE"]),
    Route("/projects/{project_id}/threads/bulk", fill_threads, methods=["POST"]),
    Route("/settings", update_settings, methods=["PATCH", "POST"]),
    Route("/faults", list_faults, methods=["GET"]),
    Route("/faults", add_fault, methods=["POST"]),
    Route("/faults", clear_faults, methods=["DELETE"]),
    Route("/faults/{fault_id}", delete_fault, methods=["DELETE"]),
]
