"""Assistants v2 tools and tool resources: checked and shaped as OpenAI does."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from sandbox.bodies import array_too_long, invalid_type, invalid_value, string_too_long
from sandbox.errors import bad_request, missing_parameter
from sandbox.function_schemas import require_strict
from sandbox.routes import files, vector_stores
from sandbox.state import Project

MAX_TOOLS = 128
MAX_CODE_INTERPRETER_FILES = 20
MAX_VECTOR_STORES = 1
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_DEFAULT_RANKING = {"ranker": "default_2024_08_21", "score_threshold": 0.0}


def require_beta_header(request: Request) -> None:
    """The v2 Assistants API answers only clients that send `OpenAI-Beta: assistants=v2`."""
    if "assistants=v2" not in request.headers.get("openai-beta", ""):
        raise bad_request(
            "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try "
            "again by setting the header 'OpenAI-Beta: assistants=v2'."
        )


def tools(value: Any, *, param: str = "tools") -> list[dict[str, Any]]:
    """Checked tools, with OpenAI's defaults filled in (file_search ranking, strict)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    if len(value) > MAX_TOOLS:
        raise array_too_long(param, MAX_TOOLS, len(value))
    return [_tool(tool, f"{param}[{i}]") for i, tool in enumerate(value)]


def _tool(tool: Any, param: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise invalid_type(param, "an object", tool)
    kind = tool.get("type")
    if kind == "code_interpreter":
        return {"type": "code_interpreter"}
    if kind == "file_search":
        options = dict(tool.get("file_search") or {})
        max_results = options.get("max_num_results")
        if max_results is not None and not (
            isinstance(max_results, int) and 1 <= max_results <= 50
        ):
            raise bad_request(
                f"Invalid '{param}.file_search.max_num_results': expected an integer between "
                "1 and 50.",
                param=f"{param}.file_search.max_num_results",
                code="invalid_value",
            )
        options.setdefault("ranking_options", dict(_DEFAULT_RANKING))
        return {"type": "file_search", "file_search": options}
    if kind == "function":
        return {
            "type": "function",
            "function": _function(tool.get("function"), f"{param}.function"),
        }
    raise invalid_value(
        kind, "'code_interpreter', 'function', and 'file_search'", param=f"{param}.type"
    )


def _function(function: Any, param: str) -> dict[str, Any]:
    if not isinstance(function, dict):
        raise missing_parameter(param)
    name = function.get("name")
    if not isinstance(name, str):
        raise missing_parameter(f"{param}.name")
    if len(name) > 64:
        raise string_too_long(f"{param}.name", 64, len(name))
    if not _FUNCTION_NAME.match(name):
        raise bad_request(
            f"Invalid '{param}.name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param=f"{param}.name",
            code="invalid_value",
        )
    shaped: dict[str, Any] = {"name": name}
    if function.get("description") is not None:
        shaped["description"] = function["description"]
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise invalid_type(f"{param}.parameters", "an object", parameters)
    shaped["parameters"] = parameters if parameters is not None else {}
    # FunctionObject: `strict` defaults to false in Assistants (Responses defaults it on)
    shaped["strict"] = bool(function.get("strict") or False)
    if shaped["strict"]:
        require_strict(name, shaped["parameters"], param=f"{param}.parameters")
    return shaped


def function_names(tool_list: list[dict[str, Any]]) -> set[str]:
    """Names of the function tools among `tool_list`."""
    return {t["function"]["name"] for t in tool_list if t.get("type") == "function"}


def tool_resources(project: Project, value: Any, *, param: str = "tool_resources") -> dict:
    """Checked tool resources; every file and vector store id must exist in the project."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    shaped: dict[str, Any] = {}
    if (code := value.get("code_interpreter")) is not None:
        file_ids = _id_list(code.get("file_ids"), f"{param}.code_interpreter.file_ids")
        if len(file_ids) > MAX_CODE_INTERPRETER_FILES:
            raise array_too_long(
                f"{param}.code_interpreter.file_ids", MAX_CODE_INTERPRETER_FILES, len(file_ids)
            )
        for file_id in file_ids:
            files.require_file(project, file_id, param=f"{param}.code_interpreter.file_ids")
        shaped["code_interpreter"] = {"file_ids": file_ids}
    if (search := value.get("file_search")) is not None:
        store_ids = _id_list(
            search.get("vector_store_ids"), f"{param}.file_search.vector_store_ids"
        )
        if len(store_ids) > MAX_VECTOR_STORES:
            raise array_too_long(
                f"{param}.file_search.vector_store_ids", MAX_VECTOR_STORES, len(store_ids)
            )
        for store_id in store_ids:
            require_vector_store(project, store_id, f"{param}.file_search.vector_store_ids")
        helpers = search.get("vector_stores") or []
        if not isinstance(helpers, list):
            raise invalid_type(f"{param}.file_search.vector_stores", "an array", helpers)
        if len(store_ids) + len(helpers) > MAX_VECTOR_STORES:
            raise array_too_long(
                f"{param}.file_search.vector_store_ids",
                MAX_VECTOR_STORES,
                len(store_ids) + len(helpers),
            )
        for i, helper in enumerate(helpers):
            # The `vector_stores` helper makes a store from files, as OpenAI does.
            where = f"{param}.file_search.vector_stores[{i}]"
            if not isinstance(helper, dict):
                raise invalid_type(where, "an object", helper)
            file_ids = _id_list(helper.get("file_ids"), f"{where}.file_ids")
            for file_id in file_ids:
                files.require_file(project, file_id, param=f"{where}.file_ids")
            store = vector_stores.create_store(
                project,
                file_ids=file_ids,
                strategy=helper.get("chunking_strategy"),
                meta=helper.get("metadata"),
            )
            store_ids.append(store["id"])
        shaped["file_search"] = {"vector_store_ids": store_ids}
    return shaped


def _id_list(value: Any, param: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_type(param, "an array of strings", value)
    return list(value)


def require_vector_store(project: Project, store_id: str, param: str) -> None:
    """OpenAI's 400 for a vector store id, referenced from a body, the project lacks."""
    vector_stores.require_vector_store(project, store_id, param=param)
