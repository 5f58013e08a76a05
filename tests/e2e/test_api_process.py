"""The daemon serves its JSON API on its HTTP address, from the database and the config in
force: a real daemon, a real run, real requests."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from tests.support.daemon import DaemonProcess, cli, probe

CONFIG = """
pipelines:
  hello: {{kind: command, argv: [{python}, -c, "print('hi')"]}}
schedules:
  - name: every-minute
    pipeline: hello
    recurrence: {{frequency: Minute, interval: 1, time_zone: Europe/Berlin}}
"""


def test_the_api_shows_what_the_cli_shows_and_follows_a_reload(tmp_path: Path) -> None:
    config = tmp_path / "config" / "c.yaml"
    config.parent.mkdir()
    config.write_text(CONFIG.format(python=json.dumps(sys.executable)), encoding="utf-8")
    state = tmp_path / "state"
    daemon = DaemonProcess(config.parent, state)
    try:
        url = daemon.wait_event("http.listening")["url"]
        run = daemon.wait_event("run.succeeded", 60)
        code, body = probe(f"{url}/api/runs/{run['run_id']}")
        assert code == 200
        shown = cli("runs", "show", str(run["run_id"]), "--json", state_dir=state, config=config)
        assert json.loads(body) == json.loads(shown.stdout)
        code, body = probe(f"{url}/api/schedules")
        assert code == 200 and [i["name"] for i in json.loads(body)] == ["every-minute"]
        code, html = probe(f"{url}/")
        assert code == 200 and 'href="/schedules/every-minute"' in html
        code, html = probe(f"{url}/runs/{run['run_id']}")
        assert code == 200 and "succeeded" in html
        # A reload: the API answers from the new config at once.
        config.write_text(
            config.read_text(encoding="utf-8").replace("every-minute", "each-minute"),
            encoding="utf-8",
        )
        daemon.signal(signal.SIGHUP)
        daemon.wait_event("config.reloaded")
        code, body = probe(f"{url}/api/schedules")
        assert [i["name"] for i in json.loads(body)] == ["each-minute"]
        assert probe(f"{url}/api/schedules/every-minute")[0] == 404
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        daemon.kill()
