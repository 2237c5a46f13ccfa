"""The tools file: what it accepts, and errors that name the line at fault."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chatbot_conversation import config
from chatbot_conversation.config import ConversationSettings
from chatbot_conversation.tools import Tools, ToolsFileError, load_tools

EXAMPLE = """\
functions:
  - name: lookup_order
    description: Look up an order by its number.
    parameters: {type: object, properties: {order: {type: string}}, required: [order]}
    url: https://orders.internal/tools/lookup_order
    timeout: 10
    headers_from_env: {Authorization: ORDERS_TOOL_AUTH}
    include_phone: false
hosted:
  - {type: web_search}
  - {type: file_search, vector_store_ids: [vs_abc], max_num_results: 5}
  - {type: mcp, server_label: crm, server_url: https://mcp.example/mcp,
     allowed_tools: [find_customer], require_approval: never,
     headers_from_env: {Authorization: CRM_MCP_AUTH}}
max_rounds: 8
"""
ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order": {"type": "string"}},
    "required": ["order"],
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tools.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_documented_example_is_read_with_its_secret_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_TOOL_AUTH", "Bearer orders-secret")
    monkeypatch.setenv("CRM_MCP_AUTH", "Bearer crm-secret")
    tools = load_tools(write(tmp_path, EXAMPLE))
    (lookup,) = tools.functions
    assert lookup.headers == {"Authorization": "Bearer orders-secret"}
    assert "orders-secret" not in repr(lookup)
    assert lookup.request_param() == {
        "type": "function",
        "name": "lookup_order",
        "description": "Look up an order by its number.",
        "parameters": ORDER_SCHEMA,
        "strict": False,
    }
    assert [hosted.request_param() for hosted in tools.hosted] == [
        {"type": "web_search"},
        {"type": "file_search", "vector_store_ids": ["vs_abc"], "max_num_results": 5},
        {
            "type": "mcp",
            "server_label": "crm",
            "server_url": "https://mcp.example/mcp",
            "allowed_tools": ["find_customer"],
            "require_approval": "never",
            "headers": {"Authorization": "Bearer crm-secret"},
        },
    ]
    assert tools.max_rounds == 8


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            """\
            functions:
              - name: lookup_order
                url: https://orders.internal/x
              - name: bad name!
                url: https://orders.internal/y
            """,
            r"tools.yaml, line 4: functions.1.name: String should match pattern",
        ),
        (
            """\
            functions:
              - name: lookup_order
                url: https://orders.internal/x
                parameters: {type: object, properties: {order: {type: strin}}}
            """,
            r"line 4: functions.0.parameters: not a valid JSON Schema: 'strin' is not valid",
        ),
        (
            """\
            functions:
              - name: lookup_order
                url: ftp://orders.internal/x
            """,
            r"line 3: functions.0.url: URL scheme should be 'http' or 'https'",
        ),
        (
            """\
            functions:
              - name: lookup_order
                url: https://orders.internal/x
                headers_from_env: {Authorization: NOT_SET_ANYWHERE}
            """,
            r"line 2: functions.0: environment variable\(s\) not set: NOT_SET_ANYWHERE",
        ),
        (
            """\
            functions:
              - {name: lookup_order, url: "https://orders.internal/x"}
              - {name: lookup_order, url: "https://orders.internal/y"}
            """,
            r"line 1: file: function names must be unique: lookup_order",
        ),
        (
            """\
            hosted:
              - {type: web_search}
              - {type: file_search}
            """,
            r"line 3: hosted.1.vector_store_ids: Field required",
        ),
        (
            """\
            hosted:
              - {type: file_search, vector_store_ids: [vs_1], max_results: 3}
            """,
            r"line 2: hosted.0: unknown field\(s\) of a file_search tool: max_results",
        ),
        (
            """\
            hosted:
              - {type: mcp, server_label: crm, server_url: "https://mcp.example/mcp"}
            """,
            r"line 2: hosted.0: an mcp tool needs require_approval: never",
        ),
        (
            """\
            hosted:
              - {type: image_generation}
            """,
            r"line 2: hosted.0: type 'image_generation' is not one of code_interpreter",
        ),
        (
            """\
            hosted:
              - {type: mcp, server_label: crm, server_url: "https://mcp.example/mcp",
                 require_approval: never, headers: {Authorization: "Bearer literal"}}
            """,
            r"line 2: hosted.0: headers would put a secret in the file",
        ),
        ("max_rounds: 0\n", r"line 1: max_rounds: Input should be greater than or equal to 1"),
        ("functons: []\n", r"line 1: functons: Extra inputs are not permitted"),
        ("- a list\n", r"line 1: the tools file must be a mapping"),
        ("functions: [\n", r"not valid YAML"),
        (
            """\
            functions:
              - {name: handoff_to_human, url: "https://desk.internal/x"}
            """,
            r"line 2: functions.0.name: handoff_to_human is the service's own tool",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_line(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ToolsFileError, match=error):
        load_tools(write(tmp_path, text))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolsFileError, match="cannot read the tools file"):
        load_tools(tmp_path / "nowhere.yaml")


def test_hosted_tools_need_the_responses_backend(tmp_path: Path) -> None:
    path = write(tmp_path, "hosted:\n  - {type: web_search}\n")
    with pytest.raises(ValueError, match="only the Responses API runs"):
        ConversationSettings(
            openai_api_key="k", openai_backend="chat", tools_file=path, user_key_secret="s"
        )
    settings = ConversationSettings(openai_api_key="k", tools_file=path, user_key_secret="s")
    assert settings.tools is not None
    assert settings.tools.hosted[0].type == "web_search"


def test_the_settings_read_the_tools_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "hosted:\n  - {type: web_search}\n")
    reads: list[Path] = []

    def counted(given: Path) -> Tools:
        reads.append(given)
        return load_tools(given)

    monkeypatch.setattr(config, "load_tools", counted)
    settings = ConversationSettings(openai_api_key="k", tools_file=path, user_key_secret="s")
    assert settings.tools is not None
    assert settings.tools is settings.tools
    assert reads == [path]
