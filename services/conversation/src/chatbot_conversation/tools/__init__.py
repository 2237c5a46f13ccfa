"""Tools: functions the model may call on the operator's endpoints, and hosted tools."""

from .calls import ToolCall, ToolRunner, TurnRef, error_output
from .catalog import RESERVED_NAMES, FunctionTool, HostedTool, Tools, ToolsFileError, load_tools

__all__ = [
    "RESERVED_NAMES",
    "FunctionTool",
    "HostedTool",
    "ToolCall",
    "ToolRunner",
    "Tools",
    "ToolsFileError",
    "TurnRef",
    "error_output",
    "load_tools",
]
