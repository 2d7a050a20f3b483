"""Kafka over SASL_SSL (SCRAM-SHA-512 over TLS) on a real broker: configuration alone connects, bad logins fail fast.

The ``kafka_sasl_ssl`` broker has a CA and certificate made by ``openssl`` for this session and one
SCRAM user with a random password. The worker and ``crisiswatch replay`` are pointed at its SASL_SSL
listener by configuration only (file and environment); nothing in the code under test knows it is a
test broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.localstack import REPO, LocalBroker, ScramLogin, WorkerProcess, free_port, write_config
from tests.conftest import unique_name
from tests.kafka_helpers import (
    counts_page_view,
    expected_counts,
    flat_counts_page,
    make_posts,
    posts_by_brand_platform,
    read_topic,
    wait_for,
)

pytestmark = pytest.mark.kafka

#: A wrong login must end the program well before this (the check itself answers in about a second).
FAIL_FAST_S = 60.0


def _security_env(login: ScramLogin, password: str | None = None) -> dict[str, str]:
    """Every security setting as environment variables, the way a deployment injects them."""
    return {
        "CRISISWATCH_KAFKA_BOOTSTRAP": login.bootstrap,
        "CRISISWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CRISISWATCH_KAFKA_SASL_MECHANISM": login.mechanism,
        "CRISISWATCH_KAFKA_SASL_USERNAME": login.username,
        "CRISISWATCH_KAFKA_SASL_PASSWORD": login.password if password is None else password,
        "CRISISWATCH_KAFKA_SSL_CAFILE": str(login.ca_file),
    }


def _file_config(path: Path, login: ScramLogin, name: str, **overrides: str) -> Path:
    """A config file with the security settings in its ``kafka`` section (the password stays out of it)."""
    kafka = {"security_protocol": "SASL_SSL", "sasl_mechanism": login.mechanism, "sasl_username": login.username,
             "ssl_cafile": str(login.ca_file), **overrides}
    return write_config(path, login.bootstrap, app_id=name, topic_prefix=f"{name}.", extra={"kafka": kafka})


def _cli(args: list[str], env: dict[str, str], timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    began = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, timeout=timeout)
    return result, time.monotonic() - began


def test_worker_and_replay_count_every_post_over_sasl_ssl(kafka_sasl_ssl: LocalBroker, tmp_path, workers):
    login = kafka_sasl_ssl.login
    name = unique_name("sec")
    posts = make_posts(2000, seed=71)
    expected = expected_counts(posts)
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_bytes(b"\n".join(p.raw for p in posts) + b"\n")

    # The worker gets every security setting from the environment; its file names only the SASL port.
    plain_config = write_config(tmp_path / "worker.yaml", login.bootstrap, app_id=name, topic_prefix=f"{name}.")
    worker = WorkerProcess(plain_config, tmp_path, env_extra=_security_env(login)).start()
    workers.append(worker)
    worker.wait_ready()

    # replay reads them from its config file, and only the password from the environment.
    file_config = _file_config(tmp_path / "replay.yaml", login, name)
    assert login.password not in file_config.read_text()
    result, seconds = _cli(["replay", str(jsonl), "--config", str(file_config), "--quiet"],
                           {"CRISISWATCH_KAFKA_SASL_PASSWORD": login.password}, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"sent {len(posts):,} records to {name}.posts" in result.stdout
    print(f"replay over SASL_SSL: {len(posts)} posts in {seconds:.1f} s")

    wait_for(lambda: posts_by_brand_platform([worker.metrics()]) == expected, 90,
             "every post counted by the worker over SASL_SSL",
             state=lambda: posts_by_brand_platform([worker.metrics()]))
    wait_for(lambda: flat_counts_page(worker.counts()) == counts_page_view(expected), 30,
             "the /counts/ page to show every post", state=worker.counts)

    # The records really went through the broker (read back on its PLAINTEXT listener) ...
    assert len(read_topic(kafka_sasl_ssl.bootstrap, f"{name}.posts")) == len(posts)
    # ... and the worker's clients logged in with SCRAM over TLS (aiokafka logs each login).
    log = worker.log_path.read_text(errors="replace")
    assert log.count(f"Authenticated as {login.username} via {login.mechanism}") >= 2, worker.log_tail()
    for output in (log, result.stdout, result.stderr):
        assert login.password not in output


@pytest.mark.parametrize(("case", "expected"), [
    ("wrong password", "authentication failed"),
    ("unknown user", "authentication failed"),
    ("untrusted CA", "TLS certificate"),
])
def test_worker_with_a_bad_login_exits_at_once_with_one_clear_line(kafka_sasl_ssl: LocalBroker, tmp_path,
                                                                  case, expected):
    login = kafka_sasl_ssl.login
    env = _security_env(login, password="not-" + login.password)
    if case == "unknown user":
        env.update(CRISISWATCH_KAFKA_SASL_USERNAME="mallory", CRISISWATCH_KAFKA_SASL_PASSWORD=login.password)
    elif case == "untrusted CA":
        env.update(CRISISWATCH_KAFKA_SASL_PASSWORD=login.password,
                   CRISISWATCH_KAFKA_SSL_CAFILE=str(_other_ca(tmp_path)))
    config = write_config(tmp_path / "worker.yaml", login.bootstrap, app_id=unique_name("bad"), topic_prefix="bad.")
    env.update(CRISISWATCH_METRICS_PORT=str(free_port()), CRISISWATCH_WEB_PORT=str(free_port()),
               CRISISWATCH_DATA_DIR=str(tmp_path / "data"))
    try:
        result, seconds = _cli(["worker", "--config", str(config)], env, timeout=FAIL_FAST_S)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"worker ({case}) still running after {FAIL_FAST_S} s:\n{exc.stderr}") from None
    print(f"worker ({case}): exit {result.returncode} after {seconds:.1f} s")
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "Worker ready" not in result.stderr + result.stdout
    for secret in (login.password, "not-" + login.password):
        assert secret not in result.stderr + result.stdout


def test_replay_with_a_wrong_password_exits_at_once_with_one_clear_line(kafka_sasl_ssl: LocalBroker, tmp_path):
    login = kafka_sasl_ssl.login
    posts = tmp_path / "posts.jsonl"
    posts.write_bytes(make_posts(10, seed=72)[0].raw + b"\n")
    config = _file_config(tmp_path / "replay.yaml", login, unique_name("bad"))
    wrong = login.password[::-1] + "x"
    try:
        result, seconds = _cli(["replay", str(posts), "--config", str(config), "--quiet"],
                               {"CRISISWATCH_KAFKA_SASL_PASSWORD": wrong}, timeout=FAIL_FAST_S)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"replay with a wrong password still running after {FAIL_FAST_S} s:\n{exc.stderr}") \
            from None
    print(f"replay with a wrong password: exit {result.returncode} after {seconds:.1f} s")
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr[-3000:]
    assert result.stderr.startswith("error: Kafka authentication failed at ") and login.username in result.stderr
    assert "sent " not in result.stdout
    assert wrong not in result.stderr + result.stdout


def _other_ca(tmp_path: Path) -> Path:
    """A CA that did not sign the broker's certificate."""
    from streams.commands.broker import load_broker_module

    return load_broker_module().make_tls_files(tmp_path / "other-ca").ca_cert


@pytest.mark.parametrize("case", ["SASL_SSL settings, PLAINTEXT port", "PLAINTEXT settings, SASL_SSL port"])
def test_a_worker_pointed_at_a_listener_of_another_protocol_says_so_and_exits(kafka_sasl_ssl: LocalBroker,
                                                                            tmp_path, case):
    login = kafka_sasl_ssl.login
    if case.startswith("SASL_SSL"):
        env = {**_security_env(login), "CRISISWATCH_KAFKA_BOOTSTRAP": kafka_sasl_ssl.bootstrap}
    else:
        env = {"CRISISWATCH_KAFKA_BOOTSTRAP": login.bootstrap}
    config = write_config(tmp_path / "worker.yaml", "unused:9092", app_id=unique_name("mismatch"), topic_prefix="mm.")
    env.update(CRISISWATCH_METRICS_PORT=str(free_port()), CRISISWATCH_WEB_PORT=str(free_port()),
               CRISISWATCH_DATA_DIR=str(tmp_path / "data"))
    result, seconds = _cli(["worker", "--config", str(config)], env, timeout=FAIL_FAST_S)
    print(f"worker ({case}): exit {result.returncode} after {seconds:.1f} s")
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "closed it before answering" in errors[0] and "security_protocol" in errors[0], \
        result.stderr[-3000:]  # not the "could not be reached within 30 s" of a silent server (exit 1)
