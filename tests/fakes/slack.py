"""A fake Slack Web API: the methods crisiswatch calls, with Slack's checks and answers.

Implemented: ``auth.test``, ``chat.postMessage`` (also thread replies with ``thread_ts``, and
message ``metadata``), ``chat.update``, ``conversations.history`` (newest first, ``oldest``,
``limit``, metadata only with ``include_all_metadata``; like Slack it wants a channel *id*),
``conversations.list`` (paged with ``limit`` and ``cursor``), ``files.getUploadURLExternal``, the
upload URL it returns (served by this same server at ``/upload/<file id>``) and
``files.completeUploadExternal``. Every ``/api/`` call checks
``Authorization: Bearer <token>`` and answers ``{"ok": false, "error": "invalid_auth"}`` (or
``not_authed``) otherwise, like Slack, with HTTP 200. Block Kit limits are enforced
(``invalid_blocks``) so that a message Slack would reject fails here too.

Inspect after the fact:

* ``requests``: every request, with parsed body and the status answered;
* ``messages[channel_id][ts]``: top-level messages, each a dict with ``text``, ``blocks``,
  ``replies`` (thread replies, in order), ``edits`` (how many ``chat.update``) and ``files``;
* ``files[file_id]``: uploads, with the bytes received;
* ``channel_ids``: channel name -> id (a channel exists as soon as it is posted to, unless its
  name or id is in ``missing_channels``, which answers ``channel_not_found``).

Script failures with ``fail_next(429, method="chat.postMessage", headers={"Retry-After": "1"})``,
``fail_next(500)``, ``fail_next(503, delay=1.0)`` (a timeout for a client waiting less),
``fail_next(503, delay=1.0, processed=True)`` (the message is posted, the answer never arrives), or
``fail_next_error("channel_not_found")`` for an ``ok: false`` answer.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._http import Failure, FakeServer, RecordedRequest

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_MESSAGE_TEXT = 40000


class FakeSlack(FakeServer):
    """A local Slack Web API (see the module docstring)."""

    def __init__(self, token: str = "xoxb-fake-test-token-0123456789") -> None:
        super().__init__()
        self.token = token
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.channel_ids: dict[str, str] = {}
        self.missing_channels: set[str] = set()
        self._last_ts = 0.0
        self._file_ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        """What to pass as ``base_url`` / ``SLACK_API_URL``."""
        return f"{self.base_url}/api/"

    def fail_next_error(self, error: str, *, method: str | None = None, count: int = 1) -> None:
        """Answer the next ``count`` calls with HTTP 200 ``{"ok": false, "error": error}``."""
        self.fail_next(200, method=method, count=count, body={"ok": False, "error": error})

    # -- inspection helpers -----------------------------------------------------------------------

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of ``channel`` (name or id), oldest first."""
        channel_id = self.channel_ids.get(channel, channel)
        return list(self.messages.get(channel_id, {}).values())

    def all_messages(self) -> list[dict[str, Any]]:
        return [m for per_channel in self.messages.values() for m in per_channel.values()]

    # -- the server -------------------------------------------------------------------------------

    def method_of(self, path: str) -> str:
        path = path.split("?", 1)[0]
        if path.startswith("/api/"):
            return path[len("/api/"):]
        if path.startswith("/upload/"):
            return "upload"
        return path

    def failure_body(self, failure: Failure) -> Any:
        if failure.body is not None:
            return failure.body
        return {"ok": False, "error": "ratelimited" if failure.status == 429 else "internal_error"}

    def succeeded(self, request: RecordedRequest) -> bool:
        if request.status != 200:
            return False
        return request.method == "upload" or bool(request.ok)

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        if request.method == "upload":
            return self._upload(request)
        auth = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        if not auth:
            answer = {"ok": False, "error": "not_authed"}
        elif auth != f"Bearer {self.token}":
            answer = {"ok": False, "error": "invalid_auth"}
        else:
            handler = getattr(self, "_" + request.method.replace(".", "_"), None)
            body = request.body if isinstance(request.body, dict) else {}
            body = {**dict(parse_qsl(urlsplit(request.path).query)), **body}  # GET methods take parameters
            answer = handler(body) if handler else {"ok": False, "error": "unknown_method"}
        request.ok = bool(answer.get("ok"))
        return 200, {}, answer

    # -- methods ----------------------------------------------------------------------------------

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"{self.base_url}/", "team": "Fake Team", "user": "crisiswatch",
                "team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT"}

    def _chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._channel(body.get("channel"))
        if channel_id is None:
            return {"ok": False, "error": "channel_not_found"}
        error = _check_content(body)
        if error:
            return {"ok": False, "error": error}
        ts = self._next_ts()
        message = {"channel": channel_id, "ts": ts, "text": body.get("text"), "blocks": body.get("blocks")}
        thread_ts = body.get("thread_ts")
        if thread_ts:
            parent = self.messages.get(channel_id, {}).get(thread_ts)
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            parent["replies"].append({**message, "thread_ts": thread_ts})
        else:
            self.messages.setdefault(channel_id, {})[ts] = {**message, "replies": [], "edits": 0, "files": [],
                                                            "metadata": body.get("metadata")}
        return {"ok": True, "channel": channel_id, "ts": ts, "message": {"text": body.get("text"), "ts": ts}}

    def _conversations_history(self, body: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(body.get("channel") or "")
        if channel_id not in self.channel_ids.values() or channel_id in self.missing_channels:
            return {"ok": False, "error": "channel_not_found"}  # names are not accepted here, ids only
        oldest = float(body.get("oldest") or 0)
        limit = int(body.get("limit") or 100)
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        newest_first = sorted(self.messages.get(channel_id, {}).values(), key=lambda m: float(m["ts"]), reverse=True)
        found = [m for m in newest_first if float(m["ts"]) > oldest]
        page = [{"type": "message", "ts": m["ts"], "text": m["text"],
                 **({"metadata": m["metadata"]} if with_metadata and m.get("metadata") else {})}
                for m in found[:limit]]
        return {"ok": True, "messages": page, "has_more": len(found) > limit}

    def _conversations_list(self, body: dict[str, Any]) -> dict[str, Any]:
        channels = [{"id": channel_id, "name": name.lstrip("#"), "is_archived": False}
                    for name, channel_id in self.channel_ids.items()
                    if name != channel_id and channel_id not in self.missing_channels]
        start = int(body.get("cursor") or 0)
        limit = int(body.get("limit") or 100)
        following = start + limit if start + limit < len(channels) else None
        return {"ok": True, "channels": channels[start:start + limit],
                "response_metadata": {"next_cursor": "" if following is None else str(following)}}

    def _chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._channel(body.get("channel"), create=False)
        if channel_id is None:
            return {"ok": False, "error": "channel_not_found"}
        message = self.messages.get(channel_id, {}).get(str(body.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        error = _check_content(body)
        if error:
            return {"ok": False, "error": error}
        message.update(text=body.get("text"), blocks=body.get("blocks"), edits=message["edits"] + 1)
        return {"ok": True, "channel": channel_id, "ts": message["ts"], "text": body.get("text")}

    def _files_getUploadURLExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("filename") or not str(body.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):08d}"
        self.files[file_id] = {"id": file_id, "filename": body["filename"], "length": int(body["length"]),
                               "alt_txt": body.get("alt_txt"), "data": None, "completed": False}
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _upload(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        file_id = request.path.rsplit("/", 1)[-1]
        record = self.files.get(file_id)
        if record is None:
            return 404, {}, b"no such upload"
        record["data"] = request.raw
        return 200, {"Content-Type": "text/plain"}, f"OK - {len(request.raw)}".encode()

    def _files_completeUploadExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            files = json.loads(body.get("files") or "[]")
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        shared = []
        for item in files:
            record = self.files.get(item.get("id"))
            if record is None or record["data"] is None:
                return {"ok": False, "error": "file_not_found"}
            record.update(completed=True, title=item.get("title"), channel_id=body.get("channel_id"),
                          thread_ts=body.get("thread_ts"))
            shared.append({"id": record["id"], "title": item.get("title"), "name": record["filename"]})
        channel_id = body.get("channel_id")
        if channel_id:
            if self._channel(channel_id, create=False) is None:
                return {"ok": False, "error": "channel_not_found"}
            parent = self.messages.get(channel_id, {}).get(str(body.get("thread_ts")))
            if parent is not None:
                parent["files"].extend(item["id"] for item in shared)
        return {"ok": True, "files": shared}

    # -- helpers ----------------------------------------------------------------------------------

    def _channel(self, channel: Any, *, create: bool = True) -> str | None:
        if not channel or channel in self.missing_channels:
            return None
        channel = str(channel)
        if channel in self.channel_ids.values():
            return channel
        if channel not in self.channel_ids:
            if not create:
                return None
            self.channel_ids[channel] = "C" + hashlib.sha1(channel.encode()).hexdigest()[:9].upper()
        channel_id = self.channel_ids[channel]
        return None if channel_id in self.missing_channels else channel_id

    def _next_ts(self) -> str:
        """Now, as Slack stamps a message, and unique (and increasing) however fast messages come."""
        self._last_ts = max(round(time.time(), 6), self._last_ts + 1e-6)
        return f"{self._last_ts:.6f}"


def _check_content(body: dict[str, Any]) -> str | None:
    """Slack's error for a message it would refuse, else ``None``."""
    text, blocks = body.get("text"), body.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return "invalid_blocks_format"
    if not text and not blocks:
        return "no_text"
    if text and len(text) > MAX_MESSAGE_TEXT:
        return "msg_too_long"
    if blocks:
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            return "invalid_blocks"
        for block in blocks:
            limit = MAX_HEADER_TEXT if block.get("type") == "header" else MAX_SECTION_TEXT
            texts = [block.get("text"), *(block.get("elements") or []), *(block.get("fields") or [])]
            for item in texts:
                if isinstance(item, dict) and len(str(item.get("text", ""))) > limit:
                    return "invalid_blocks"
    return None
