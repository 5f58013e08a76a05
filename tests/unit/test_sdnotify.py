"""systemd's notify protocol, against a real unix datagram socket (a path and the abstract one)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from triggerd.observability.sdnotify import NOTIFY_ENV, Notifier

pytestmark = pytest.mark.timeout(10)

RECEIVE_TIMEOUT_S = 2.0


class Receiver:
    """A bound AF_UNIX/SOCK_DGRAM socket standing in for systemd."""

    def __init__(self, address: str) -> None:
        self.env_value = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.settimeout(RECEIVE_TIMEOUT_S)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)

    def receive(self) -> bytes:
        return self.sock.recv(4096)

    def nothing_waiting(self) -> bool:
        self.sock.settimeout(0.05)
        try:
            self.sock.recv(4096)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(RECEIVE_TIMEOUT_S)
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    path = tmp_path / "notify.sock"
    assert len(str(path)) < 108, "AF_UNIX paths are limited to 107 bytes"
    r = Receiver(str(path))
    yield r
    r.close()


@pytest.fixture
def abstract_receiver() -> Iterator[Receiver]:
    r = Receiver(f"@triggerd-test-{uuid.uuid4().hex}")
    yield r
    r.close()


def notifier_for(address: str, **env: str) -> Notifier:
    return Notifier.from_env({"NOTIFY_SOCKET": address, **env})


def _frozen_monotonic() -> int:
    return 123_456_789_012


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        (lambda n: n.ready(), b"READY=1"),
        (
            lambda n: n.ready("12 schedules, 3 runs in flight"),
            b"READY=1\nSTATUS=12 schedules, 3 runs in flight",
        ),
        (lambda n: n.status("draining 2 runs"), b"STATUS=draining 2 runs"),
        (lambda n: n.status("two\nlines"), b"STATUS=two lines"),
        (lambda n: n.reloading(), b"RELOADING=1\nMONOTONIC_USEC=123456789"),
        (lambda n: n.stopping(), b"STOPPING=1"),
        (lambda n: n.watchdog(), b"WATCHDOG=1"),
        (lambda n: n.notify("EXTEND_TIMEOUT_USEC=5000000"), b"EXTEND_TIMEOUT_USEC=5000000"),
    ],
    ids=[
        "ready",
        "ready+status",
        "status",
        "status-one-line",
        "reloading",
        "stopping",
        "watchdog",
        "raw",
    ],
)
def test_each_message_is_one_datagram_with_exact_bytes(
    receiver: Receiver, send: Callable[[Notifier], bool], expected: bytes
) -> None:
    notifier = Notifier(receiver.env_value, monotonic_ns=_frozen_monotonic)

    assert send(notifier) is True

    assert receiver.receive() == expected
    assert receiver.nothing_waiting()


def test_abstract_namespace_socket(abstract_receiver: Receiver) -> None:
    notifier = notifier_for(abstract_receiver.env_value)

    assert notifier.ready("up")
    assert notifier.stopping()

    assert abstract_receiver.receive() == b"READY=1\nSTATUS=up"
    assert abstract_receiver.receive() == b"STOPPING=1"


def test_reloading_carries_the_current_monotonic_time_in_microseconds(receiver: Receiver) -> None:
    before = time.monotonic_ns() // 1000
    notifier_for(receiver.env_value).reloading()
    after = time.monotonic_ns() // 1000

    first, second = receiver.receive().split(b"\n")
    assert first == b"RELOADING=1"
    key, _, value = second.partition(b"=")
    assert key == b"MONOTONIC_USEC"
    assert before <= int(value) <= after


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": ""}], ids=["unset", "empty"])
def test_without_notify_socket_every_call_is_a_silent_no_op(environ: dict[str, str]) -> None:
    with capture_logs() as logs:
        notifier = Notifier.from_env(environ)
        sent = [
            notifier.ready("x"),
            notifier.status("x"),
            notifier.reloading(),
            notifier.watchdog(),
            notifier.stopping(),
        ]

    assert not notifier.enabled
    assert sent == [False] * 5
    assert logs == []


def test_the_environment_is_left_as_it_is(receiver: Receiver) -> None:
    environ = {"NOTIFY_SOCKET": receiver.env_value, "WATCHDOG_USEC": "1000000", "OTHER": "1"}
    before = dict(environ)

    notifier = Notifier.from_env(environ)
    notifier.ready()

    assert environ == before
    assert set(NOTIFY_ENV) == {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "500000"}, 0.25),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
        ({"WATCHDOG_PID": str(os.getpid())}, None),
        ({}, None),
    ],
    ids=[
        "usec",
        "usec+own-pid",
        "sub-second",
        "other-pid",
        "bad-pid",
        "zero",
        "negative",
        "not-a-number",
        "pid-only",
        "unset",
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process(
    environ: dict[str, str], expected: float | None
) -> None:
    assert Notifier.from_env(environ).watchdog_interval() == expected


def test_a_missing_socket_never_raises_and_is_logged_once(tmp_path: Path) -> None:
    with capture_logs() as logs:
        notifier = notifier_for(str(tmp_path / "gone.sock"))
        sent = [notifier.ready(), notifier.watchdog(), notifier.stopping()]

    assert sent == [False, False, False]
    assert [e["event"] for e in logs] == ["sdnotify.failed"]
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["socket"] == str(tmp_path / "gone.sock")


def test_a_socket_whose_receiver_went_away_never_raises(tmp_path: Path) -> None:
    dead = Receiver(str(tmp_path / "dead.sock"))
    dead.close()  # the file stays, nobody listens: ECONNREFUSED

    with capture_logs() as logs:
        assert notifier_for(dead.env_value).watchdog() is False

    assert [e["event"] for e in logs] == ["sdnotify.failed"]


def test_an_abstract_socket_nobody_bound_never_raises() -> None:
    with capture_logs() as logs:
        notifier = notifier_for(f"@triggerd-test-{uuid.uuid4().hex}")
        assert notifier.ready() is False

    assert logs[0]["socket"].startswith("@triggerd-test-")


def test_failure_is_logged_again_only_after_a_send_succeeded_in_between(tmp_path: Path) -> None:
    path = str(tmp_path / "flaky.sock")
    with capture_logs() as logs:
        notifier = notifier_for(path)
        notifier.watchdog()
        notifier.watchdog()
        revived = Receiver(path)
        try:
            assert notifier.watchdog() is True
            assert revived.receive() == b"WATCHDOG=1"
        finally:
            revived.close()
        notifier.watchdog()
        notifier.watchdog()

    assert [e["event"] for e in logs] == ["sdnotify.failed", "sdnotify.failed"]
