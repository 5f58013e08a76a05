"""The deploy files say what they do: the systemd unit verifies, the Dockerfile's entrypoint and
health command work as a process, and the sidecar examples are well-formed and consistent."""

from __future__ import annotations

import inspect
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.daemon import REPO
from triggerd.settings import Settings
from triggerd.submitters.command import CommandSubmitter

pytestmark = pytest.mark.e2e

UNIT = REPO / "systemd" / "triggerd.service"
SYSUSERS = REPO / "systemd" / "triggerd.sysusers"
DOCKERFILE = REPO / "Dockerfile"
DEPLOY = REPO / "docs" / "deploy"

# What a stop takes at most: the shutdown grace for runs in flight, then kill_grace for their
# commands between SIGTERM and SIGKILL. Every supervisor's stop timeout must cover it.
DRAIN_S = (
    Settings().shutdown_grace.total_seconds()
    + inspect.signature(CommandSubmitter).parameters["kill_grace"].default.total_seconds()
)


# ---- systemd --------------------------------------------------------------------------------


def unit_directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every directive, in order; keys may repeat."""
    section, out = "", []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("["):
            section = stripped.strip("[]")
            continue
        key, _, value = stripped.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def unit_value(key: str) -> str:
    values = [v for _s, k, v in unit_directives(UNIT.read_text()) if k == key]
    assert values, f"{key}= missing from {UNIT.name}"
    return values[-1]


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return path


def stubbed_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart=/ExecReload= pointing at an executable stub (verify checks them)."""
    stub = tmp_path / "bin" / "triggerd-stub"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = UNIT.read_text()
    assert "/usr/local/bin/triggerd " in text and "/bin/kill " in text
    text = text.replace("/usr/local/bin/triggerd ", f"{stub} ").replace("/bin/kill ", f"{stub} ")
    unit = tmp_path / "triggerd.service"
    unit.write_text(text)
    return unit


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    unit = stubbed_unit(tmp_path)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    output = (result.stdout + result.stderr).splitlines()
    about_unit = [line for line in output if "triggerd" in line]
    assert result.returncode == 0, "\n".join(output)
    assert about_unit == []


def test_unit_sandbox_exposure_stays_low(tmp_path: Path) -> None:
    """`systemd-analyze security` rates the sandbox; 8.3 (EXPOSED) before hardening, 1.2 now."""
    analyze = systemd_analyze()
    unit = stubbed_unit(tmp_path)
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0, result.stdout


def test_unit_settings_match_the_daemon() -> None:
    assert unit_value("Type") == "notify"
    assert unit_value("NotifyAccess") == "main"
    assert unit_value("ExecStart") == "/usr/local/bin/triggerd run --config /etc/triggerd"
    assert unit_value("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert unit_value("KillMode") == "mixed"
    assert unit_value("RestartPreventExitStatus") == "2"  # invalid config: do not loop
    stop_s = int(unit_value("TimeoutStopSec").removesuffix("s"))
    assert stop_s > DRAIN_S, f"TimeoutStopSec={stop_s}s cuts the {DRAIN_S:.0f} s drain short"
    # The daemon pings every half WatchdogSec; a heartbeat-sized window is the sensible floor.
    watchdog_s = int(unit_value("WatchdogSec").removesuffix("s"))
    assert watchdog_s >= 2 * Settings().heartbeat_interval.total_seconds()
    assert unit_value("CapabilityBoundingSet") == ""
    assert unit_value("User") == "triggerd"


def test_every_unit_directive_is_explained() -> None:
    lines = UNIT.read_text().splitlines()
    bare = [
        line
        for before, line in itertools.pairwise(lines)
        if "=" in line and not line.startswith("#") and not before.startswith("#")
    ]
    assert bare == [], "directives without a comment right above them"


def test_sysusers_file_creates_the_units_user(tmp_path: Path) -> None:
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.skip("systemd-sysusers is not installed")
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        [sysusers, f"--root={tmp_path}", str(SYSUSERS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text()
    [entry] = [line.split(":") for line in passwd.splitlines() if line.startswith("triggerd:")]
    assert entry[5] == "/var/lib/triggerd"  # the StateDirectory=
    assert entry[6].endswith("nologin")


# ---- Dockerfile -----------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: `\\` continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue  # a comment, even inside a continuation, is not part of the instruction
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        if logical:
            instruction, _, args = logical.partition(" ")
            out.append((instruction.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continuation"
    return out


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form instruction (a shell-form string fails here)."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), args
    return value


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions(DOCKERFILE.read_text()):
        if instruction == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def docker_stop_grace_s() -> int:
    """The `docker stop -t N` the Dockerfile's comments tell operators to use."""
    found = re.search(r"docker stop -t (\d+)", DOCKERFILE.read_text())
    assert found, "the Dockerfile does not document the stop grace"
    return int(found.group(1))


def test_dockerfile_is_what_a_reviewer_expects() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    kinds = [i for i, _ in instructions]
    first = dict(reversed(instructions))  # the first occurrence of each instruction
    last = dict(instructions)

    assert re.fullmatch(r"python:3\.11-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", first["FROM"])
    assert last["USER"].split(":")[0] not in ("", "root", "0")
    assert re.fullmatch(r"\d+:\d+", last["USER"]), "numeric, so runAsNonRoot can check it"
    assert exec_form(last["ENTRYPOINT"]) == ["tini", "--", "triggerd"]
    assert exec_form(last["CMD"]) == ["run", "--config", "/etc/triggerd"]
    assert last["STOPSIGNAL"] == "SIGTERM"
    health = last["HEALTHCHECK"]
    assert re.search(r"--interval=\d+s --timeout=\d+s --start-period=\d+s", health)
    assert exec_form(health.split(" CMD ", 1)[1]) == ["triggerd", "check"]
    assert exec_form(last["VOLUME"]) == ["/var/lib/triggerd"]
    assert dockerfile_env()["TRIGGERD_STATE_DIR"] == "/var/lib/triggerd"
    assert last["EXPOSE"] == "9464"
    assert docker_stop_grace_s() > DRAIN_S

    # tini comes from Debian, without recommends, and the apt lists do not stay in the layer.
    [apt] = [a for i, a in instructions if i == "RUN" and "apt-get install" in a]
    assert "--no-install-recommends tini" in apt and "rm -rf /var/lib/apt/lists/*" in apt

    # Dependencies get a layer of their own, from the lock file alone, before the source (which
    # changes more often); tests/unit/test_lockfile.py checks what each install takes.
    def index(instruction: str, needle: str) -> int:
        return next(n for n, (i, a) in enumerate(instructions) if i == instruction and needle in a)

    deps = index("COPY", "requirements.lock")
    install = index("RUN", "-r requirements.lock")
    source = index("COPY", "triggerd/")
    assert deps < install < index("COPY", "pyproject.toml") < source
    assert kinds.index("USER") > index("RUN", "--no-build-isolation .")  # installs ran as root


def test_dockerignore_lets_only_the_build_inputs_in() -> None:
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    assert {r for r in rules if r.startswith("!")} == {
        "!requirements.lock",
        "!requirements-build.lock",
        "!pyproject.toml",
        "!README.md",
        "!triggerd/",
    }


def test_every_dockerfile_instruction_is_explained() -> None:
    bare, previous, continued = [], "", False
    for line in DOCKERFILE.read_text().splitlines():
        if line and not line.startswith("#") and not continued and not previous.startswith("#"):
            bare.append(line)
        continued, previous = line.endswith("\\"), line
    assert bare == [], "instructions without a comment right above them"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def image_env(state: Path, config: Path) -> dict[str, str]:
    """The environment the image gives the daemon, with its paths moved into tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIGGERD_")}
    env.update(dockerfile_env())
    env["TRIGGERD_STATE_DIR"] = str(state)
    env["TRIGGERD_CONFIG"] = str(config)
    env["TRIGGERD_HTTP_ADDRESS"] = f"127.0.0.1:{free_port()}"  # never 0.0.0.0 in a test
    return env


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    instructions = dict(dockerfile_instructions(DOCKERFILE.read_text()))
    argv = exec_form(instructions["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert argv[0] == "triggerd"
    return subprocess.run(
        [sys.executable, "-m", "triggerd", *argv[1:]],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env=env,
        check=False,
    )


def http_status(url: str) -> int | str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return repr(exc)


def log_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def test_entrypoint_and_healthcheck_as_processes(tmp_path: Path) -> None:
    """CMD with the image's environment starts a healthy daemon; SIGTERM stops it in the grace."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "triggerd.yaml").write_text(
        f"""
pipelines:
  noop:
    kind: command
    argv: [{json.dumps(sys.executable)}, -c, pass]
schedules:
  - name: every-minute
    pipeline: noop
    recurrence: {{frequency: Minute, interval: 1}}
""",
        encoding="utf-8",
    )
    state = tmp_path / "state"
    state.mkdir()
    env = image_env(state, config)

    before = healthcheck(env)  # no daemon has made the database yet: unhealthy, and says why
    assert before.returncode == 1, before.stdout + before.stderr
    assert f"no triggerd database at {state / 'triggerd.db'}" in before.stderr

    cmd = exec_form(dict(dockerfile_instructions(DOCKERFILE.read_text()))["CMD"])
    cmd = [str(config) if arg == "/etc/triggerd" else arg for arg in cmd]
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "triggerd", *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=state,  # the image's WORKDIR is the state directory
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            during = healthcheck(env)
            if during.returncode == 0:
                break
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, during.stderr + log.read_text()
            time.sleep(0.2)
        assert during.stdout.startswith("healthy")

        # The paths the Kubernetes probes and Prometheus use, on the address the image sets
        # (moved to a free loopback port here).
        base = f"http://{env['TRIGGERD_HTTP_ADDRESS']}"
        for path in ("/healthz", "/readyz", "/metrics"):
            deadline = time.monotonic() + 30
            while (status := http_status(base + path)) != 200:
                assert time.monotonic() < deadline, f"{path}: {status}\n" + log.read_text()
                time.sleep(0.2)

        deadline = time.monotonic() + 30
        while not any(e.get("event") == "fire.planned" for e in log_events(log)):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=docker_stop_grace_s()) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    events = log_events(log)
    assert events, "the image's TRIGGERD_LOG_FORMAT=json gives JSON lines"
    assert any(e.get("event") == "daemon.stopped" for e in events)
    after = healthcheck(env)
    assert after.returncode == 1, "a cleanly stopped daemon is unhealthy at once"


# ---- docs/deploy ----------------------------------------------------------------------------


def validate_config(config: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "triggerd", "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("TRIGGERD_")},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_sidecar_example() -> None:
    [compose] = list(yaml.safe_load_all((DEPLOY / "docker-compose.yml").read_text()))
    app, triggerd = compose["services"]["app"], compose["services"]["triggerd"]
    assert set(compose["volumes"]) == {"inbox", "triggerd-state"}

    assert any(v.startswith("inbox:") and not v.endswith(":ro") for v in app["volumes"])
    mounts = {v.split(":")[1]: v for v in triggerd["volumes"]}
    assert mounts["/etc/triggerd"].endswith(":ro")
    assert mounts["/data/inbox"].startswith("inbox:")
    assert mounts["/var/lib/triggerd"] == "triggerd-state:/var/lib/triggerd"
    assert triggerd["healthcheck"]["test"] == ["CMD", "triggerd", "check"]
    assert triggerd["stop_signal"] == "SIGTERM"
    assert int(triggerd["stop_grace_period"].removesuffix("s")) == docker_stop_grace_s()
    assert triggerd["read_only"] is True
    assert all(p.startswith("127.0.0.1:") for p in triggerd["ports"])

    # The mounted config is valid, and watches where the inbox volume is mounted.
    host_config = DEPLOY / mounts["/etc/triggerd"].split(":")[0]
    validate_config(host_config)
    datastores = yaml.safe_load((host_config / "triggerd.yaml").read_text())["datastores"]
    assert datastores["inbox"] == {"kind": "local", "path": "/data/inbox"}


def test_kubernetes_pod_example() -> None:
    docs = [
        d for d in yaml.safe_load_all((DEPLOY / "kubernetes-pod.yaml").read_text()) if d is not None
    ]
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"ConfigMap", "PersistentVolumeClaim", "Pod"}
    spec = by_kind["Pod"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    assert set(containers) == {"app", "triggerd"}
    volumes = {v["name"]: v for v in spec["volumes"]}

    assert spec["terminationGracePeriodSeconds"] == docker_stop_grace_s()
    assert spec["terminationGracePeriodSeconds"] > DRAIN_S
    assert spec["securityContext"]["runAsNonRoot"] is True

    # The two containers share an emptyDir: the app writes, triggerd reads.
    def mount(container: str, volume: str) -> dict[str, Any]:
        [found] = [m for m in containers[container]["volumeMounts"] if m["name"] == volume]
        assert isinstance(found, dict)
        return found

    assert "emptyDir" in volumes["inbox"]
    assert not mount("app", "inbox").get("readOnly", False)
    assert mount("triggerd", "inbox") == {
        "name": "inbox",
        "mountPath": "/data/inbox",
        "readOnly": True,
    }

    triggerd = containers["triggerd"]
    ports = {p["name"]: p["containerPort"] for p in triggerd["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = triggerd[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == 9464
    context = triggerd["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]

    # The state lives on a volume, the config comes from the ConfigMap.
    assert "persistentVolumeClaim" in volumes[mount("triggerd", "state")["name"]]
    assert mount("triggerd", "state")["mountPath"] == "/var/lib/triggerd"
    assert volumes["config"]["configMap"]["name"] == by_kind["ConfigMap"]["metadata"]["name"]
    assert mount("triggerd", "config") == {
        "name": "config",
        "mountPath": "/etc/triggerd",
        "readOnly": True,
    }
    config_map = by_kind["ConfigMap"]["data"]
    assert config_map == {"triggerd.yaml": (DEPLOY / "config" / "triggerd.yaml").read_text()}
