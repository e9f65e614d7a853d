"""structlog set-up: JSON lines in production, a console renderer on a TTY, stdlib logs routed through it.

Personal data never reaches a log line: callers log ids, codes and numbers only, and a last processor
drops any event key named like personal data as a safety net.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# Keys that may carry personal data or comment text; dropped from every event.
_FORBIDDEN_KEYS = frozenset(
    {"email", "name", "body", "ip", "text", "author_url", "user_agent", "referrer", "note", "authorization"}
)


def _drop_personal_data(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in _FORBIDDEN_KEYS.intersection(event):
        event.pop(key)
    return event


def configure_logging(log_format: str = "auto", level: str = "info", stream: Any = None) -> None:
    """Configure structlog and the stdlib root logger once per process."""
    out = stream if stream is not None else sys.stdout
    use_console = log_format == "console" or (log_format == "auto" and out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_personal_data,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=True)
        if use_console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    structlog.configure(
        # Drop events below the level before any other processor runs (cheap disabled log calls).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log repeats our canonical request line (and carries the client IP): off.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").propagate = False


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
