"""The parts of an AssistantSpec: tools, tool resources and response formats.

Tools are kept flat (`{"type": "function", "name": ...}`); `AssistantSpec` converts them to
the v2 nesting and to Responses tools. Parameter schemas are checked as JSON Schema
(Draft 2020-12) on the way in, and an error names the path inside the schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class SpecModel(BaseModel):
    """Spec parts are immutable and refuse unknown fields (a typo is an error, not a no-op)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_json_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Refuse a parameters object that is not a JSON Schema, naming where it goes wrong."""
    if value is None:
        return None
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as error:
        where = ".".join(str(part) for part in error.path)
        raise PydanticCustomError(
            "json_schema",
            "not a valid JSON Schema{at}: {reason}",
            {"subpath": where, "at": f" at {where}" if where else "", "reason": error.message},
        ) from None
    return value


def _check_function_name(value: str) -> str:
    if not _FUNCTION_NAME.match(value):
        raise ValueError("must be 1-64 characters of a-z, A-Z, 0-9, '_' or '-'")
    return value


class FunctionTool(SpecModel):
    """A function the model may call; the caller runs it and returns its output."""

    type: Literal["function"] = "function"
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    _name = field_validator("name")(_check_function_name)
    _parameters = field_validator("parameters")(_check_json_schema)


class RankingOptions(SpecModel):
    """v2 file_search ranking: a ranker and the score below which results are dropped."""

    ranker: Literal["auto", "default_2024_08_21"] | None = None
    score_threshold: float = Field(ge=0, le=1)


class FileSearchTool(SpecModel):
    """Search the assistant's vector store (`tool_resources.file_search`)."""

    type: Literal["file_search"] = "file_search"
    max_num_results: int | None = Field(default=None, ge=1, le=50)
    ranking_options: RankingOptions | None = None

    @property
    def name(self) -> str:
        return self.type


class CodeInterpreterTool(SpecModel):
    """Run Python over the files of `tool_resources.code_interpreter`."""

    type: Literal["code_interpreter"] = "code_interpreter"

    @property
    def name(self) -> str:
        return self.type


class SubAssistantTool(SpecModel):
    """Another registry assistant (same profile), offered to the model as a function."""

    type: Literal["sub_assistant"] = "sub_assistant"
    name: str
    assistant: str = Field(min_length=1, description="The registry name of the assistant called.")
    description: str | None = None
    parameters: dict[str, Any] | None = None

    _name = field_validator("name")(_check_function_name)
    _parameters = field_validator("parameters")(_check_json_schema)


Tool = Annotated[
    FunctionTool | FileSearchTool | CodeInterpreterTool | SubAssistantTool,
    Field(discriminator="type"),
]
TOOL_KINDS = ("function", "file_search", "code_interpreter", "sub_assistant")


class CodeInterpreterResources(SpecModel):
    """Files the code interpreter gets (at most 20)."""

    file_ids: list[str] = Field(max_length=20)


class FileSearchResources(SpecModel):
    """The vector store file_search searches (v2 allows one)."""

    vector_store_ids: list[str] = Field(max_length=1)


class ToolResources(SpecModel):
    """Remote ids the built-in tools use: code-interpreter files, file_search vector stores."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        # `{}`, `{"file_ids": []}`, null and absence mean the same to OpenAI: keep one form.
        if not isinstance(data, Mapping):
            return data
        kept = dict(data)
        for section, ids in (("code_interpreter", "file_ids"), ("file_search", "vector_store_ids")):
            value = kept.get(section)
            if value is None or (
                isinstance(value, Mapping) and set(value) <= {ids} and not value.get(ids)
            ):
                kept.pop(section, None)
        return kept

    @property
    def is_empty(self) -> bool:
        return self.code_interpreter is None and self.file_search is None


class JSONSchemaFormat(SpecModel):
    """Structured outputs: a named JSON Schema the reply must match."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None

    _schema = field_validator("schema_")(_check_json_schema)


class ResponseFormatText(SpecModel):
    type: Literal["text"] = "text"


class ResponseFormatJSONObject(SpecModel):
    type: Literal["json_object"] = "json_object"


class ResponseFormatJSONSchema(SpecModel):
    type: Literal["json_schema"] = "json_schema"
    json_schema: JSONSchemaFormat


def _format_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return value.get("type")
    return getattr(value, "type", None)


# A callable discriminator, so an error names only the branch the value chose.
ResponseFormat = Annotated[
    Annotated[Literal["auto"], Tag("auto")]
    | Annotated[ResponseFormatText, Tag("text")]
    | Annotated[ResponseFormatJSONObject, Tag("json_object")]
    | Annotated[ResponseFormatJSONSchema, Tag("json_schema")],
    Discriminator(
        _format_kind,
        custom_error_type="response_format",
        custom_error_message="expected 'auto' or an object whose type is 'text', 'json_object' "
        "or 'json_schema'",
    ),
]
