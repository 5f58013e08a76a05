"""The dispatcher's table (docs/architecture.md, "Submitters and retries"): what each outcome
or error of a submission does to the run, with a fake queue and fake submitters at its seams
and an injected clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from triggerd.config.pipelines import RetryPolicy
from triggerd.engine.dispatcher import MOST_AHEAD, Dispatcher
from triggerd.engine.finisher import Ended, Finisher
from triggerd.engine.resolver import Dispatch, Unresolvable
from triggerd.errors import PermanentSubmitError, SubmitInterrupted, TransientSubmitError
from triggerd.runs import RunRecord, RunStatus, TriggerKind
from triggerd.submitters import RunOutcome, RunRequest

NOW = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # the night Berlin falls back
THREE_ATTEMPTS = RetryPolicy(max_attempts=3)
BUSY = "skipped: 1 run(s) of this schedule still running (overlap: skip, max_concurrent_runs: 1)"


def run_record(run_id: int = 1, schedule: str = "nightly", attempts: int = 1) -> RunRecord:
    return RunRecord(
        id=run_id, schedule=schedule, trigger=TriggerKind.TIME, fire_key=f"{schedule}:{run_id}",
        scheduled_for=NOW, status=RunStatus.RUNNING, reason=None, parameters={}, data_path=None,
        attempts=attempts, created_at=NOW, started_at=NOW, finished_at=None,
        next_attempt_at=None, claimed_by="me", claim_expires_at=None, external_id=None,
        exit_code=None, error=None, output=None,
    )  # fmt: skip


@dataclass
class FakeQueue:
    """The run outbox as the dispatcher sees it, in memory: what it was told, in order."""

    runs: list[RunRecord]
    keep_claims: bool = True  # False: every claim was taken over meanwhile (finish says so)
    running: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, list[str]] = field(default_factory=dict)
    told: list[tuple[Any, ...]] = field(default_factory=list)
    outcomes: list[RunOutcome] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def claim(self, owner: str, now: datetime, *, blocked: Any) -> RunRecord | None:
        for run in self.runs:
            if run.schedule not in blocked:
                self.runs.remove(run)
                return run
        return None

    def claim_many(
        self, owner: str, now: datetime, *, limit: int, blocked: Any, caps: Any
    ) -> list[RunRecord]:
        claimed: list[RunRecord] = []
        room = dict(caps)
        for run in list(self.runs):
            if len(claimed) == limit or run.schedule in blocked:
                continue
            if run.schedule in room:
                if room[run.schedule] < 1:
                    continue
                room[run.schedule] -= 1
            self.runs.remove(run)
            claimed.append(run)
        return claimed

    def running_counts(self) -> dict[str, int]:
        return dict(self.running)

    def skip_waiting(self, schedule: str, *, reason: str, now: datetime) -> list[str]:
        self.told.append(("skip", schedule, reason))
        return self.waiting.pop(schedule, [])

    def finish(self, run: RunRecord, outcome: RunOutcome, *, now: datetime, owner: str) -> bool:
        self.told.append(("finish", run.id, outcome.status, outcome.error))
        self.outcomes.append(outcome)
        self.done.set()
        return self.keep_claims

    def finish_many(self, done: Any, *, now: datetime, owner: str) -> list[bool]:
        return [self.finish(run, outcome, now=now, owner=owner) for run, outcome in done]

    def hand_back(self, run_id: int, *, error: str) -> None:
        self.told.append(("hand back", run_id, error))
        self.done.set()

    def retry_at(self, run_id: int, *, at: datetime, error: str) -> None:
        self.told.append(("retry", run_id, at, error))
        self.done.set()

    def add_note(self, run_id: int, note: str) -> None:
        self.told.append(("note", run_id, note))

    def record_process(self, run_id: int, process: dict[str, Any], *, owner: str) -> None:
        self.told.append(("process", run_id))

    def store_id(self) -> str:
        return "db-1"


class Submitting:
    """A submitter that does what it is told: return an outcome, or raise."""

    def __init__(self, does: RunOutcome | Exception | Callable[[], RunOutcome]) -> None:
        self.does = does
        self.requests: list[RunRequest] = []

    def submit(self, request: RunRequest, cancel: threading.Event) -> RunOutcome:
        self.requests.append(request)
        if isinstance(self.does, Exception):
            raise self.does
        return self.does() if callable(self.does) else self.does


def dispatch_one(
    does: RunOutcome | Exception,
    *,
    queue: FakeQueue | None = None,
    retry: RetryPolicy = THREE_ATTEMPTS,
    resolve: Callable[[RunRecord], Dispatch] | None = None,
    follow: timedelta | None = None,
) -> tuple[FakeQueue, list[dict[str, Any]]]:
    queue = queue or FakeQueue([run_record()])
    submitter = Submitting(does)

    def resolved(run: RunRecord) -> Dispatch:
        request = RunRequest(run.id, run.schedule, run.fire_key, run.trigger, NOW, {})
        return Dispatch(request, submitter, retry, follow)

    dispatcher = Dispatcher(
        queue, resolve or resolved, owner="me", concurrency=1, clock=lambda: NOW
    )
    with capture_logs() as logs:
        dispatcher.start()
        try:
            assert queue.done.wait(10), "the dispatcher did not finish the run"
        finally:
            dispatcher.stop(timedelta(seconds=5))
    return queue, logs


def events(logs: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in logs if e["event"].startswith("run.")]


@pytest.mark.parametrize(
    ("does", "told", "event"),
    [
        (RunOutcome("succeeded", exit_code=0), ("finish", 1, "succeeded", None), "run.succeeded"),
        (RunOutcome("submitted", external_id="x"),
         ("finish", 1, "submitted", None), "run.submitted"),
        (RunOutcome("failed", exit_code=3, error="exited with status 3"),
         ("finish", 1, "failed", "exited with status 3"), "run.failed"),
        (PermanentSubmitError("HTTP 400: bad"),
         ("finish", 1, "failed", "HTTP 400: bad"), "run.failed"),
        (SubmitInterrupted("interrupted: daemon shutting down"),
         ("hand back", 1, "interrupted: daemon shutting down"), "run.handed_back"),
        (RuntimeError("boom"), ("finish", 1, "failed", "internal error: RuntimeError('boom')"),
         "run.failed"),
    ],
)  # fmt: skip
def test_each_outcome_and_error_becomes_its_state(
    does: RunOutcome | Exception, told: tuple[Any, ...], event: str
) -> None:
    queue, logs = dispatch_one(does)
    assert queue.told == [told]
    assert events(logs)[0] == "run.started" and events(logs)[-1] == event


def test_a_transient_error_retries_with_backoff_then_fails_when_attempts_run_out() -> None:
    queue, logs = dispatch_one(TransientSubmitError("HTTP 503: busy"))
    [(what, run_id, at, error)] = queue.told
    assert (what, run_id, error) == ("retry", 1, "HTTP 503: busy")
    assert NOW + timedelta(seconds=1) <= at <= NOW + timedelta(seconds=2)  # 2 s, equal jitter
    assert "run.retry_scheduled" in events(logs)

    last = FakeQueue([run_record(attempts=3)])
    queue, _ = dispatch_one(TransientSubmitError("HTTP 503: busy"), queue=last)
    assert queue.told == [
        ("finish", 1, "failed", "retries exhausted after 3 attempts: HTTP 503: busy")
    ]


def test_retry_after_is_honoured() -> None:
    queue, _ = dispatch_one(TransientSubmitError("HTTP 429", retry_after=timedelta(minutes=2)))
    [(_, _, at, _)] = queue.told
    assert at == NOW + timedelta(minutes=2)


def test_a_run_that_cannot_be_resolved_fails_with_the_reason_and_never_submits() -> None:
    def unresolvable(run: RunRecord) -> Dispatch:
        raise Unresolvable("pipeline 'gone' is no longer in the configuration")

    queue, logs = dispatch_one(RunOutcome("succeeded"), resolve=unresolvable)
    assert queue.told == [
        ("finish", 1, "failed", "pipeline 'gone' is no longer in the configuration")
    ]
    assert "run.started" not in events(logs)


def test_a_result_recorded_after_the_claim_was_taken_over_is_dropped() -> None:
    _, logs = dispatch_one(RunOutcome("succeeded"), queue=FakeQueue([run_record()], False))
    assert events(logs)[-1] == "run.claim_lost"
    assert "run.succeeded" not in events(logs)


def test_a_skip_schedule_at_its_limit_has_its_waiting_fires_skipped_and_is_not_claimed() -> None:
    queue = FakeQueue(
        [run_record(1, "busy"), run_record(2, "free")],
        running={"busy": 1},
        waiting={"busy": ["busy:1"]},
    )
    dispatcher = Dispatcher(
        queue,
        lambda run: Dispatch(
            RunRequest(run.id, run.schedule, run.fire_key, run.trigger, NOW, {}),
            Submitting(RunOutcome("succeeded")),
        ),
        owner="me",
        concurrency=1,
        clock=lambda: NOW,
        limits=lambda: {"busy": ("skip", 1)},
    )
    with capture_logs() as logs:
        dispatcher.start()
        try:
            assert queue.done.wait(10)
            time.sleep(0.1)  # (nothing else may happen: the busy run stays unclaimed)
        finally:
            dispatcher.stop(timedelta(seconds=5))
    reason = (
        "skipped: 1 run(s) of this schedule still running (overlap: skip, max_concurrent_runs: 1)"
    )
    assert ("skip", "busy", reason) in queue.told
    assert ("finish", 2, "succeeded", None) in queue.told
    assert [r.id for r in queue.runs] == [1]  # blocked, never claimed
    assert [e["fire_key"] for e in logs if e["event"] == "fire.skipped"] == ["busy:1"]


@pytest.mark.parametrize("status", ["submitted", "succeeded"])
def test_a_submitted_run_of_a_followed_pipeline_is_recorded_to_be_followed(status: str) -> None:
    outcome = RunOutcome(status, external_id="x")  # type: ignore[arg-type]
    queue, _ = dispatch_one(outcome, follow=timedelta(hours=6))
    [recorded] = queue.outcomes
    assert recorded.follow_for == (timedelta(hours=6) if status == "submitted" else None)
    queue, _ = dispatch_one(RunOutcome("submitted", external_id="x"))
    assert queue.outcomes[0].follow_for is None  # follow: false


# -- batches: claims for the free workers (and those ahead), ends recorded together ------------


def dispatcher_for(queue: FakeQueue, submitter: Any, concurrency: int) -> Dispatcher:
    def resolved(run: RunRecord) -> Dispatch:
        request = RunRequest(run.id, run.schedule, run.fire_key, run.trigger, NOW, {})
        return Dispatch(request, submitter, THREE_ATTEMPTS)

    return Dispatcher(queue, resolved, owner="me", concurrency=concurrency, clock=lambda: NOW)


class Recording(FakeQueue):
    """A FakeQueue that notes each claim's limit and each group of ends recorded."""

    def __init__(self, runs: list[RunRecord]) -> None:
        super().__init__(runs)
        self.limits: list[int] = []
        self.groups: list[list[int]] = []
        self.hold = threading.Event()  # the first group of ends waits for this
        self.hold.set()
        self.claimed = threading.Event()  # set when nothing is left to claim

    def claim_many(self, owner: str, now: datetime, **kwargs: Any) -> list[RunRecord]:
        self.limits.append(kwargs["limit"])
        got = super().claim_many(owner, now, **kwargs)
        if not self.runs:
            self.claimed.set()
        return got

    def finish_many(self, done: Any, *, now: datetime, owner: str) -> list[bool]:
        self.hold.wait(10)
        self.groups.append([run.id for run, _ in done])
        return super().finish_many(done, now=now, owner=owner)


def submit_all(dispatcher: Dispatcher, queue: Recording, count: int) -> None:
    """Run ``dispatcher`` until the ends of ``count`` runs are recorded, then stop it."""
    dispatcher.start()
    try:
        assert queue.claimed.wait(10)
        for _ in range(1000):  # (bounded: until every end is recorded)
            if len(queue.outcomes) == count:
                break
            time.sleep(0.01)
    finally:
        dispatcher.stop(timedelta(seconds=5))


def test_runs_are_claimed_in_batches_and_each_is_submitted_once_by_a_worker_of_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("triggerd.engine.dispatcher.QUICK", 60.0)  # always claim ahead
    queue = Recording([run_record(n) for n in range(1, 41)])
    lock, at_once, most, threads = threading.Lock(), [0], [0], set()

    def submit() -> RunOutcome:
        with lock:
            at_once[0] += 1
            most[0] = max(most[0], at_once[0])
            threads.add(threading.current_thread().name)
        time.sleep(0.001)
        with lock:
            at_once[0] -= 1
        return RunOutcome("submitted", external_id="x")

    submitter = Submitting(submit)
    dispatcher = dispatcher_for(queue, submitter, concurrency=3)
    submit_all(dispatcher, queue, 40)
    assert sorted(r.run_id for r in submitter.requests) == list(range(1, 41))  # each once
    assert [t[1] for t in queue.told if t[0] == "finish"] == [n for g in queue.groups for n in g]
    assert len(queue.outcomes) == 40 and dispatcher.in_flight_ids() == []
    assert most[0] <= 3 and len(threads) <= 3  # never more than the workers, always the pool's
    assert queue.limits[0] == 3  # nothing known about the attempts yet: the free workers only
    assert max(queue.limits) <= 3 + MOST_AHEAD  # then up to MOST_AHEAD more, claimed ahead
    assert len(queue.limits) <= 8  # (40 runs: a few claims, none per run)


@pytest.mark.parametrize(
    ("took", "busy", "room"),
    [
        (None, 0, 4),  # nothing known yet: the free workers only
        (0.2, 0, 4),  # slow attempts: nothing ahead
        (0.2, 4, 0),
        (0.02, 0, 24),  # 4 workers x 0.1 s / 20 ms = 20 ahead
        (0.02, 13, 11),  # 11 of the 20 ahead taken: claimed again
        (0.02, 15, 0),  # only 9 taken: the claimed ahead still cover the workers
        (0.001, 0, 4 + 64),  # very quick: at most MOST_AHEAD ahead
        (0.09, 0, 8),  # nearly QUICK: at least concurrency ahead
    ],
)
def test_a_claim_takes_about_quick_seconds_of_work_once_half_of_it_is_taken(
    took: float | None, busy: int, room: int
) -> None:
    dispatcher = dispatcher_for(FakeQueue([]), Submitting(RunOutcome("submitted")), 4)
    dispatcher._took, dispatcher._busy = took, busy
    assert dispatcher._room() == room


def test_runs_are_claimed_about_quick_seconds_of_work_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = Recording([run_record(n) for n in range(1, 61)])

    def submit() -> RunOutcome:
        time.sleep(0.01)  # an attempt of 10 ms or more: QUICK (0.1 s) is 10 of them a worker
        return RunOutcome("submitted", external_id="x")

    dispatcher = dispatcher_for(queue, Submitting(submit), concurrency=2)
    submit_all(dispatcher, queue, 60)
    assert len(queue.outcomes) == 60
    assert queue.limits[0] == 2
    assert max(queue.limits) <= 2 + 2 * 10  # the workers, and at most 0.1 s of their work ahead


def test_a_run_stays_claimed_and_renewed_until_its_end_is_recorded_with_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = Recording([run_record(n) for n in range(1, 5)])
    queue.hold.clear()
    handed_in = threading.Semaphore(0)
    add = Finisher.add

    def adding(self: Finisher, ended: Ended) -> None:
        add(self, ended)
        handed_in.release()

    monkeypatch.setattr(Finisher, "add", adding)
    submitter = Submitting(RunOutcome("submitted", external_id="x"))
    dispatcher = dispatcher_for(queue, submitter, concurrency=4)
    dispatcher.start()
    try:
        for _ in range(4):
            assert handed_in.acquire(timeout=10)
        # Every run is submitted and its end handed in; the first group of ends waits on the
        # database: all four are still this daemon's, their claims renewed.
        assert sorted(dispatcher.in_flight_ids()) == [1, 2, 3, 4]
        queue.hold.set()
        for _ in range(1000):  # (bounded: until every end is recorded)
            if not dispatcher.in_flight_ids():
                break
            time.sleep(0.01)
    finally:
        dispatcher.stop(timedelta(seconds=5))
    assert sorted(n for group in queue.groups for n in group) == [1, 2, 3, 4]
    assert len(queue.groups) <= 2  # those that waited went in one transaction
    assert dispatcher.in_flight_ids() == []


def test_a_run_claimed_ahead_is_handed_back_untouched_at_a_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("triggerd.engine.dispatcher.QUICK", 60.0)
    monkeypatch.setattr("triggerd.engine.dispatcher.MOST_AHEAD", 1)  # one run claimed ahead
    queue = Recording([run_record(n) for n in range(1, 6)])
    ahead = threading.Event()
    claim_many = queue.claim_many

    def claiming(owner: str, now: datetime, **kwargs: Any) -> list[RunRecord]:
        got = claim_many(owner, now, **kwargs)
        if any(run.id == 3 for run in got):
            ahead.set()
        return got

    queue.claim_many = claiming  # type: ignore[method-assign]
    cancelled: list[int] = []
    second = threading.Event()

    class Submitter:
        requests: list[int] = []

        def submit(self, request: RunRequest, cancel: threading.Event) -> RunOutcome:
            self.requests.append(request.run_id)
            if request.run_id == 1:
                return RunOutcome("submitted")
            second.set()
            cancel.wait(10)  # run 2: until the shutdown interrupts it
            cancelled.append(request.run_id)
            raise SubmitInterrupted("interrupted: daemon shutting down")

    submitter = Submitter()
    dispatcher = dispatcher_for(queue, submitter, concurrency=1)
    with capture_logs() as logs:
        dispatcher.start()
        assert ahead.wait(10) and second.wait(10)  # run 2 in the worker, 3 claimed ahead
        dispatcher.stop(timedelta(seconds=0.2), interrupted=timedelta(seconds=5))
    assert submitter.requests == [1, 2] and cancelled == [2]
    assert ("hand back", 2, "interrupted: daemon shutting down") in queue.told
    assert ("hand back", 3, "interrupted before sending: daemon shutting down") in queue.told
    assert [r.id for r in queue.runs] == [4, 5]  # never claimed
    assert dispatcher.in_flight_ids() == []
    handed = [e["run_id"] for e in logs if e["event"] == "run.handed_back"]
    assert sorted(handed) == [2, 3]
