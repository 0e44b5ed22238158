"""JSON log lines, one object per line, with the reconciled object's kind/namespace/name as fields.

Structured fields travel in the standard `extra=` mapping, so call sites stay plain `logging` calls and a test can
still read `caplog.records`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}


_RENAMED = {"obj_name": "name"}
"""`name` is taken by LogRecord (the logger's name), so an object's name travels as `obj_name`."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                key = _RENAMED.get(key, key)
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def configure(level: str | int = "INFO") -> None:
    """Route the root logger to stderr as JSON (the CLI's entry point; in-process users keep their own setup)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    if isinstance(level, str):
        level = getattr(logging, level.upper(), logging.INFO)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def fields(kind: str, obj_key: str, **extra: Any) -> dict[str, Any]:
    """`extra=` mapping for a log line about one object: kind, namespace and name split from its key."""
    namespace, _, name = obj_key.rpartition("/")
    return {"kind": kind, "namespace": namespace, "obj_name": name, **extra}
