"""Generic webhook notifier: POST every incident event as JSON to a URL.

For receivers we do not speak natively (an on-call tool, a chat bridge, a ticketing system). The
body is the event dict itself; the receiver deduplicates with ``incident_id`` + ``sequence``.
The URL often embeds a credential, so it is read like a secret (``CRISISWATCH_WEBHOOK_URL`` or
``..._FILE``) and never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

from alerts.credentials import read_secret
from alerts.notifier import PermanentError, RetryableError


class WebhookNotifier:
    """POST each event as JSON; 2xx is success, 408/429/5xx and network errors are retried."""

    kind = "webhook"

    def __init__(self, url: str, *, session: requests.Session | None = None, timeout: float = 10.0,
                 headers: Mapping[str, str] | None = None, name: str = "webhook") -> None:
        self._url = url
        self.session = session or requests.Session()
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.name = name

    def __repr__(self) -> str:  # the URL may hold a credential
        return f"WebhookNotifier(name={self.name!r})"

    @classmethod
    def from_env(cls, *, env: Mapping[str, str] | None = None, **kwargs: Any) -> WebhookNotifier | None:
        """From ``CRISISWATCH_WEBHOOK_URL`` (or ``..._FILE``); ``None`` if not set."""
        url = read_secret("CRISISWATCH_WEBHOOK_URL", os.environ if env is None else env)
        return None if url is None else cls(url, **kwargs)

    def send(self, event: dict[str, Any]) -> bool:
        try:
            response = self.session.post(self._url, json=event, headers=self.headers, timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise RetryableError(f"webhook: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise PermanentError(f"webhook: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return True
        if status in (408, 429) or status >= 500:
            retry_after = response.headers.get("Retry-After")
            try:
                delay = float(retry_after) if retry_after is not None else None
            except ValueError:
                delay = None
            raise RetryableError(f"webhook: HTTP {status}", retry_after=delay)
        raise PermanentError(f"webhook: HTTP {status}")
