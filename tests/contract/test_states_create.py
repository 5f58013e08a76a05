"""``states.create``: the states of many schedules in one statement through the driver's
``executemany``, on both backends: the same rows as one ``ensure`` each, and a state that is
already there (another replica made it) is left as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triggerd.store import Store, states


def test_create_writes_what_ensure_writes_and_keeps_a_state_already_there(store: Store) -> None:
    earlier = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    now = earlier + timedelta(days=3, seconds=7)
    store.write(states.ensure, "b", earlier)  # made before: keeps its anchor
    store.write(states.create, ["a", "b", "c"], now)
    store.write(states.ensure, "d", now)  # the one-by-one way, for comparison
    found = store.read(states.get_all)
    assert sorted(found) == ["a", "b", "c", "d"]
    assert found["b"].first_seen_at == earlier
    for name in ("a", "c", "d"):
        state = found[name]
        assert state.first_seen_at == now
        assert state.first_seen_at.utcoffset() == timedelta(0)
        assert (state.cursor_at, state.enabled, state.last_poll_at) == (None, None, None)
    assert store.read(states.get_many, ["a", "c"]) == {"a": found["a"], "c": found["c"]}
