"""Check, before anything else starts, that Kafka can be reached and accepts our credentials.

Neither client library gives up on bad credentials: kafka-python retries its
bootstrap until ``bootstrap_timeout_ms`` and then reports only "Unable to
bootstrap", and aiokafka under Faust reconnects for as long as the worker runs.
A worker started with a wrong password would therefore look alive while doing
nothing. So the worker and ``replay`` first open one connection per bootstrap
server with exactly the configured settings (TLS, SASL) and classify what goes
wrong: an authentication or certificate failure is final and ends the program
at once with one line that says which; a server that does not answer yet is
retried until the deadline, because brokers and workers are often started
together.

Messages never contain the password: they are built from the user name, the
mechanism and the broker's own error text, and anything that still contains the
password is masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

from aiokafka import errors as aerrors
from aiokafka.conn import create_conn

from streams.config import KafkaSettings

CHECK_TIMEOUT_S = 30.0
#: One connection attempt: TCP, TLS handshake, ApiVersions and the SASL exchange.
ATTEMPT_TIMEOUT_S = 10.0
RETRY_INTERVAL_S = 1.0
#: Times in a row a server may accept the TCP connection and close it before answering. That is
#: what a listener of another security protocol does (a TLS hello on a PLAINTEXT port is reset at
#: once, a Kafka request on a TLS port is closed), while a broker still starting refuses the
#: connection instead; so after this many it is a configuration error, not a wait.
MAX_CLOSED_EARLY = 4

_AUTH_ERRORS = (aerrors.SaslAuthenticationFailed, aerrors.AuthenticationFailedError,
                aerrors.AuthenticationMethodNotSupported, aerrors.UnsupportedSaslMechanismError,
                aerrors.IllegalSaslStateError)


class KafkaCheckError(RuntimeError):
    """Kafka refused us or could not be reached; the message is one line, fit for stderr, without secrets."""

    def __init__(self, message: str, *, final: bool, closed_early: bool = False) -> None:
        super().__init__(message)
        #: ``True`` when retrying cannot help (credentials, certificates, protocol mismatch).
        self.final = final
        #: the server accepted the connection and closed it without a word (see MAX_CLOSED_EARLY)
        self.closed_early = closed_early


def check_kafka(kafka: KafkaSettings, timeout: float = CHECK_TIMEOUT_S) -> None:
    """Connect and authenticate to a bootstrap server of ``kafka``; raise :class:`KafkaCheckError` if none lets us.

    Runs on a private event loop (not installed as the thread's current loop), so that
    Faust, which takes the current loop when it starts, is not handed a closed one.
    """
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_check(kafka, timeout))
    finally:
        loop.close()


async def _check(kafka: KafkaSettings, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    servers = [s.strip() for s in kafka.bootstrap_servers.split(",") if s.strip()]
    last: KafkaCheckError | None = None
    closed_early = dict.fromkeys(servers, 0)
    while True:
        for server in servers:
            try:
                await _connect_once(kafka, server, min(ATTEMPT_TIMEOUT_S, max(deadline - time.monotonic(), 1.0)))
                return
            except KafkaCheckError as exc:
                if exc.final:
                    raise
                closed_early[server] = closed_early[server] + 1 if exc.closed_early else 0
                if closed_early[server] >= MAX_CLOSED_EARLY:
                    raise KafkaCheckError(
                        f"Kafka at {server} accepted the connection and closed it before answering, "
                        f"{MAX_CLOSED_EARLY} times in a row: is it a {kafka.security_protocol} listener? "
                        f"check security_protocol and the port", final=True) from None
                last = exc
        if time.monotonic() + RETRY_INTERVAL_S >= deadline:
            break
        await asyncio.sleep(RETRY_INTERVAL_S)
    raise KafkaCheckError(f"Kafka at {kafka.bootstrap_servers} could not be reached within {timeout:.0f} s "
                          f"(last: {last}); check bootstrap_servers and security_protocol "
                          f"({kafka.security_protocol})", final=False)


async def _connect_once(kafka: KafkaSettings, server: str, timeout: float) -> None:
    host, colon, port = server.rpartition(":")
    if not colon or not port.isdigit():  # no port given: Kafka's default
        host, port = server, "9092"
    host = host.strip("[]")
    kwargs = kafka.aiokafka_kwargs()
    del kwargs["bootstrap_servers"]
    conn = None
    try:
        conn = await asyncio.wait_for(create_conn(host, int(port), client_id="crisiswatch-check",
                                                  request_timeout_ms=int(timeout * 1000), **kwargs), timeout)
    except aerrors.UnsupportedSaslMechanismError:
        raise KafkaCheckError(f"Kafka authentication failed at {server}: the listener does not offer SASL "
                              f"mechanism {kafka.sasl_mechanism or 'PLAIN'}; check sasl_mechanism",
                              final=True) from None
    except _AUTH_ERRORS as exc:
        who = f"user {kafka.sasl_username!r} with {kafka.sasl_mechanism or 'PLAIN'}"
        raise KafkaCheckError(_mask(f"Kafka authentication failed at {server} as {who}: {_text(exc)}; "
                                    "check the SASL username and password", kafka), final=True) from None
    except ssl.SSLCertVerificationError as exc:
        raise KafkaCheckError(_mask(f"TLS certificate of Kafka at {server} was not accepted: "
                                    f"{exc.verify_message or exc.reason}; check ssl_cafile "
                                    f"({kafka.ssl_cafile or 'system CAs'}) and the host name", kafka),
                              final=True) from None
    except ssl.SSLError as exc:
        raise KafkaCheckError(_mask(f"TLS handshake with Kafka at {server} failed ({exc.reason or exc}); is it "
                                    f"a {kafka.security_protocol} listener?", kafka), final=True) from None
    except (ConnectionResetError, BrokenPipeError, aerrors.KafkaConnectionError) as exc:
        # Accepted, then closed without an answer: a listener of another protocol, or a broker going down.
        raise KafkaCheckError(_mask(f"{server}: {_text(exc)}", kafka), final=False, closed_early=True) from None
    except (TimeoutError, OSError, aerrors.KafkaError) as exc:
        # Not answering, refused, or a connection cut during the exchange: possibly not ready yet.
        raise KafkaCheckError(_mask(f"{server}: {_text(exc)}", kafka), final=False) from None
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _text(exc: BaseException) -> str:
    """An exception as one short line: its own message, else its class name."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _mask(message: str, kafka: KafkaSettings) -> str:
    if kafka.sasl_password:
        message = message.replace(kafka.sasl_password, "***")
    return message
