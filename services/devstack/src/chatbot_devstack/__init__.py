"""The whole system on one machine, for `make run`, the stack tests and the benchmarks."""

from .desk import Desk
from .driver import StackDriver, poll
from .environment import (
    DEFAULT_OPENAI_MODEL,
    EXAMPLE_TOOLS,
    SANDBOX_MODEL_LABEL,
    LocalModes,
    example_tools_file,
    local_environment,
)
from .numbers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS_NUMBER,
    ORDER_READY_TEMPLATE_SID,
    REENGAGE_TEMPLATE_SID,
    USER,
    user_number,
)
from .ports import Ports, free_port, port_is_free
from .processes import (
    ManagedProcess,
    ProcessSpec,
    Sink,
    StackError,
    find_executable,
    nats_server_spec,
)
from .stack import PARTS, LocalStack, running_stack, started_stack
from .webhooks import Twilio, inbound_form, signed

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "BUSINESS_NUMBER",
    "DEFAULT_OPENAI_MODEL",
    "EXAMPLE_TOOLS",
    "ORDER_READY_TEMPLATE_SID",
    "PARTS",
    "REENGAGE_TEMPLATE_SID",
    "SANDBOX_MODEL_LABEL",
    "USER",
    "Desk",
    "LocalModes",
    "LocalStack",
    "ManagedProcess",
    "Ports",
    "ProcessSpec",
    "Sink",
    "StackDriver",
    "StackError",
    "Twilio",
    "example_tools_file",
    "find_executable",
    "free_port",
    "inbound_form",
    "local_environment",
    "nats_server_spec",
    "poll",
    "port_is_free",
    "running_stack",
    "signed",
    "started_stack",
    "user_number",
]
