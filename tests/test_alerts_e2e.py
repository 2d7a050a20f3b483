"""Alerts end to end on the real broker: the generated scenario through a worker to fake Slack and PagerDuty.

The viral complaint must give exactly one Slack message per channel it is routed to (updated in
place, with a thread of updates, marked resolved at the end) and one PagerDuty incident (trigger,
then resolve); the benign launch pages nobody. A worker SIGKILLed in the middle of the incident and
restarted must post and page nothing twice, lose no post, and restore its counts from the changelog
(equal to a recount of the scenario, apart from at-least-once duplicates, measured and bounded).

The scenario is made hostile on the way (:func:`make_hostile`): the viral story's root has an id full
of markup, its replies' texts end with mentions and markup, every author in the story has a handle
that tries to ping, every post of it links somewhere odd, and a few malformed lines sit in the file.
The alerts must still come out exactly as before, showing all that as plain text; and no token
(Slack, PagerDuty, the webhook's secret URL) may show up in the worker's output, its metrics, the
dead-letter topic, the outbox or the changelogs. In the first run the receivers are also down for
the first ten seconds of alerting (5xx and 429 with Retry-After): nothing is lost or reordered.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from streams.app import INGEST_BATCH
from streams.brand_stage import unpack_state
from streams.config import load_config
from streams.generate import Scenario, malformed_examples, write_scenario
from streams.ingest import Ingestor
from streams.localstack import REPO, WorkerProcess, write_config
from streams.matching import BrandMatcher
from streams.metrics import platform_label
from tests.conftest import unique_name
from tests.fakes import Failure, FakeWebhook, for_seconds
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.kafka_helpers import metric_samples, metric_total, read_topic, table_totals, wait_for
from tests.slack_safety import check_slack

pytestmark = pytest.mark.kafka

#: What the viral story's posts carry (see make_hostile).
HOSTILE_SUFFIX = (" <!channel> <!here> <@U123> <http://evil.example|your bank> &amp; *bold* `code` _it_ ~s~ "
                  "\u200b<!everyone>\u202e")
HOSTILE_HANDLE = "<!here>*boss*`x`\u200b<@U999>"
HOSTILE_ROOT_ID = "tw-`*root*`<!channel>&amp;"
HOSTILE_URL = "https://evil.example/a>b|c<!channel>"
WEBHOOK_SECRET = "whsec-e2e-7Hq2Lx9Vb3Nd8Pk4"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("alerts-scenario")
    write_scenario(Scenario(seed=7, days=2.0, scale=0.5), out)
    make_hostile(out / "posts.jsonl")
    return out


def make_hostile(path: Path) -> None:
    """Rewrite the scenario's viral story with hostile ids, handles, URLs and reply texts; add malformed lines.

    Only what the detectors do not read changes (ids are opaque, handles and URLs unused), plus the text of
    the root and its direct replies: checked with the backtest to leave the incident's course as it was.
    """
    posts = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    root_id = next(p["id"] for p in posts if p["author"]["id"] == "u-viral-root")
    for post in posts:
        if root_id not in (post["id"], post.get("reshare_of"), post.get("reply_to")):
            continue
        replies = post.get("reply_to") == root_id
        for key in ("id", "reshare_of", "reply_to"):
            if post.get(key) == root_id:
                post[key] = HOSTILE_ROOT_ID
        post["author"]["handle"] = HOSTILE_HANDLE + post["author"]["handle"]
        post["url"] = HOSTILE_URL
        if replies or post["id"] == HOSTILE_ROOT_ID:
            post["text"] += HOSTILE_SUFFIX
    lines = [orjson.dumps(p) for p in posts]
    bad = [raw for raw, _ in malformed_examples(include_too_large=False) if raw and b"\n" not in raw]
    for i, raw in enumerate(bad):  # spread over the first tenth of the file, read long before the incident ends
        lines.insert((i + 1) * len(lines) // (10 * (len(bad) + 1)), raw)
    path.write_bytes(b"\n".join(lines) + b"\n")


def recount(path: Path) -> tuple[Counter, int]:
    """(brand, platform) counts the counts table must hold for the file, and how many lines are malformed."""
    config = load_config(REPO / "crisiswatch.yaml")
    ingestor = Ingestor(BrandMatcher(config.brands), config.brand_names)
    result = ingestor.process(path.read_bytes().splitlines(), now=time.time())
    counts: Counter = Counter()
    for bp in result.forwarded:
        counts[(bp.brand, platform_label(bp.post.platform))] += 1
        counts[(bp.brand, "total")] += 1
    return counts, len(result.dead_letters)


@pytest.fixture
def receivers():
    with FakeSlack() as slack, FakePagerDuty() as pager, FakeWebhook() as hook:
        yield slack, pager, hook


def _env(slack: FakeSlack, pager: FakePagerDuty, hook: FakeWebhook) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url,
            "PAGERDUTY_ROUTING_KEY": pager.routing_key, "PAGERDUTY_EVENTS_URL": pager.events_url,
            "CRISISWATCH_WEBHOOK_URL": f"{hook.url}/{WEBHOOK_SECRET}"}


def _secrets(slack: FakeSlack, pager: FakePagerDuty) -> list[str]:
    return [slack.token, pager.routing_key, WEBHOOK_SECRET]


def _replay(config: Path, path: Path) -> None:
    subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(path), "--config", str(config), "--quiet"],
                   cwd=REPO, check=True, capture_output=True)


def _resolved(pager: FakePagerDuty, brand: str) -> bool:
    return any(k.startswith(brand) and p["status"] == "resolved" for k, p in pager.pages.items())


def _messages_of(slack: FakeSlack, incident_ids: Iterable[str]) -> list[dict]:
    """Slack's top-level messages that show one of ``incident_ids``."""
    ids = list(incident_ids)
    return [m for m in slack.all_messages() if any(i in json.dumps(m.get("blocks", [])) for i in ids)]


def _shows_resolved(message: dict) -> bool:
    return "RESOLVED" in json.dumps(message["blocks"]).upper()


def _wait_for_slack_resolved(slack: FakeSlack, pager: FakePagerDuty) -> None:
    """Slack gets the resolve in parallel with PagerDuty, behind its 1-per-second channel limiter: wait for it."""
    def shows_resolved() -> bool:
        try:  # the fake server's thread may be adding a message right now
            mine = _messages_of(slack, [k for k in pager.pages if k.startswith("skyway-")])
        except RuntimeError:
            return False
        return bool(mine) and all(_shows_resolved(m) for m in mine)

    wait_for(shows_resolved, 60, "Slack's messages of the incident to show it resolved")
    time.sleep(1)  # a thread reply may follow the edit


def _check_one_alert_per_crisis(slack: FakeSlack, pager: FakePagerDuty) -> str:
    skyway_pages = {k: p for k, p in pager.pages.items() if k.startswith("skyway-")}
    assert len(skyway_pages) == 1, f"one page for the viral complaint, got {list(pager.pages)}"
    [(incident_id, page)] = skyway_pages.items()
    actions = [e["event_action"] for e in page["events"]]
    assert actions[0] == "trigger" and actions[-1] == "resolve" and actions.count("resolve") == 1
    assert not [k for k in pager.pages if k.startswith("brewbox-")], "the benign launch paged someone"

    posts = [r.body for r in slack.calls("chat.postMessage") if not r.body.get("thread_ts")
             and incident_id in json.dumps(r.body.get("blocks", []))]
    channels = [p["channel"] for p in posts]
    assert posts and len(channels) == len(set(channels)), f"one message per channel, got {channels}"
    for message in _messages_of(slack, [incident_id]):
        assert message["edits"], "later updates edit the original message"
        assert message["replies"], "and add a thread of updates"
        assert _shows_resolved(message)
    return incident_id


def _check_plain_text(slack: FakeSlack, pager: FakePagerDuty, incident_id: str) -> None:
    """The hostile story shows as plain text in every Slack request and every PagerDuty event."""
    public = [HOSTILE_SUFFIX.strip(), HOSTILE_HANDLE, HOSTILE_ROOT_ID, HOSTILE_URL]
    checked = check_slack(slack.requests, public)
    assert checked.get("chat.update") and checked.get("files.completeUploadExternal"), checked
    quoted = json.dumps([r.body.get("blocks") for r in slack.calls("chat.update")], ensure_ascii=False)
    assert "&lt;!here&gt;*boss*`x`\u200b&lt;@U999&gt;" in quoted, "the hostile handle is quoted, as text"
    assert "`tw-ˋ*root*ˋ&lt;!channel&gt;&amp;amp;`" in quoted, "the story id sits in a code span it cannot close"
    triggers = [e for e in pager.pages[incident_id]["events"] if e["event_action"] == "trigger"]
    handles = []
    for event in triggers:
        payload = event["payload"]
        assert not any(p in payload["summary"] for p in ("<", "*", "`", HOSTILE_HANDLE))
        handles += [p["author_handle"] for p in payload["custom_details"]["top_posts"]]
        assert payload["custom_details"]["story_id"] == HOSTILE_ROOT_ID
        assert "links" not in event, "no link is made of a post's URL"
    # (a post that fell out of the quote cache is quoted by its story's text, without a handle)
    # (a post that joined the story by similar text is not one make_hostile rewrote: its handle is plain)
    assert any(h.startswith(HOSTILE_HANDLE) for h in handles), "the hostile handle is quoted"
    assert not any("&lt;" in h or "&amp;" in h for h in handles), "posts go verbatim, as data (not escaped)"


def _check_no_secret_anywhere(worker: WorkerProcess, bootstrap: str, name: str, secrets: list[str]) -> int:
    """No token in the worker's output, its /metrics, or any record the worker wrote (but posts.by_brand)."""
    places = {"log": worker.log_path.read_bytes(), "metrics": worker.metrics().encode()}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    topics = sorted(t for t in admin.list_topics() if t.startswith(name) and not t.endswith((".posts",
                                                                                              ".by_brand")))
    admin.close()
    assert {f"{name}.posts.dlq", f"{name}.incidents", f"{name}-alert_cursors-changelog",
            f"{name}-slack_messages-changelog"} <= set(topics)
    records = _read_to_end(bootstrap, topics)
    assert {r.topic for r in records} >= {f"{name}.posts.dlq", f"{name}.incidents"}
    for record in records:
        value = record.value or b""
        if record.topic.endswith("-brand_monitors-changelog") and value:  # compressed: look inside
            value = orjson.dumps(unpack_state(orjson.loads(value)))
        data = b"".join([record.key or b"", value, *(v for _, v in record.headers or [])])
        for secret in secrets:
            assert secret.encode() not in data, f"a secret in {record.topic}"
    for where, data in places.items():
        for secret in secrets:
            assert secret.encode() not in data, f"a secret in the {where}"
    return len(records)


def _read_to_end(bootstrap: str, topics: list[str]) -> list:
    """Every record of ``topics`` up to their end offsets now (no waiting for silence)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
    partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    ends = {tp: end for tp, end in consumer.end_offsets(partitions).items() if end}
    records: list = []
    while any(consumer.position(tp) < end for tp, end in ends.items()):
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
    consumer.close()
    return records


def _outbox(bootstrap: str, name: str) -> list[dict]:
    return [orjson.loads(r.value) for r in _read_to_end(bootstrap, [f"{name}.incidents"])]


def _retried(worker: WorkerProcess, kind: str) -> float:
    return metric_samples(worker.metrics(), "crisiswatch_alerts_retried_total").get((("notifier", kind),), 0.0)


def test_the_viral_complaint_is_one_slack_message_and_one_page_and_resolves(scenario, kafka, tmp_path, workers,
                                                                             receivers):
    slack, pager, hook = receivers
    # The receivers are down for the first 10 s of alerting: 5xx and 429 with Retry-After.
    outage = [Failure(503), Failure(429, headers={"Retry-After": "1"}), Failure(500),
              Failure(429, headers={"Retry-After": "2"})]
    slack.outage(for_seconds(10), outage)
    pager.outage(for_seconds(10), outage)
    name = unique_name("e2e")
    config = write_config(tmp_path / "crisiswatch.yaml", kafka, app_id=name, topic_prefix=f"{name}.")
    worker = WorkerProcess(config, tmp_path, env_extra=_env(slack, pager, hook)).start()
    workers.append(worker)
    worker.wait_ready()
    _replay(config, scenario / "posts.jsonl")
    wait_for(lambda: _resolved(pager, "skyway"), 240, "the viral complaint paged and then resolved",
             state=lambda: {k: p["status"] for k, p in pager.pages.items()})
    _wait_for_slack_resolved(slack, pager)
    incident_id = _check_one_alert_per_crisis(slack, pager)
    assert slack.files, "the chart was uploaded"
    _check_plain_text(slack, pager, incident_id)

    # The outage: then every outbox event of the resolved incident delivered once and in order (the webhook,
    # never down, sees them in the order the deliverer released them), every failed attempt retried and counted.
    def delivered(fake_events: list[dict]) -> list[int]:
        return [e["sequence"] for e in fake_events if e["incident_id"] == incident_id]

    wait_for(lambda: delivered(hook.events) == delivered(_outbox(kafka, name)), 30,
             "the webhook to get every event of the incident once, in order",
             state=lambda: f"{delivered(hook.events)} vs {delivered(_outbox(kafka, name))}")
    sequences = delivered(_outbox(kafka, name))
    assert sequences == list(range(1, len(sequences) + 1)) and len(sequences) >= 5
    paged = [e["payload"]["custom_details"]["sequence"] for e in pager.pages[incident_id]["events"] if "payload" in e]
    assert paged == sorted(paged) and len(paged) == len(set(paged))
    failed = {kind: sum(1 for r in fake.requests if r.status >= 400) for kind, fake in (("slack", slack),
                                                                                          ("pagerduty", pager))}
    assert failed["slack"] >= 3 and failed["pagerduty"] >= 3, failed
    assert {kind: _retried(worker, kind) for kind in failed} == failed

    # The malformed lines (in the first tenth of the file) are in the DLQ.
    expected_dead = recount(scenario / "posts.jsonl")[1]
    assert len(read_topic(kafka, f"{name}.posts.dlq", idle_ms=1000)) == expected_dead >= 20

    records = _check_no_secret_anywhere(worker, kafka, name, _secrets(slack, pager))
    print(f"e2e: {expected_dead} dead letters, {len(sequences)} events of the incident delivered in order after "
          f"{failed} failed attempts (all retried); {records} records searched for secrets")


def _committed(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """(sum of the group's committed offsets, sum of end offsets) over the partitions of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    committed = sum(consumer.committed(tp) or 0 for tp in partitions)
    end = sum(consumer.end_offsets(partitions).values())
    consumer.close()
    return committed, end


def _restart_state(pager: FakePagerDuty, worker: WorkerProcess) -> str:
    """What a timed-out wait for the resolve reports: the pages, how far the worker got, its last log lines."""
    try:
        text = worker.metrics()
    except OSError as exc:  # the worker is gone: its log says why
        text = f"# no metrics: {exc}"
    seen = {name: metric_total(text, name, brand="skyway") for name in
            ("crisiswatch_posts_total", "crisiswatch_buckets_closed_total", "crisiswatch_incidents_open")}
    return f"{ {k: p['status'] for k, p in pager.pages.items()} }; skyway {seen}; log:\n{worker.log_tail(30)}"


def test_a_worker_killed_mid_incident_posts_and_pages_nothing_twice(scenario, kafka, tmp_path, workers, receivers):
    slack, pager, hook = receivers
    name = unique_name("kill")
    config = write_config(tmp_path / "crisiswatch.yaml", kafka, app_id=name, topic_prefix=f"{name}.")
    first = WorkerProcess(config, tmp_path, env_extra=_env(slack, pager, hook)).start()
    workers.append(first)
    first.wait_ready()
    _replay(config, scenario / "posts.jsonl")
    wait_for(lambda: any(k.startswith("skyway-") for k in pager.pages), 240, "the viral complaint paged")
    # What the worker had taken in just before the kill: an upper bound of what it processed, give or take
    # the batch under way (one more ingest batch of slack).
    processed = sum(metric_samples(first.metrics(), "crisiswatch_posts_total").values()) + INGEST_BATCH
    first.stop(signal.SIGKILL)
    committed_posts, _ = _committed(kafka, name, f"{name}.posts")
    committed_by_brand, written_by_brand = _committed(kafka, name, f"{name}.posts.by_brand")

    second = WorkerProcess(config, tmp_path, env_extra=_env(slack, pager, hook)).start()
    workers.append(second)
    second.wait_ready()
    wait_for(lambda: _resolved(pager, "skyway"), 240, "the restarted worker to resolve the incident",
             state=lambda: _restart_state(pager, second))
    _wait_for_slack_resolved(slack, pager)
    incident_id = _check_one_alert_per_crisis(slack, pager)
    _check_plain_text(slack, pager, incident_id)
    # One page (one dedup_key, checked above). The event in flight at the kill may reach PagerDuty a second
    # time (its delivery cursor was not yet committed): PagerDuty folds it into the same incident by
    # dedup_key, which is what the at-least-once design relies on. At most that one event repeats.
    triggers = [json.dumps(e, sort_keys=True) for p in pager.pages.values() for e in p["events"]
                if e["event_action"] == "trigger"]
    assert len(triggers) - len(set(triggers)) <= 1, "more than the in-flight event was sent twice"

    # No post lost: the counts restored from the changelog and carried on hold at least a recount of the file.
    # Posts the first worker processed after its last commit count twice (at least once); bounded by the
    # uncommitted windows at the kill: posts read but not committed (each in at most two brands) and
    # posts.by_brand records written but not committed.
    expected, _ = recount(scenario / "posts.jsonl")
    changelog = f"{name}-brand_minute_counts-changelog"
    wait_for(lambda: not (expected - table_totals(kafka, changelog)), 120, "every post counted after the restart",
             state=lambda: f"missing {sum((expected - table_totals(kafka, changelog)).values())}")
    time.sleep(2)
    table = table_totals(kafka, changelog)
    assert not expected - table, "posts lost"
    duplicates = sum(v for (_, platform), v in (table - expected).items() if platform == "total")
    bound = 2 * max(0, processed - committed_posts) + (written_by_brand - committed_by_brand)
    print(f"kill: {sum(v for (_, p), v in expected.items() if p == 'total')} brand posts, {duplicates} counted "
          f"twice; bound {bound} (uncommitted at the kill: {max(0, processed - committed_posts)} posts read, "
          f"{written_by_brand - committed_by_brand} posts.by_brand records)")
    assert duplicates <= bound, f"{duplicates} duplicates, more than the uncommitted windows allow ({bound})"
    assert not [k for k, v in (table - expected).items() if v and k[1] != "total"
                and (k[0], "total") not in (table - expected)], "duplicates only where a brand's total grew"
