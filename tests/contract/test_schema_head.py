"""The schema's newest revision, known without alembic: a start on a database already there
never imports it; a database behind it (or new) is migrated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from triggerd.store import open_store
from triggerd.store.db import MIGRATIONS, SCHEMA_HEAD, schema_is_current

OPEN = """
import json, sys
from triggerd.store import open_store
open_store(sys.argv[1], daemon=True).close()
print(json.dumps(any(m == "alembic" or m.startswith("alembic.") for m in sys.modules)))
"""


def test_the_known_head_is_the_newest_migration() -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


def test_a_database_behind_the_head_is_migrated_to_it(store_url: str) -> None:
    from alembic import command

    engine = create_engine(store_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert not schema_is_current(engine)  # new: no alembic_version table
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    assert not schema_is_current(engine)

    open_store(store_url).close()
    assert schema_is_current(engine)
    engine.dispose()


def opens_with_alembic(url: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", OPEN, url], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return bool(json.loads(result.stdout.strip().splitlines()[-1]))


def test_only_a_start_that_migrates_imports_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'triggerd.db'}"
    assert opens_with_alembic(url)  # a new database: migrated
    assert not opens_with_alembic(url)  # at the head: one row read
