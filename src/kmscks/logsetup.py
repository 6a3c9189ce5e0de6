"""How cks servers spell log levels and format their log lines: one format, text or JSON, stderr.

Bottom layer (stdlib and orjson only); must not import any other kmscks module. `cks serve`
hands `dictconfig()` to granian, which applies it in the main process and in every worker, so
granian's own lines, cks's lines and the request log (kmscks.api.requestlog) share a formatter.
`cks xks-proxy` uses the same level spelling (any case).

A record may carry `fields` (a dict of plain values, e.g. the request log's): the text format
appends them as `key=value` pairs, the JSON format as members of the line's object.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")


def level_name(text: str) -> str:
    """argparse `type=` for --log-level: any case is accepted (`INFO`, `info`, `Info`)."""
    return text.strip().lower()


class _Clock:
    """UTC timestamps with milliseconds; the seconds part is formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._text}.{int((created - second) * 1000):03d}Z"


_PLAIN = re.compile(r"[A-Za-z0-9._:/@+-]+")


def _logfmt_value(value: Any) -> str:
    if type(value) is int or type(value) is float:
        return str(value)
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    # JSON string syntax: quotes, backslashes and control characters escaped, so a value
    # from a client (a header) can never start a new line or fake another field.
    return orjson.dumps(text).decode()


def _record_parts(
    record: logging.LogRecord,
) -> tuple[float, str, int | None, str, str, dict[str, Any] | None]:
    """What a line is made of (`LineFormatter.render`'s arguments), taken from a record."""
    return (
        record.created,
        record.levelname,
        record.process,
        record.name,
        record.getMessage(),
        getattr(record, "fields", None),
    )


class LineFormatter(logging.Formatter):
    """A formatter whose line can also be made without a LogRecord (`render`)."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def render(
        self,
        created: float,
        level: str,
        pid: int | None,
        name: str,
        message: str,
        fields: dict[str, Any] | None,
    ) -> str:
        raise NotImplementedError


class TextFormatter(LineFormatter):
    """`2026-11-30T16:32:34.123Z INFO [pid] logger: message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        line = self.render(*_record_parts(record))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line

    def render(
        self,
        created: float,
        level: str,
        pid: int | None,
        name: str,
        message: str,
        fields: dict[str, Any] | None,
    ) -> str:
        line = f"{self._clock(created)} {level} [{pid}] {name}: {message}"
        if fields:
            # _logfmt_value inlined: this runs for every field of every request line.
            for key, value in fields.items():
                kind = value.__class__
                if kind is int or kind is float or (kind is str and _PLAIN.fullmatch(value)):
                    line += f" {key}={value}"
                else:
                    line += f" {key}={_logfmt_value(value)}"
        return line


class JsonFormatter(LineFormatter):
    """One JSON object per line: time, level, pid, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = self._object(*_record_parts(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()

    def render(
        self,
        created: float,
        level: str,
        pid: int | None,
        name: str,
        message: str,
        fields: dict[str, Any] | None,
    ) -> str:
        line = self._object(created, level, pid, name, message, fields)
        return orjson.dumps(line, default=str).decode()

    def _object(
        self,
        created: float,
        level: str,
        pid: int | None,
        name: str,
        message: str,
        fields: dict[str, Any] | None,
    ) -> dict[str, Any]:
        line: dict[str, Any] = {
            "time": self._clock(created),
            "level": level,
            "pid": pid,
            "logger": name,
            "message": message,
        }
        if fields:
            line.update(fields)
        return line


_FORMATTERS = {"text": TextFormatter, "json": JsonFormatter}


class StderrHandler(logging.StreamHandler):
    """stderr. Every record is written and flushed at once, as by logging.StreamHandler; the
    request log's lines (`write_line`) too, until `buffer()` is called in a server worker.

    A worker writes a request line per request; flushing each one is a write(2) call, a third
    of the line's cost. Buffered, a request line is a memory copy: the buffer is flushed by any
    other record (so lines keep their order and nothing else waits), when a request line finds
    the last flush older than FLUSH_SECONDS, by the worker's periodic `flush_all()` (so a quiet
    server's lines still appear within that time), and when the worker stops.
    """

    FLUSH_SECONDS = 0.25
    _buffered = False

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self._last_flush = time.monotonic()

    @classmethod
    def buffer(cls) -> None:
        """From now on, in this process, request lines are written in blocks (see the class)."""
        cls._buffered = True
        for handler in _stderr_handlers():
            handler.setStream(
                open(  # noqa: SIM115 - lives as long as the process
                    sys.stderr.fileno(),
                    "w",
                    buffering=1 << 16,
                    encoding="utf-8",
                    errors="backslashreplace",
                    closefd=False,
                )
            )

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        super().flush()

    def write_line(self, line: str) -> None:
        """Write a line rendered without a LogRecord (see `fast_info`)."""
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(line + "\n")
            if not self._buffered or time.monotonic() - self._last_flush > self.FLUSH_SECONDS:
                self.flush()


def fast_info(logger: logging.Logger) -> Callable[[str, dict[str, Any]], None]:
    """`logger.info(message, extra={"fields": fields})`, cheaper when logging is as configured.

    The request log writes a line per request. When `logger`'s records end in exactly one
    StderrHandler with a cks formatter and nothing filters them (the configuration
    `dictconfig()` makes), the line is rendered by that formatter and written by that handler
    directly: the same line, without building a LogRecord and walking the logger tree, which
    cost several times more. Any other configuration gets the ordinary logging call. Levels are
    checked on each call, as logging does.
    """

    def ordinary(message: str, fields: dict[str, Any]) -> None:
        logger.info(message, extra={"fields": fields})

    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return ordinary
        handlers += current.handlers
        current = current.parent if current.propagate else None
    if len(handlers) != 1 or not isinstance(handlers[0], StderrHandler):
        return ordinary
    handler = handlers[0]
    formatter = handler.formatter
    if handler.filters or not isinstance(formatter, LineFormatter):
        return ordinary
    name = logger.name
    pid = os.getpid()

    def fast(message: str, fields: dict[str, Any]) -> None:
        if logger.isEnabledFor(logging.INFO) and handler.level <= logging.INFO:
            handler.write_line(formatter.render(time.time(), "INFO", pid, name, message, fields))

    return fast


def _stderr_handlers() -> list[StderrHandler]:
    loggers = [
        logging.getLogger(),
        logging.getLogger("_granian"),
        logging.getLogger("granian.access"),
    ]
    found: list[StderrHandler] = []
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, StderrHandler) and handler not in found:
                found.append(handler)
    return found


def flush_all() -> None:
    for handler in _stderr_handlers():
        handler.flush()


def dictconfig(level: str, log_format: str) -> dict[str, Any]:
    """A logging.config.dictConfig for every logger of a server process, granian's included."""
    formatter = _FORMATTERS[log_format]
    handler = {"()": f"{StderrHandler.__module__}.{StderrHandler.__qualname__}", "formatter": "cks"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cks": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"stderr": handler},
        "loggers": {
            # granian's own loggers (names fixed by granian), sent to the same handler.
            "_granian": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }


def skip_unused_record_attributes() -> None:
    """Stop the logging module from working out what no cks format prints.

    The logging HOWTO's "Optimization" advice: no caller lookup (a stack walk per record), no
    thread or multiprocessing names. Saves a few microseconds per request line.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False


def configure(level: str, log_format: str = "text") -> None:
    """Apply `dictconfig()` in this process (for a process granian did not configure)."""
    import logging.config

    logging.config.dictConfig(dictconfig(level, log_format))
