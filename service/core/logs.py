"""structlog set-up: JSON lines in production, a console renderer on a TTY, stdlib logs routed through it.

The service's own events go straight from structlog to the stream (a level-filtering bound logger, so
a disabled level costs one no-op call; JSON rendered by orjson); records of other libraries' stdlib
loggers get the same processors and renderer through a ``ProcessorFormatter`` on the root logger.

Personal data never reaches a log line: callers log ids, codes and numbers only, and a last processor
drops any event key named like personal data as a safety net.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

import orjson
import structlog
from aiohttp.http_exceptions import HttpProcessingError

# Keys that may carry personal data or comment text; dropped from every event.
_FORBIDDEN_KEYS = frozenset(
    {"email", "name", "body", "ip", "text", "author_url", "user_agent", "referrer", "note", "authorization"}
)
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _drop_personal_data(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in _FORBIDDEN_KEYS.intersection(event):
        event.pop(key)
    return event


# "Error handling request from 203.0.113.9": aiohttp names the client's address in its messages.
_CLIENT_ADDRESS = re.compile(r" from \S+")


class _ScrubParserErrors(logging.Filter):
    """aiohttp's own records carry raw request bytes: a request-parser error's message quotes the bad
    header line (an ``Authorization`` key, an email) and its message names the client's address. Such
    a record becomes ``http_parse_error`` (a warning) with the exception's class and status only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiohttp"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "http_parse_error", ()
            record.exc_info, record.exc_text = None, None
            record.error, record.status = type(error).__name__, error.code
            record.levelno, record.levelname = logging.WARNING, "WARNING"  # the client's fault
        else:
            record.msg, record.args = _CLIENT_ADDRESS.sub("", record.getMessage()), ()
        return True


def _json_dumps(event: Any, default: Any = None, **_: Any) -> str:
    """One JSON line; orjson, with the standard library for what orjson refuses (huge integers)."""
    try:
        return orjson.dumps(event, default=default, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(event, default=default, ensure_ascii=False)


class _NamedWriteLogger(structlog.WriteLogger):
    """Writes rendered lines to the stream; carries its name for ``add_logger_name``."""

    def __init__(self, file: Any, name: str) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLoggerFactory:
    def __init__(self, file: Any) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self._file, str(args[0]) if args else "")


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
        else structlog.processors.JSONRenderer(serializer=_json_dumps)
    )
    level_no = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, *([] if use_console else [structlog.processors.format_exc_info]), renderer],
        logger_factory=_NamedWriteLoggerFactory(out),
        # Events below the level are dropped before any processor runs (a no-op method).
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(allow=("error", "status"))],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(_ScrubParserErrors())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_no)
    logging.captureWarnings(True)  # Python warnings become "py.warnings" records, rendered like the rest
    # aiohttp's access log repeats our canonical request line (and carries the client IP): off.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").propagate = False


def get_logger(name: str) -> Any:
    """A structlog logger named ``name`` (created lazily, at first use, with the configuration then)."""
    return structlog.get_logger(name)
