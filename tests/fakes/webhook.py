"""A fake webhook receiver: records the JSON bodies POSTed to it and answers 200 (or a scripted failure)."""

from __future__ import annotations

from typing import Any

from ._http import FakeServer, RecordedRequest


class FakeWebhook(FakeServer):
    """``events`` holds every JSON body accepted, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        self.events.append(request.body)
        return 200, {}, {"ok": True}
