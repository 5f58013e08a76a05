"""Planning datastore fires from a settled poll: runs for the files that fire, skipped fires
for names the store cannot hold. Pure: no folder, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triggerd.datastores.settle import SettleResult, Tracked
from triggerd.datastores.snapshot import Entry
from triggerd.engine.fileplan import plan_datastore_fires, refuse_unstorable
from triggerd.runs import DataPath, RunStatus, TriggerKind

NOW = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
GOOD, BAD = "in/a.csv", "in/bad\udcff.csv"  # a name read from bytes that are not UTF-8
A1, B1 = Entry(1, "100"), Entry(2, "200")


def result(*, fire: bool, bad: bool = True) -> SettleResult:
    paths = {GOOD: A1, **({BAD: B1} if bad else {})}
    return SettleResult(
        fire=sorted(paths.items()) if fire else [],
        inserts={
            p: Tracked(fired=e) if fire else Tracked(None, e, NOW, 1) for p, e in paths.items()
        },
    )


@pytest.mark.parametrize(("enabled", "status", "reason"), [
    (True, RunStatus.PENDING, None),
    (False, RunStatus.SKIPPED, "schedule disabled"),
])  # fmt: skip
def test_a_file_that_fires_is_one_run_keyed_by_its_path_and_version(
    enabled: bool, status: RunStatus, reason: str | None
) -> None:
    [run] = plan_datastore_fires(
        result(fire=True, bad=False), schedule="files", datastore="inbox",
        parameters={"t": 1}, now=NOW, enabled=enabled,
    )  # fmt: skip
    assert (run.fire_key, run.trigger, run.status, run.reason) == (
        "files:in/a.csv:100", TriggerKind.DATASTORE, status, reason
    )  # fmt: skip
    assert (run.data_path, run.parameters, run.scheduled_for) == (
        DataPath("inbox", GOOD),
        {"t": 1},
        NOW,
    )


def test_an_unstorable_name_is_taken_out_and_refused_once_per_version() -> None:
    first = refuse_unstorable(
        result(fire=True), schedule="files", datastore="inbox", parameters={},
        now=NOW, refused_before={}, baseline=False,
    )  # fmt: skip
    assert [p for p, _ in first.result.fire] == [GOOD]
    assert list(first.result.inserts) == [GOOD]  # the rest of the folder goes on
    [refused] = first.runs
    assert refused.status == RunStatus.SKIPPED
    assert refused.reason == "not fired: its name is not valid UTF-8; rename the file to fire it"
    assert refused.data_path == DataPath("inbox", "in/bad\\xff.csv")
    assert refused.fire_key.startswith("files:refused:") and refused.fire_key.endswith(":200")
    assert first.versions == {BAD: "200"}
    again = refuse_unstorable(
        result(fire=True), schedule="files", datastore="inbox", parameters={},
        now=NOW, refused_before=first.versions, baseline=False,
    )  # fmt: skip
    assert (again.runs, again.versions, [p for p, _ in again.result.fire]) == ([], {}, [GOOD])


def test_an_unstorable_name_in_the_baseline_is_remembered_but_records_nothing() -> None:
    refusal = refuse_unstorable(
        result(fire=False), schedule="files", datastore="inbox", parameters={},
        now=NOW, refused_before={}, baseline=True,
    )  # fmt: skip
    assert refusal.runs == []
    assert refusal.versions == {BAD: "200"}
    assert refusal.reasons == {
        "in/bad\\xff.csv": "its name is not valid UTF-8; rename the file to fire it"
    }


def test_a_poll_with_only_storable_names_is_left_as_it_is() -> None:
    settled = result(fire=True, bad=False)
    refusal = refuse_unstorable(
        settled, schedule="files", datastore="inbox", parameters={},
        now=NOW, refused_before={}, baseline=False,
    )  # fmt: skip
    assert refusal.result is settled and refusal.runs == []
