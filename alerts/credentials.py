"""Secrets (tokens, routing keys, webhook URLs) from the environment, kept out of every log line.

A secret is read from ``NAME`` or, for container secrets, from the file named by ``NAME_FILE``.
Every value read this way is registered with :class:`RedactSecrets`, a logging filter that the
loggers of this package (see :func:`get_logger`) and the Slack SDK logger we hand to ``WebClient``
carry: if a secret ever slipped into a message, its arguments or an exception text, the line
shows ``[redacted]`` instead. That is the safety net; the first rule is still never to format a
request body, a header or a credential-bearing URL into a log message.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path

REDACTED = "[redacted]"
_MIN_SECRET_LENGTH = 6
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Redact ``value`` from the log lines of this package from now on (short values are ignored)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def read_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The secret in ``$NAME``, else in the file ``$NAME_FILE``, else ``None``; registered for redaction."""
    env = os.environ if env is None else env
    value = env.get(name)
    if not value and env.get(f"{name}_FILE"):
        value = Path(env[f"{name}_FILE"]).read_text(encoding="utf-8").strip()
    if not value:
        return None
    register_secret(value)
    return value


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[redacted]``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """Rewrite a record's message and exception text with the registered secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactSecrets()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` carrying the redaction filter (filters do not inherit)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
