"""Local fakes of the services crisiswatch alerts: Slack Web API, PagerDuty Events API v2, a webhook.

Start one per test (``with FakeSlack() as slack: ...``) or per session from a fixture; each
listens on 127.0.0.1 with a free port and records what it received.
"""

from ._http import Failure, FakeServer, RecordedRequest, for_seconds
from .pagerduty import FakePagerDuty
from .slack import FakeSlack
from .webhook import FakeWebhook

__all__ = ["Failure", "FakePagerDuty", "FakeServer", "FakeSlack", "FakeWebhook", "RecordedRequest", "for_seconds"]
