"""AssistantSpec: one assistant's definition (seed 000's AssistantSnapshot) and its wire shapes.

The spec is what the registry stores and what `ferry assistants apply` reads. It converts
exactly to and from the Assistants v2 object, and one way to Responses parameters (the
Responses API has no assistant object to read back).

`None` means "not set, the server's default applies"; empty tool resources are normalised
away, so a spec and its conversions compare equal field by field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from schemas.assistant_parts import (
    TOOL_KINDS,
    CodeInterpreterTool,
    FileSearchTool,
    FunctionTool,
    ResponseFormat,
    ResponseFormatJSONSchema,
    SpecModel,
    SubAssistantTool,
    Tool,
    ToolResources,
)

# OpenAI's metadata limits (Metadata in openapi.yaml).
METADATA_MAX_KEYS = 16
METADATA_KEY_MAX_CHARS = 64
METADATA_VALUE_MAX_CHARS = 512
# Where a v2 object remembers which function tools are Ferry sub-assistants: v2 has no such
# tool type, and without the marker `from_v2` could not give the spec back exactly.
SUB_ASSISTANTS_METADATA_KEY = "ferry_sub_assistants"
# What the model sees of a sub-assistant whose spec gives no parameters.
DEFAULT_SUB_ASSISTANT_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"request": {"type": "string", "description": "What to ask the assistant."}},
    "required": ["request"],
}


class AssistantSpec(SpecModel):
    """An assistant's definition: the registry row, the `apply` file, the export entry."""

    name: str = Field(min_length=1, max_length=256)
    model: str = Field(min_length=1)
    description: str | None = Field(default=None, max_length=512)
    instructions: str | None = Field(default=None, max_length=256_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    response_format: ResponseFormat | None = None
    tools: list[Tool] = Field(default_factory=list, max_length=128)
    tool_resources: ToolResources | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("tools", mode="before")
    @classmethod
    def _flatten_v2_tools(cls, value: Any) -> Any:
        # Accept the v2 nesting ({"type": "function", "function": {...}}) as well as the flat form.
        if not isinstance(value, list):
            return value
        flat = []
        for tool in value:
            if isinstance(tool, Mapping) and isinstance(tool.get(tool.get("type")), Mapping):
                inner = tool[tool["type"]]
                tool = {"type": tool["type"], **inner}
            flat.append(tool)
        return flat

    @field_validator("tools")
    @classmethod
    def _unique_tool_names(cls, tools: list[Any]) -> list[Any]:
        seen: dict[str, int] = {}
        for index, tool in enumerate(tools):
            if tool.name in seen:
                raise PydanticCustomError(
                    "duplicate_tool",
                    "tools[{index}] has the name '{name}' of tools[{first}]: tool names are unique",
                    {
                        "index": index,
                        "name": tool.name,
                        "first": seen[tool.name],
                        "subpath": f"[{index}].name",
                    },
                )
            seen[tool.name] = index
        return tools

    @field_validator("tool_resources")
    @classmethod
    def _no_empty_resources(cls, value: ToolResources | None) -> ToolResources | None:
        return None if value is None or value.is_empty else value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_none(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, metadata: dict[str, str]) -> dict[str, str]:
        if SUB_ASSISTANTS_METADATA_KEY in metadata:
            raise PydanticCustomError(
                "metadata_reserved",
                "metadata key '{key}' is reserved for Ferry",
                {"key": SUB_ASSISTANTS_METADATA_KEY},
            )
        _check_metadata(metadata)
        return metadata

    @model_validator(mode="after")
    def _room_for_marker(self) -> AssistantSpec:
        marker = self._sub_assistant_marker()
        if marker is not None:
            _check_metadata({**self.metadata, SUB_ASSISTANTS_METADATA_KEY: marker})
        return self

    def _sub_assistant_marker(self) -> str | None:
        subs = {t.name: t.assistant for t in self.tools if isinstance(t, SubAssistantTool)}
        return json.dumps(subs, separators=(",", ":")) if subs else None

    # --- Assistants v2 ---

    @classmethod
    def from_v2(cls, assistant: Mapping[str, Any] | BaseModel) -> AssistantSpec:
        """The spec of a v2 assistant object (a dict, or the SDK's `Assistant`); `SpecError`."""
        obj = (
            assistant.model_dump(mode="json", by_alias=True, exclude_unset=True)
            if isinstance(assistant, BaseModel)
            else dict(assistant)
        )
        metadata = dict(obj.get("metadata") or {})
        try:
            subs = json.loads(metadata.pop(SUB_ASSISTANTS_METADATA_KEY, None) or "{}")
            subs = {str(k): str(v) for k, v in subs.items()}
        except (ValueError, AttributeError):
            raise SpecError(
                [(f"metadata.{SUB_ASSISTANTS_METADATA_KEY}", "not Ferry's sub-assistant marker")]
            ) from None
        tools: list[dict[str, Any]] = []
        for tool in obj.get("tools") or []:
            kind = tool.get("type")
            inner = dict(tool.get(kind) or {}) if kind in ("function", "file_search") else {}
            if kind == "function" and inner.get("name") in subs:
                parameters = inner.get("parameters")
                if parameters == DEFAULT_SUB_ASSISTANT_PARAMETERS:
                    parameters = None
                tools.append(
                    _without_none(
                        type="sub_assistant",
                        name=inner["name"],
                        assistant=subs[inner["name"]],
                        description=inner.get("description"),
                        parameters=parameters,
                    )
                )
            else:
                tools.append({"type": kind, **inner})
        fields = {k: obj.get(k) for k in _V2_FIELDS}
        fields.update(tools=tools, metadata=metadata)
        if fields["response_format"] is None:
            fields.pop("response_format")
        return parse_spec(fields)

    def v2_tools(self) -> list[dict[str, Any]]:
        """`tools` in the v2 shape: sub-assistants become function tools."""
        result: list[dict[str, Any]] = []
        for tool in self.tools:
            if isinstance(tool, CodeInterpreterTool):
                result.append({"type": "code_interpreter"})
            elif isinstance(tool, FileSearchTool):
                options = tool.model_dump(exclude={"type"}, exclude_none=True)
                result.append(
                    {"type": "file_search", **({"file_search": options} if options else {})}
                )
            else:
                result.append({"type": "function", "function": _function_definition(tool)})
        return result

    def v2_metadata(self) -> dict[str, str]:
        """`metadata` as v2 stores it: with the sub-assistant marker when there are any."""
        marker = self._sub_assistant_marker()
        return (
            {**self.metadata, SUB_ASSISTANTS_METADATA_KEY: marker}
            if marker
            else dict(self.metadata)
        )

    def to_v2_create(self) -> dict[str, Any]:
        """Keyword arguments for `client.beta.assistants.create`: unset fields left out."""
        return {k: v for k, v in self.to_v2_update().items() if v is not None}

    def to_v2_update(self) -> dict[str, Any]:
        """Keyword arguments for `client.beta.assistants.update`: every field, so the remote
        ends up equal to the spec (None resets a field to the server's default)."""
        return {
            "model": self.model,
            "name": self.name,
            "description": self.description,
            "instructions": self.instructions,
            "tools": self.v2_tools(),
            "tool_resources": (
                self.tool_resources.model_dump(exclude_none=True) if self.tool_resources else None
            ),
            "metadata": self.v2_metadata(),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "response_format": _dump_response_format(self.response_format),
        }

    # --- Responses ---

    def to_responses_params(self) -> dict[str, Any]:
        """Keyword arguments for `client.responses.create` that carry this definition."""
        params: dict[str, Any] = {"model": self.model}
        if self.instructions is not None:
            params["instructions"] = self.instructions
        for key in ("temperature", "top_p"):
            if getattr(self, key) is not None:
                params[key] = getattr(self, key)
        tools = [t for t in (self._responses_tool(tool) for tool in self.tools) if t is not None]
        if tools:
            params["tools"] = tools
        text_format = _responses_text_format(self.response_format)
        if text_format is not None:
            params["text"] = {"format": text_format}
        return params

    def _responses_tool(self, tool: Any) -> dict[str, Any] | None:
        resources = self.tool_resources or ToolResources()
        if isinstance(tool, FileSearchTool):
            stores = resources.file_search.vector_store_ids if resources.file_search else []
            if not stores:
                # v2 allowed file_search with no store (it searched nothing); Responses requires
                # vector_store_ids, so the tool is left out rather than sent to be refused.
                return None
            result: dict[str, Any] = {"type": "file_search", "vector_store_ids": list(stores)}
            if tool.max_num_results is not None:
                result["max_num_results"] = tool.max_num_results
            if tool.ranking_options is not None:
                ranking: dict[str, Any] = {"score_threshold": tool.ranking_options.score_threshold}
                # v2's dated ranker has no Responses counterpart; `auto` is the only shared name.
                if tool.ranking_options.ranker == "auto":
                    ranking["ranker"] = "auto"
                result["ranking_options"] = ranking
            return result
        if isinstance(tool, CodeInterpreterTool):
            files = resources.code_interpreter.file_ids if resources.code_interpreter else []
            return {
                "type": "code_interpreter",
                "container": {"type": "auto", "file_ids": list(files)},
            }
        definition = _function_definition(tool)
        # Responses defaults `strict` to true where v2 defaulted to false: say it explicitly.
        return {
            "type": "function",
            "name": definition["name"],
            "description": definition.get("description"),
            "parameters": definition.get("parameters"),
            "strict": bool(definition.get("strict")),
        }

    def sub_assistant_names(self) -> list[str]:
        """Registry names of the assistants this one calls as tools."""
        return [t.assistant for t in self.tools if isinstance(t, SubAssistantTool)]


_V2_FIELDS = (
    "name",
    "model",
    "description",
    "instructions",
    "temperature",
    "top_p",
    "response_format",
    "tool_resources",
)


def _without_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _function_definition(tool: FunctionTool | SubAssistantTool) -> dict[str, Any]:
    if isinstance(tool, SubAssistantTool):
        return _without_none(
            name=tool.name,
            description=tool.description,
            parameters=tool.parameters or DEFAULT_SUB_ASSISTANT_PARAMETERS,
        )
    return _without_none(
        name=tool.name, description=tool.description, parameters=tool.parameters, strict=tool.strict
    )


def _dump_response_format(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return value.model_dump(by_alias=True, exclude_none=True)


def _responses_text_format(value: Any) -> dict[str, Any] | None:
    if value is None or value == "auto":
        return None
    if isinstance(value, ResponseFormatJSONSchema):
        # Responses flattens json_schema's fields into the format object.
        return {
            "type": "json_schema",
            **value.json_schema.model_dump(by_alias=True, exclude_none=True),
        }
    return value.model_dump()


def _check_metadata(metadata: Mapping[str, str]) -> None:
    if len(metadata) > METADATA_MAX_KEYS:
        raise PydanticCustomError(
            "metadata_limit",
            "metadata has {count} keys; OpenAI allows {limit}",
            {"count": len(metadata), "limit": METADATA_MAX_KEYS},
        )
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_MAX_CHARS:
            raise PydanticCustomError(
                "metadata_limit",
                "metadata key '{key}' is {length} characters; OpenAI allows {limit}",
                {"key": key, "length": len(key), "limit": METADATA_KEY_MAX_CHARS, "subpath": key},
            )
        if len(value) > METADATA_VALUE_MAX_CHARS:
            raise PydanticCustomError(
                "metadata_limit",
                "metadata['{key}'] is {length} characters; OpenAI allows {limit}",
                {
                    "key": key,
                    "length": len(value),
                    "limit": METADATA_VALUE_MAX_CHARS,
                    "subpath": key,
                },
            )


# --- Errors that name the field ---


class SpecError(ValueError):
    """A spec was refused; `problems` holds (field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """`('tools', 2, 'function', 'parameters')` → `tools[2].parameters` (union tags dropped)."""
    path = prefix
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(previous, int) and part in TOOL_KINDS:
            pass  # a discriminated union's tag, not a field
        else:
            path += f".{part}" if path else str(part)
        previous = part
    return path


def spec_problems(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """The (field path, message) pairs of a pydantic error on an AssistantSpec."""
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if len(loc) > 1 and loc[0] == "response_format":
            loc = (loc[0], *loc[2:])  # loc[1] is the branch's tag
        path = field_path(loc, prefix)
        subpath = (item.get("ctx") or {}).get("subpath")
        if subpath:
            path += subpath if subpath.startswith("[") else f".{subpath}"
        problems.append((path or prefix or "spec", item["msg"]))
    return problems


def parse_spec(data: Any, prefix: str = "") -> AssistantSpec:
    """Validate `data` as an AssistantSpec; a `SpecError` names every bad field."""
    try:
        return AssistantSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(spec_problems(error, prefix)) from None
