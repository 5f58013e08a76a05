"""Overrides you can see and undo (`schedules enable|disable|reset`), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triggerd.store import Store, states

T0 = datetime(2026, 3, 29, 0, 30, 15, 250_000, tzinfo=UTC)


def test_an_override_records_note_time_and_user_with_a_new_state(store: Store) -> None:
    state = store.write(
        states.set_override, "nightly", False, note="deploy freeze", by="alice", now=T0
    )
    assert (state.enabled, state.override_note, state.override_by) == (
        False,
        "deploy freeze",
        "alice",
    )
    assert state.override_at == T0
    assert state.first_seen_at == T0.replace(microsecond=0)  # the anchor, created with it
    assert state.status_source == "override"
    assert state.override_json() == {
        "enabled": False,
        "note": "deploy freeze",
        "at": "2026-03-29T00:30:15.250000+00:00",
        "by": "alice",
    }
    assert store.read(states.enabled_overrides) == {"nightly": False}


def test_an_override_keeps_the_anchor_and_replaces_the_earlier_override(store: Store) -> None:
    store.write(states.ensure, "nightly", T0 - timedelta(days=3))
    store.write(states.set_override, "nightly", False, note="freeze", by="alice", now=T0)
    later = T0 + timedelta(hours=1)
    state = store.write(states.set_override, "nightly", True, note=None, by="bob", now=later)
    assert state.first_seen_at == T0 - timedelta(days=3)
    assert (state.enabled, state.override_note, state.override_by, state.override_at) == (
        True,
        None,
        "bob",
        later,
    )


def test_clearing_an_override_returns_to_the_config_and_reports_what_was_there(
    store: Store,
) -> None:
    store.write(states.set_override, "nightly", True, note="try it", by="alice", now=T0)
    store.write(states.set_override, "other", False, note=None, by=None, now=T0)
    before = store.write(states.clear_override, "nightly", T0 + timedelta(minutes=5))
    assert before is not None and (before.enabled, before.override_note) == (True, "try it")
    after = store.read(states.get, "nightly")
    assert after is not None
    assert (after.enabled, after.override_note, after.override_at, after.override_by) == (
        None,
        None,
        None,
        None,
    )
    assert after.status_source == "config" and after.override_json() is None
    assert store.read(states.enabled_overrides) == {"other": False}  # what the daemon reads


def test_clearing_without_a_state_changes_nothing(store: Store) -> None:
    assert store.write(states.clear_override, "never-seen", T0) is None
    assert store.read(states.get, "never-seen") is None


def test_every_state_read_in_bulk_is_the_state_read_alone(store: Store) -> None:
    """``get_all`` and ``get_many`` build states from the row's values in field order (not by
    column name): every field, override, cursor, poll and event columns included, must come
    out as ``get`` (by name) reads it."""
    from sqlalchemy import update

    from triggerd.store.tables import schedule_state

    store.write(states.create, ["a", "b", "c"], T0)
    store.write(states.set_override, "b", False, note="freeze", by="alice", now=T0)

    def fill(conn: object) -> None:
        conn.execute(  # type: ignore[attr-defined]
            update(schedule_state)
            .where(schedule_state.c.name == "c")
            .values(
                cursor_at=T0 + timedelta(minutes=1),
                last_poll_at=T0 + timedelta(minutes=2),
                entries=7,
                last_event_at=T0 + timedelta(minutes=3),
            )
        )

    store.write(fill)
    alone = {name: store.read(states.get, name) for name in ("a", "b", "c")}
    assert store.read(states.get_all) == alone
    assert store.read(states.get_many, ["c", "b", "a", "missing"]) == alone
    assert alone["c"] is not None and alone["c"].last_event_at == T0 + timedelta(minutes=3)
    assert alone["b"] is not None and alone["b"].override_by == "alice"
