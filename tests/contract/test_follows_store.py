"""Following remote runs in the store, on SQLite and PostgreSQL: one daemon per check, claims
that expire and are taken over, the follow_timeout, overlap counting a followed run; and the
follower itself on a real store against a real local Azure ML fake, with an injected clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.support.azureml_status_fake import WORKSPACE, Status, StatusFake
from triggerd.config.loader import load_config_from_texts
from triggerd.engine.follower import MAX_INTERVAL, Follower, next_check_in
from triggerd.observability.metrics import Metrics
from triggerd.runs import NewRun, RunStatus, TriggerKind
from triggerd.store import Store, follows, open_store, outbox, queries, states

T0 = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # the night Berlin's clocks go forward
FIRST = timedelta(seconds=15)
_keys = itertools.count()


def submitted(
    store: Store,
    *,
    schedule: str = "retrain",
    follow_for: timedelta | None = timedelta(hours=1),
    external_id: str = "run-1",
) -> int:
    """A run submitted at T0 (followed unless ``follow_for`` is None); its id."""
    store.write(states.ensure, schedule, T0)
    new = NewRun(schedule, TriggerKind.TIME, f"{schedule}:{next(_keys)}", T0, {})
    [run_id] = store.record_fires(schedule, [new], cursor_at=T0, now=T0)
    assert store.write(outbox.claim_next, "d1", T0) is not None
    values = follows.start_values(now=T0, first_check=FIRST, follow_for=follow_for)
    store.write(
        outbox.finish,
        run_id,
        status="submitted",
        now=T0,
        external_id=external_id,
        owner="d1",
        follow=values,
    )
    return run_id


def test_a_check_is_due_after_the_first_interval_and_claimed_by_one_daemon(store: Store) -> None:
    run_id = submitted(store)
    assert store.write(follows.claim_due, "d1", T0 + FIRST - timedelta(seconds=1)) == []
    [claimed] = store.write(follows.claim_due, "d1", T0 + FIRST)
    assert (claimed.id, claimed.claimed_by, claimed.followed) == (run_id, "d1", True)
    assert store.write(follows.claim_due, "d2", T0 + FIRST) == []  # one daemon per check


def test_an_expired_check_claim_is_taken_over_and_the_old_owner_records_nothing(
    store: Store,
) -> None:
    run_id = submitted(store)
    store.write(follows.claim_due, "d1", T0 + FIRST)  # d1 stalls (or dies) mid-check
    later = T0 + FIRST + follows.CHECK_TTL + timedelta(seconds=1)
    [taken] = store.write(follows.claim_due, "d2", later)
    assert taken.claimed_by == "d2"
    stale = {"remote_status": "Completed", "remote_url": None, "error": None}
    assert not store.write(
        follows.end_follow, run_id, "d1", status=RunStatus.SUCCEEDED, now=later, **stale
    )
    assert store.write(
        follows.end_follow, run_id, "d2", status=RunStatus.FAILED, now=later,
        remote_status="Failed", remote_url="https://ml.azure.com/runs/run-1", error="boom",
    )  # fmt: skip
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.error, run.remote_status, run.followed) == (
        "failed",
        "boom",
        "Failed",
        False,
    )
    assert run.finished_at == later
    assert store.write(follows.claim_due, "d3", later + timedelta(hours=2)) == []


def test_a_check_that_did_not_end_it_plans_the_next_and_lets_go(store: Store) -> None:
    run_id = submitted(store)
    store.write(follows.claim_due, "d1", T0 + FIRST)
    nxt = T0 + timedelta(minutes=1)
    assert store.write(
        follows.record_check, run_id, "d1", next_at=nxt, remote_status="Running",
        remote_url="https://ml.azure.com/runs/run-1",
    )  # fmt: skip
    run = store.read(queries.get_run, run_id)
    assert (run.remote_status, run.follow_checks, run.claimed_by) == ("Running", 1, None)
    assert store.read(follows.due_summary) == (1, nxt)
    assert store.write(follows.claim_due, "d2", nxt - timedelta(seconds=1)) == []
    assert [r.id for r in store.write(follows.claim_due, "d2", nxt)] == [run_id]


def test_a_run_not_followed_stays_submitted_and_is_never_claimed(store: Store) -> None:
    run_id = submitted(store, follow_for=None)
    assert store.write(follows.claim_due, "d1", T0 + timedelta(days=2)) == []
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.followed) == ("submitted", False)
    assert store.read(queries.running_counts) == {}


def test_a_followed_run_counts_as_running_for_overlap(store: Store) -> None:
    submitted(store, schedule="a")
    submitted(store, schedule="a")
    submitted(store, schedule="b", follow_for=None)
    assert store.read(queries.running_counts) == {"a": 2}
    assert store.read(follows.count_followed) == 2


def test_at_start_on_sqlite_checks_of_dead_daemons_are_released(store: Store) -> None:
    run_id = submitted(store)
    store.write(follows.claim_due, "dead", T0 + FIRST)
    assert store.write(follows.release_checks, except_owner="me") == 1
    assert [r.id for r in store.write(follows.claim_due, "me", T0 + FIRST)] == [run_id]


# -- the follower on a real store ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.fixture
def fake() -> Iterator[StatusFake]:
    with StatusFake() as server:
        yield server


def follower(
    store: Store,
    fake: StatusFake,
    clock: Clock,
    owner: str = "d1",
    metrics: Metrics | None = None,
    endpoint: str = f"/pipelines/v1.0{WORKSPACE}/PipelineRuns/PipelineSubmit/p-1",
    **pipeline: str,
) -> Follower:
    extra = "".join(f"\n    {k}: {v}" for k, v in pipeline.items())
    text = f"""
pipelines:
  retrain:
    kind: azureml
    endpoint: {fake.url}{endpoint}
    auth: {{kind: none}}
    timeout: 5s{extra}
schedules:
  - name: retrain
    pipeline: retrain
    recurrence: {{frequency: Day, interval: 1, time_zone: W. Europe Standard Time}}
"""
    config = load_config_from_texts({str(Path("/etc/triggerd/t.yaml")): text})
    return Follower(
        store, lambda: config, owner=owner, clock=clock, interval=FIRST, metrics=metrics
    )


def test_the_follower_records_the_remote_failure_once_with_its_message(
    store: Store, fake: StatusFake
) -> None:
    run_id = submitted(store)
    fake.script("run-1", Status("Queued"), Status("Running"), Status("Failed", error="OOM"))
    clock, metrics = Clock(), Metrics(process=False)
    follow = follower(store, fake, clock, metrics=metrics)
    with capture_logs() as logs:
        clock.now += MAX_INTERVAL
        follow.round()
        assert sample(metrics, "triggerd_runs_followed") == 1
        for _ in range(10):
            clock.now += MAX_INTERVAL
            follow.round()
    follow.stop()
    assert sample(metrics, "triggerd_runs_total", schedule="retrain", status="failed") == 1
    assert sample(metrics, "triggerd_runs_followed") == 0
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.error, run.remote_status) == ("failed", "UserError: OOM", "Failed")
    assert run.remote_url == (
        "https://ml.azure.com/runs/run-1?wsid=/subscriptions/sub-1/resourcegroups/rg-1"
        "/workspaces/ws-1"
    )
    assert fake.checks_of("run-1") == 3
    [ended] = [e for e in logs if e["event"] == "run.followed"]
    assert (ended["status"], ended["error"], ended["run_id"]) == (
        "failed",
        "UserError: OOM",
        run_id,
    )


def test_a_failed_status_call_is_retried_and_logged(store: Store, fake: StatusFake) -> None:
    run_id = submitted(store)
    fake.script("run-1", Status(http=503, headers={"Retry-After": "600"}), Status("Completed"))
    clock, metrics = Clock(), Metrics(process=False)
    follow = follower(store, fake, clock, metrics=metrics)
    clock.now = T0 + FIRST
    with capture_logs() as logs:
        follow.round()
    assert sample(metrics, "triggerd_follow_failures_total", schedule="retrain") == 1
    [failed] = [e for e in logs if e["event"] == "follow.failed"]
    assert failed["error"] == "HTTP 503: status 503"
    assert failed["retry_in_s"] == 600  # Retry-After asked for longer than the backoff
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.follow_next_at) == ("submitted", clock.now + timedelta(minutes=10))
    clock.now += timedelta(minutes=10)
    follow.round()
    follow.stop()
    assert store.read(queries.get_run, run_id).status == "succeeded"


def test_past_follow_timeout_the_run_fails_saying_so(store: Store, fake: StatusFake) -> None:
    run_id = submitted(store, follow_for=timedelta(minutes=30))
    fake.script("run-1", Status("Running"))
    clock = Clock()
    follow = follower(store, fake, clock)
    for _ in range(40):
        clock.now += MAX_INTERVAL
        follow.round()
    follow.stop()
    run = store.read(queries.get_run, run_id)
    assert run.status == "failed"
    assert run.error == ("gave up following after 30m (follow_timeout): last remote status Running")
    assert run.finished_at is not None and run.finished_at >= T0 + timedelta(minutes=30)


def test_a_second_daemon_takes_over_a_check_the_first_left(store: Store, fake: StatusFake) -> None:
    run_id = submitted(store)
    fake.script("run-1", Status("Canceled"))
    clock = Clock()
    clock.now = T0 + FIRST
    store.write(follows.claim_due, "dead", clock.now)  # claimed, then its daemon died
    other = follower(store, fake, clock, owner="d2")
    assert other.round() == 0
    clock.now += follows.CHECK_TTL + timedelta(seconds=1)
    assert other.round() == 1
    other.stop()
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.remote_status, run.error) == ("canceled", "Canceled", None)


def test_a_pipeline_that_no_longer_follows_leaves_the_run_submitted(
    store: Store, fake: StatusFake
) -> None:
    run_id = submitted(store)
    clock = Clock()
    clock.now = T0 + FIRST
    follow = follower(store, fake, clock, follow="false")
    follow.round()
    follow.stop()
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.followed) == ("submitted", False)
    assert run.note == "not followed any more: pipeline 'retrain' does not follow its runs."
    assert fake.checks == []


def test_a_run_whose_status_cannot_be_read_at_all_is_not_followed_any_more(
    store: Store, fake: StatusFake
) -> None:
    run_id = submitted(store)
    clock = Clock()
    clock.now = T0 + FIRST
    follow = follower(store, fake, clock, endpoint="/PipelineRuns/PipelineSubmit/p-1")
    with capture_logs() as logs:
        follow.round()
    follow.stop()
    run = store.read(queries.get_run, run_id)
    assert (run.status, run.followed) == ("submitted", False)
    reason = "its status cannot be read: the endpoint names no workspace"
    assert run.note is not None and run.note.startswith(f"not followed any more: {reason}")
    [stopped] = [e for e in logs if e["event"] == "follow.stopped"]
    assert stopped["reason"].startswith(reason)
    assert fake.checks == []


@pytest.mark.parametrize(
    ("checks", "low", "high"),
    [
        (0, 7.5, 15),
        (1, 15, 30),
        (2, 30, 60),
        (4, 120, 240),
        (5, 150, 300),  # 480 s capped at 5 minutes
        (40, 150, 300),
    ],
)
def test_checks_back_off_from_15s_doubling_to_5_minutes_with_jitter(
    checks: int, low: float, high: float
) -> None:
    assert next_check_in(FIRST, checks, rand=lambda: 0.0).total_seconds() == low
    assert next_check_in(FIRST, checks, rand=lambda: 1.0).total_seconds() == high


def test_retry_after_wins_when_it_asks_for_longer() -> None:
    wait = timedelta(minutes=7)
    assert next_check_in(FIRST, 0, retry_after=wait, rand=lambda: 1.0) == wait
    assert next_check_in(FIRST, 3, retry_after=timedelta(seconds=1), rand=lambda: 1.0) == (
        timedelta(seconds=120)
    )


def test_the_followers_look_every_second_does_not_walk_the_history(tmp_path: Path) -> None:
    """Finished `http` runs stay `submitted` for ever; the follower's look (every second) and
    the overlap count must be answered by the index of the followed runs, not the status one
    (SQLite's plan; PostgreSQL chooses by its statistics)."""
    from sqlalchemy import event

    store = open_store(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        statements: list[tuple[str, object]] = []

        def seen(conn: object, cursor: object, sql: str, params: object, *rest: object) -> None:
            statements.append((sql, params))

        event.listen(store.engine, "before_cursor_execute", seen)
        store.read(follows.due_summary)
        store.write(follows.claim_due, "d1", T0)
        store.read(queries.running_counts)
        event.remove(store.engine, "before_cursor_execute", seen)
        looks = [(s, p) for s, p in statements if "follow_next_at" in s and s.startswith("SELECT")]
        assert len(looks) >= 3
        with store.engine.connect() as conn:
            for sql, params in looks:
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()  # type: ignore[arg-type]
                text = " ".join(str(row[-1]) for row in plan)
                assert "ix_runs_followed" in text, (sql, text)
    finally:
        store.close()
