"""The image's lock files match pyproject.toml, and the Dockerfile installs from them.

``requirements.lock`` pins what triggerd runs on (``[project].dependencies`` and the ``postgres``
extra), ``requirements-build.lock`` what builds it (``[build-system].requires``), both with
hashes, for the Python of the Dockerfile's base image on Linux x86_64 (``make lock`` writes
them). Checked here, offline:

- every requirement of pyproject.toml is pinned, with a version its specifier allows;
- every entry is an exact pin with at least one sha256 hash, and no package is locked twice;
- the transitive closure: each ``Requires-Dist`` of a locked package that applies on the image
  (its markers evaluated for Linux x86_64 and that Python, with the extras asked for) is locked
  too, at a version it allows, and nothing is locked that nothing requires. A package's
  requirements are read from the metadata installed in this environment, so a package is
  checked only where the installed version is the locked one (the others cannot be, offline;
  the image's `pip check` catches them at build time);
- the Dockerfile installs exactly these files, with ``--require-hashes`` and ``--no-deps``, and
  the package itself without its dependencies.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
BUILD_LOCK = REPO / "requirements-build.lock"
DOCKERFILE = REPO / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: Version
    hashes: tuple[str, ...]


def parse_lock(text: str) -> dict[NormalizedName, Pin]:
    """``name==version --hash=sha256:...`` entries of a pip-compile lock (comments dropped)."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("--hash") else raw
        line = line.strip()
        if not line:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the lock ends inside a continuation"
    pins: dict[NormalizedName, Pin] = {}
    for entry in logical:
        spec, *options = (part.strip() for part in re.split(r"\s+(?=--)", entry))
        requirement = Requirement(spec)
        assert requirement.marker is None and not requirement.extras, f"{spec}: resolve markers"
        [(operator, version)] = [(s.operator, s.version) for s in requirement.specifier]
        assert operator == "==", f"{spec}: not an exact pin"
        hashes = tuple(o.removeprefix("--hash=") for o in options if o.startswith("--hash="))
        assert len(hashes) == len(options), f"{spec}: only --hash options belong here"
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), spec
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{name} is locked twice"
        pins[name] = Pin(name, Version(version), hashes)
    return pins


def base_python() -> str:
    """The Python of the Dockerfile's base image (``FROM python:3.11-slim...``): "3.11"."""
    found = re.search(r"^FROM python:(\d+\.\d+)-", DOCKERFILE.read_text("utf-8"), re.M)
    assert found, "the Dockerfile's base image is not python:X.Y-..."
    return found[1]


def image_environment(extra: str = "") -> dict[str, str]:
    """The marker environment of the image: CPython on Linux x86_64, the base image's Python."""
    python = base_python()
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
        "extra": extra,
    }


def applies(requirement: Requirement, extras: Iterable[str] = ()) -> bool:
    marker: Marker | None = requirement.marker
    if marker is None:
        return True
    return any(marker.evaluate(image_environment(extra)) for extra in ("", *extras))


def runtime_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [
        Requirement(r)
        for r in project["dependencies"] + project["optional-dependencies"]["postgres"]
    ]


def build_requirements() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]


def installed_requires(name: str, version: Version) -> list[Requirement] | None:
    """The Requires-Dist of ``name`` as installed here, if the installed version is ``version``."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if Version(dist.version) != version:
        return None
    return [Requirement(r) for r in dist.requires or []]


@dataclass
class Closure:
    problems: list[str]
    checked: set[NormalizedName]
    unchecked: set[NormalizedName]
    reached: set[NormalizedName]


def closure(
    roots: list[Requirement],
    pins: dict[NormalizedName, Pin],
    requires: Mapping[str, list[Requirement] | None],
) -> Closure:
    """Walk the requirements from ``roots`` through ``requires`` (None: unknown metadata)."""
    result = Closure([], set(), set(), set())
    todo: list[tuple[str, Requirement]] = [("pyproject.toml", r) for r in roots if applies(r)]
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while todo:
        wanted_by, requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        pin = pins.get(name)
        if pin is None:
            result.problems.append(f"{wanted_by} requires {requirement}: {name} is not locked")
            continue
        if not requirement.specifier.contains(pin.version, prereleases=True):
            result.problems.append(
                f"{wanted_by} requires {requirement}: the lock has {name}=={pin.version}"
            )
        result.reached.add(name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        dependencies = requires.get(name)
        if dependencies is None:
            result.unchecked.add(name)
            continue
        result.checked.add(name)
        for dependency in dependencies:
            if applies(dependency, requirement.extras):
                todo.append((f"{name}=={pin.version}", dependency))
    return result


def metadata_of(pins: dict[NormalizedName, Pin]) -> dict[str, list[Requirement] | None]:
    return {name: installed_requires(name, pin.version) for name, pin in pins.items()}


def lock_closure(lock: Path, roots: list[Requirement]) -> Closure:
    pins = parse_lock(lock.read_text("utf-8"))
    return closure(roots, pins, metadata_of(pins))


# ---- the lock files -------------------------------------------------------------------------


def test_the_runtime_lock_pins_what_pyproject_asks_for_and_what_that_requires() -> None:
    found = lock_closure(LOCK, runtime_requirements())
    assert not found.problems, "\n".join(found.problems) + "\nrun `make lock`"
    # The dev environment installs every runtime dependency: their metadata is here to read.
    assert found.checked, "no locked package's metadata is installed here: nothing was checked"


def test_the_build_lock_pins_the_build_backend() -> None:
    """setuptools and wheel are not installed in the dev environment at the locked versions,
    so only the pins are checked here; the image's `pip check` checks the rest."""
    found = lock_closure(BUILD_LOCK, build_requirements())
    assert not found.problems, "\n".join(found.problems) + "\nrun `make lock`"
    assert {"setuptools", "wheel"} <= found.reached


def test_the_runtime_lock_holds_nothing_that_nothing_requires() -> None:
    found = lock_closure(LOCK, runtime_requirements())
    if found.unchecked:  # a package's requirements are unknown here: so is what it brings in
        pytest.skip(f"installed here at another version than locked: {sorted(found.unchecked)}")
    extra = sorted(set(parse_lock(LOCK.read_text("utf-8"))) - found.reached)
    assert not extra, f"locked, but required by nothing: {extra}; run `make lock`"


def test_every_runtime_dependency_is_pinned_in_range() -> None:
    pins = parse_lock(LOCK.read_text("utf-8"))
    for requirement in runtime_requirements():
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"pyproject.toml's {requirement} is not in requirements.lock"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"pyproject.toml says {requirement}, requirements.lock pins {pin.version}"
        )


def test_the_locks_are_written_by_make_lock() -> None:
    for lock in (LOCK, BUILD_LOCK):
        assert "#    make lock\n" in lock.read_text("utf-8"), f"{lock.name}: refresh with make lock"
    assert re.search(r"^lock:", (REPO / "Makefile").read_text("utf-8"), re.M)


def test_runtime_and_build_locks_do_not_overlap_in_versions() -> None:
    """A package in both (none today) must be pinned alike: one image, one version."""
    runtime, build = parse_lock(LOCK.read_text("utf-8")), parse_lock(BUILD_LOCK.read_text("utf-8"))
    for name in set(runtime) & set(build):
        assert runtime[name].version == build[name].version, name


# ---- the checks themselves ------------------------------------------------------------------

H = "--hash=sha256:" + "0" * 64


def test_the_parser_reads_pip_compile_output() -> None:
    text = f"""#
# via ...
click==8.1.7 \\
    {H}
    # via triggerd (pyproject.toml)
PyYAML==6.0.1 {H}
"""
    pins = parse_lock(text)
    assert set(pins) == {"click", "pyyaml"}
    assert pins[canonicalize_name("click")].version == Version("8.1.7")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("click>=8 " + H, "not an exact pin"),
        ("click==8.1.7", "click==8.1.7"),  # no hash
        (f"click==8.1.7 {H}\nClick==8.1.8 {H}", "locked twice"),
        (f"colorama==0.4.6 ; sys_platform == 'win32' {H}", "resolve markers"),
    ],
)
def test_the_parser_refuses_a_loose_lock(text: str, problem: str) -> None:
    with pytest.raises((AssertionError, ValueError), match=re.escape(problem)):
        parse_lock(text)


def test_the_closure_finds_a_missing_and_an_out_of_range_dependency() -> None:
    pins = parse_lock(f"httpx==0.28.1 {H}\nanyio==3.0.0 {H}\nclick==8.1.7 {H}\n")
    requires = {
        "httpx": [
            Requirement("anyio>=4"),
            Requirement("h11>=0.16"),
            Requirement("brotli; extra == 'brotli'"),
        ],
        "anyio": [],
        "click": [Requirement("colorama; platform_system == 'Windows'")],
    }
    found = closure(
        [Requirement("httpx>=0.27"), Requirement("click>=8")],
        pins,
        requires,
    )
    assert sorted(found.problems) == [
        "httpx==0.28.1 requires anyio>=4: the lock has anyio==3.0.0",
        "httpx==0.28.1 requires h11>=0.16: h11 is not locked",
    ]  # brotli (an extra nobody asked for) and colorama (Windows) do not apply on the image
    assert found.reached == {"httpx", "anyio", "click"}


def test_an_extra_asked_for_brings_its_requirements() -> None:
    pins = parse_lock(f"psycopg==3.3.9 {H}\n")
    requires = {"psycopg": [Requirement("psycopg-binary==3.3.9; extra == 'binary'")]}
    found = closure([Requirement("psycopg[binary]>=3.1")], pins, requires)
    assert found.problems == [
        'psycopg==3.3.9 requires psycopg-binary==3.3.9; extra == "binary": '
        "psycopg-binary is not locked"
    ]


def test_the_image_environment_is_the_base_images() -> None:
    assert base_python() == "3.11"
    assert applies(Requirement("tzdata; python_version >= '3.9'"))
    assert not applies(Requirement("exceptiongroup; python_version < '3.11'"))
    assert not applies(Requirement("pywin32; sys_platform == 'win32'"))


# ---- the Dockerfile -------------------------------------------------------------------------


def run_instructions() -> list[str]:
    """The Dockerfile's RUN instructions, continuations joined, comments dropped."""
    runs, current = [], ""
    for raw in DOCKERFILE.read_text("utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical, current = (current + line).strip(), ""
        if logical.upper().startswith("RUN "):
            runs.append(logical[4:])
    return runs


def pip_installs() -> list[list[str]]:
    """Every `pip install ...` of the Dockerfile, as its argument lists."""
    found = []
    for run in run_instructions():
        for command in re.split(r"&&|;", run):
            words = command.split()
            if words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
                found.append(words[words.index("install") + 1 :])
    return found


def test_the_dockerfile_installs_from_the_locks_and_nothing_else() -> None:
    installs = pip_installs()
    locks = [args[args.index("-r") + 1] for args in installs if "-r" in args]
    assert locks == ["requirements.lock", "requirements-build.lock"]
    for args in installs:
        assert "--no-deps" in args, f"pip install {' '.join(args)}: may bring in unlocked packages"
        if "-r" in args:
            assert "--require-hashes" in args, f"pip install {' '.join(args)}"
        else:
            # The package itself: no requirement names, and the pinned backend builds it.
            assert [a for a in args if not a.startswith("-")] == ["."], args
            assert "--no-build-isolation" in args, "an isolated build fetches an unpinned backend"
    copied = " ".join(
        line for line in DOCKERFILE.read_text("utf-8").splitlines() if line.startswith("COPY ")
    )
    assert "requirements.lock" in copied and "requirements-build.lock" in copied


def test_the_dockerfile_check_catches_an_unpinned_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "tests.unit.test_lockfile.run_instructions",
        lambda: ["pip install --no-deps --require-hashes -r requirements.lock", "pip install ."],
    )
    with pytest.raises(AssertionError):
        test_the_dockerfile_installs_from_the_locks_and_nothing_else()
