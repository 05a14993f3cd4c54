"""Models: the catalogue each project may use, `GET /v1/models[/{id}]`, and OpenAI's
`model_not_found` answers, which differ by route.

Every project starts with `DEFAULT_MODELS` (real OpenAI ids, so clients written for OpenAI
run unchanged); the config file, a fixture manifest, an admin route or
`SandboxState.set_models` replace or extend that list. A model the project lacks gets:

- creating or updating an assistant: 400 "The requested model 'x' does not exist." (`param:
  model`);
- serving routes (runs, responses): 404 "The model `x` does not exist or you do not have
  access to it.";
- `GET /v1/models/x`: 404 "The model 'x' does not exist" (`param: model`).

Rate limits are kept per *family*: a dated snapshot (`gpt-4o-2024-08-06`, `gpt-4-0613`) shares
the limit of its base model, as OpenAI's limits page lists them; a project can map more.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.errors import APIError

if TYPE_CHECKING:  # state.py builds each project's catalogue from this module
    from sandbox.state import Project

# id -> creation time, owner: a plausible slice of OpenAI's catalogue
DEFAULT_MODELS: dict[str, tuple[int, str]] = {
    "gpt-4o": (1715367049, "system"),
    "gpt-4o-2024-05-13": (1715368132, "system"),
    "gpt-4o-2024-08-06": (1722814719, "system"),
    "gpt-4o-2024-11-20": (1739331543, "system"),
    "gpt-4o-mini": (1721172741, "system"),
    "gpt-4o-mini-2024-07-18": (1721172717, "system"),
    "gpt-4.1": (1744316542, "system"),
    "gpt-4.1-2025-04-14": (1744315746, "system"),
    "gpt-4.1-mini": (1744318173, "system"),
    "gpt-4.1-nano": (1744321707, "system"),
    "gpt-4-turbo": (1712361441, "system"),
    "gpt-4": (1687882411, "openai"),
    "gpt-4-0613": (1686588896, "openai"),
    "gpt-3.5-turbo": (1677610602, "openai"),
    "gpt-3.5-turbo-0125": (1706048358, "system"),
    "o1": (1734375816, "system"),
    "o3": (1744225308, "system"),
    "o3-mini": (1737146383, "system"),
    "o4-mini": (1744225351, "system"),
    "gpt-5": (1754425777, "system"),
    "gpt-5-mini": (1754425928, "system"),
    "gpt-5-nano": (1754426384, "system"),
}
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")
_FALLBACK_CREATED = 1700000000


def model_object(model_id: str, created: int = _FALLBACK_CREATED, owned_by: str = "system"):
    """A `Model` as OpenAI lists it."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def default_catalogue(extra: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """A fresh copy of the default models (plus `extra` ids), by id."""
    table = {mid: model_object(mid, *meta) for mid, meta in DEFAULT_MODELS.items()}
    for model_id in extra:
        table.setdefault(model_id, model_object(model_id, owned_by="user"))
    return table


def catalogue_of(ids: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Model objects for `ids` (the defaults' metadata where known)."""
    return {
        mid: model_object(mid, *DEFAULT_MODELS.get(mid, (_FALLBACK_CREATED, "user"))) for mid in ids
    }


def family_of(project: Project, model_id: str) -> str:
    """The name of the rate limit `model_id` counts against (a snapshot shares its base's)."""
    if model_id in project.model_families:
        return project.model_families[model_id]
    return _SNAPSHOT_SUFFIX.sub("", model_id)


def _not_found(status: int, message: str, param: str | None = None) -> APIError:
    return APIError(status, message, param=param, code="model_not_found")


def require_for_assistant(project: Project, model_id: str) -> None:
    """OpenAI's 400 for an assistant naming a model the project lacks."""
    if model_id not in project.models:
        raise _not_found(400, f"The requested model '{model_id}' does not exist.", "model")


def require_for_serving(project: Project, model_id: str) -> None:
    """OpenAI's 404 for a run or response naming a model the project lacks."""
    if model_id not in project.models:
        message = f"The model `{model_id}` does not exist or you do not have access to it."
        raise _not_found(404, message)


async def list_(request: Request) -> JSONResponse:
    """GET /v1/models"""
    project: Project = request.state.project
    return JSONResponse({"object": "list", "data": list(project.models.values())})


async def retrieve(request: Request) -> JSONResponse:
    """GET /v1/models/{model}"""
    project: Project = request.state.project
    model_id = request.path_params["model"]
    model = project.models.get(model_id)
    if model is None:
        raise _not_found(404, f"The model '{model_id}' does not exist", "model")
    return JSONResponse(model)


routes = [
    Route("/models", list_, methods=["GET"]),
    Route("/models/{model:path}", retrieve, methods=["GET"]),
]
