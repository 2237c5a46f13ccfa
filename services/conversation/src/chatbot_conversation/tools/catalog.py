"""The tools file (``TOOLS_FILE``): function tools served by the operator, hosted tools run by
OpenAI, and the bounds of a turn's tool loop; read once at start-up, errors named by line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from openai.types.responses import (
    FileSearchToolParam,
    WebSearchPreviewToolParam,
    WebSearchToolParam,
)
from openai.types.responses.tool_param import CodeInterpreter, Mcp
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = ["RESERVED_NAMES", "FunctionTool", "HostedTool", "Tools", "ToolsFileError", "load_tools"]

RESERVED_NAMES = frozenset({"handoff_to_human"})
"""Function names the service offers itself."""

_HOSTED: Mapping[str, Any] = {
    "web_search": WebSearchToolParam,
    "web_search_2025_08_26": WebSearchToolParam,
    "web_search_preview": WebSearchPreviewToolParam,
    "web_search_preview_2025_03_11": WebSearchPreviewToolParam,
    "file_search": FileSearchToolParam,
    "code_interpreter": CodeInterpreter,
    "mcp": Mcp,
}
"""The hosted tools a turn can use, checked against the SDK's own request types. Others (image
generation, computer use, shells) answer with items a WhatsApp reply cannot carry or that need
the application to act."""


class ToolsFileError(ValueError):
    """The tools file cannot be used; the message names the file and the line at fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _from_env(names: Mapping[str, str]) -> dict[str, str]:
    """Header values from the environment variables ``names`` maps each header to."""
    if missing := sorted(env for env in names.values() if not os.environ.get(env)):
        raise ValueError(f"environment variable(s) not set: {', '.join(missing)}")
    return {header: os.environ[env] for header, env in names.items()}


class FunctionTool(_Strict):
    """A function the model may call, served by ``POST url`` (docs/tools.md)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    url: AnyHttpUrl
    timeout: float = Field(10.0, gt=0, le=300)
    max_attempts: int = Field(3, ge=1, le=10)
    headers_from_env: dict[str, str] = Field(default_factory=dict)
    include_phone: bool = False
    _headers: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_NAMES:
            raise ValueError(f"{name} is the service's own tool; choose another name")
        return name

    @field_validator("parameters")
    @classmethod
    def _json_schema_of_an_object(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            raise ValueError(f"not a valid JSON Schema: {error.message}") from None
        if schema.get("type") != "object":
            raise ValueError("the parameters schema must have type: object")
        return schema

    @model_validator(mode="after")
    def _headers_resolved(self) -> FunctionTool:
        self._headers = _from_env(self.headers_from_env)
        return self

    @property
    def headers(self) -> dict[str, str]:
        """The headers each call sends, their values read from the environment (secrets)."""
        return self._headers

    def request_param(self) -> dict[str, Any]:
        """This function as the Responses API's ``tools`` entry."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": False,
        }

    def chat_param(self) -> dict[str, Any]:
        """This function as Chat Completions' ``tools`` entry."""
        function = {"name": self.name, "description": self.description}
        return {"type": "function", "function": function | {"parameters": self.parameters}}


class HostedTool(BaseModel):
    """A tool OpenAI runs itself: its ``tools`` entry, as written, checked by the SDK's type."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    headers_from_env: dict[str, str] = Field(default_factory=dict)
    _param: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _checked(self) -> HostedTool:
        kind = _HOSTED.get(self.type)
        if kind is None:
            raise ValueError(f"type {self.type!r} is not one of {', '.join(sorted(_HOSTED))}")
        given = {"type": self.type, **(self.model_extra or {})}
        if written := sorted({"headers", "authorization"} & set(given)):
            raise ValueError(
                f"{', '.join(written)} would put a secret in the file: name the environment "
                "variables that hold it in headers_from_env"
            )
        if self.headers_from_env:
            if self.type != "mcp":
                raise ValueError("headers_from_env is for mcp tools only")
            given["headers"] = _from_env(self.headers_from_env)
        known = kind.__required_keys__ | kind.__optional_keys__
        if unknown := sorted(set(given) - known):
            raise ValueError(f"unknown field(s) of a {self.type} tool: {', '.join(unknown)}")
        if self.type == "mcp" and given.get("require_approval") != "never":
            raise ValueError(
                "an mcp tool needs require_approval: never (approvals are not relayed to anyone)"
            )
        self._param = dict(TypeAdapter(kind).validate_python(given))
        return self

    def request_param(self) -> dict[str, Any]:
        """This tool as the Responses API's ``tools`` entry (secret headers included)."""
        return dict(self._param)


class Tools(_Strict):
    """Everything the tools file declares."""

    functions: tuple[FunctionTool, ...] = ()
    hosted: tuple[HostedTool, ...] = ()
    max_rounds: int = Field(8, ge=1, le=50, description="Model calls per turn, tool rounds too.")
    max_output_chars: int = Field(
        8000, ge=100, le=100_000, description="Cap on one tool output given to the model."
    )
    turn_deadline: float = Field(
        120.0, gt=0, le=900, description="Seconds a turn's tool loop may take in all."
    )

    @model_validator(mode="after")
    def _names_unique(self) -> Tools:
        names = [function.name for function in self.functions]
        if doubled := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"function names must be unique: {', '.join(doubled)}")
        return self

    def function(self, name: str) -> FunctionTool | None:
        return next((function for function in self.functions if function.name == name), None)


def load_tools(path: Path) -> Tools:
    """Read and check the tools file; :class:`ToolsFileError` names the line at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ToolsFileError(f"cannot read the tools file {path}: {error}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ToolsFileError(f"{path}: not valid YAML: {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ToolsFileError(f"{path}, line 1: the tools file must be a mapping")
    try:
        return Tools.model_validate(data)
    except ValidationError as error:
        problems = [
            f"{path}, line {_line_of(root, problem['loc'])}: "
            f"{'.'.join(str(part) for part in problem['loc']) or 'file'}: "
            f"{problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors()
        ]
        raise ToolsFileError("\n".join(problems)) from None


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the YAML node at ``loc``, or of its nearest parent that exists."""
    if node is None:
        return 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1
