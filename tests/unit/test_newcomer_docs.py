"""What a newcomer copies from the docs works: every command line is one the code accepts.

Every ``triggerd ...``, ``make ...`` and ``curl localhost:PORT/...`` command in README.md and
docs/ (fenced ``sh``/``console``/plain blocks, and inline code spans) is checked against the real
thing: the click app parses each ``triggerd`` line (a command or option that does not exist, a
bad choice, an extra argument fail), ``make`` names a target of the Makefile, ``curl`` asks the
real HTTP server for a path it serves. ``systemctl``, ``journalctl``, ``docker`` (but the
``triggerd`` after ``docker exec NAME``) and every other program are left alone.

What counts as a command line:

- ``sh``/``shell``/``bash`` blocks: every line (``\\`` continuations joined, ``$ `` dropped);
- ``console`` blocks and plain blocks: lines starting with ``$ ``; in plain blocks also lines
  starting with ``triggerd`` (a synopsis, like the README's command list, where `` | ``
  separates alternatives of the same group, not a pipe);
- inline code spans whose first program is one of the above. An inline span may leave out
  required arguments (`` `triggerd runs show` `` names the command).

Everywhere ``[...]`` marks an optional part (checked as if given), and placeholders (``NAME``,
``ID``, ``N``, ``K=V``, ``ISO8601``: upper-case words, ``...`` and ``<...>``) stand for any
value: a typed option or argument gets a sample value of its type (``--status S`` the first
status, ``ID`` a number), and a value that only a callback could judge (``--since T``) is not
judged. A bare ``triggerd`` (the program's name in prose) and paths like ``/etc/triggerd`` are
not commands.
"""

from __future__ import annotations

import re
import shlex
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from tests.support.newcomer import config_snippet, fenced_blocks, try_it
from triggerd.cli import main
from triggerd.config import load_config
from triggerd.config.models import LocalDatastore
from triggerd.config.pipelines import CommandPipeline
from triggerd.observability.httpserver import HealthServer
from triggerd.observability.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
MAKEFILE = REPO / "Makefile"

SHELL_BLOCKS = {"sh", "shell", "bash"}
PROMPT_BLOCKS = {"console", "", "text"}
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(=[A-Z][A-Z0-9_]*)?|\.\.\.|<[^>]*>")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_OPERATORS = {"|", "||", "&&", ";", "&"}
_REDIRECT = re.compile(r"\d?>>?(&\d)?|<")
_LOCAL_URL = re.compile(r"(?:https?://)?(?:localhost|127\.0\.0\.1|\[::1\]):\d+(?P<path>/[^\s|]*)?")


@dataclass(frozen=True)
class DocLine:
    """One command line of the docs: where it is, its text, and how it is written."""

    file: str
    line: int
    text: str
    mode: str  # "shell" (run it), "synopsis" (the README's command list), "inline" (prose)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


def _inline_spans(line: str) -> Iterator[str]:
    yield from (m[1] for m in re.finditer(r"`([^`\n]+)`", line))


def doc_lines(path: Path) -> Iterator[DocLine]:
    """Every candidate command line of one Markdown file."""
    name = str(path.relative_to(REPO))
    text = path.read_text("utf-8")
    fence: str | None = None
    pending, pending_at = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = stripped[3:].strip().lower() if fence is None else None
            continue
        if fence is None:
            for span in _inline_spans(raw):
                yield DocLine(name, number, span, "inline")
            continue
        if fence not in SHELL_BLOCKS | PROMPT_BLOCKS:
            continue
        if pending:
            stripped, number = pending + " " + stripped, pending_at
        if stripped.endswith("\\"):
            pending, pending_at = stripped[:-1].rstrip(), number
            continue
        pending = ""
        if stripped.startswith("$ "):
            yield DocLine(name, number, stripped[2:], "shell")
        elif fence in SHELL_BLOCKS and stripped:
            yield DocLine(name, number, stripped, "shell")
        elif stripped.startswith("triggerd "):
            yield DocLine(name, number, stripped, "synopsis")


def _tokens(text: str) -> list[str]:
    try:
        tokens = shlex.split(text)
    except ValueError:  # an unbalanced quote: prose, not a command
        return []
    for index, token in enumerate(tokens):
        if token.startswith("#"):
            return tokens[:index]
    return tokens


def _optional(tokens: list[str]) -> list[str]:
    """``[--json]``, ``[--count N]``: the optional parts of a synopsis, without the brackets
    (``[::1]:9464`` is an address, not one)."""
    out, depth = [], 0
    for token in tokens:
        if token.startswith("[") and not token.startswith("[:"):
            depth += len(token) - len(token.lstrip("["))
            token = token.lstrip("[")
        if depth and token.endswith("]"):
            depth -= len(token) - len(token.rstrip("]"))
            token = token.rstrip("]")
        if token:
            out.append(token)
    return out


def _segments(tokens: list[str]) -> list[list[str]]:
    """The simple commands of a shell line: split at |, &&, ;, without redirections."""
    out: list[list[str]] = [[]]
    skip = False
    for token in tokens:
        if skip:
            skip = False
        elif token in _OPERATORS:
            out.append([])
        elif _REDIRECT.fullmatch(token):
            skip = True  # `> file`: the file is not an argument
        else:
            out[-1].append(token)
    return [segment for segment in out if segment]


def _program(segment: list[str]) -> list[str]:
    """The command a segment runs, past `VAR=x`, `sudo -u U`, `env`, `docker exec NAME`."""
    tokens = list(segment)
    while tokens:
        head = tokens[0]
        if _ASSIGNMENT.match(head):
            tokens = tokens[1:]
        elif head in ("sudo", "env"):
            tokens = tokens[1:]
            while tokens and tokens[0].startswith("-"):
                takes_value = tokens[0] in ("-u", "-g", "--user", "--group")
                tokens = tokens[2:] if takes_value else tokens[1:]
        elif head == "docker":
            if len(tokens) < 2 or tokens[1] != "exec":
                return []  # docker build/run/stop...: left alone
            tokens = tokens[2:]
            while tokens and tokens[0].startswith("-"):
                takes_value = tokens[0] in ("-u", "--user", "-e", "--env", "-w", "--workdir")
                tokens = tokens[2:] if takes_value else tokens[1:]
            tokens = tokens[1:]  # the container
        else:
            return tokens
    return []


def commands(line: DocLine) -> list[list[str]]:
    """The ``triggerd``/``make``/``curl`` commands of a doc line, as argv lists."""
    tokens = _optional(_tokens(line.text))
    if line.mode == "synopsis":
        alternatives = _segments(tokens)
        if not alternatives:
            return []
        first = alternatives[0]
        prefix = first[: _group_depth(first) + 1]  # triggerd and its groups
        return [first, *[[*prefix, *alt] for alt in alternatives[1:]]]
    found = []
    for segment in _segments(tokens):
        argv = _program(segment)
        if len(argv) > 1 and (is_triggerd(argv[0]) or argv[0] in ("make", "curl")):
            found.append(argv)
    return found


def is_triggerd(program: str) -> bool:
    """`triggerd`, `.venv/bin/triggerd`, `/usr/local/bin/triggerd` (not `/etc/triggerd`)."""
    return program == "triggerd" or program.endswith("bin/triggerd")


def _group_depth(argv: list[str]) -> int:
    """How many group names follow ``triggerd`` in argv (1 for `triggerd schedules list`)."""
    command: click.Command = main
    depth = 0
    for token in argv[1:]:
        if not isinstance(command, click.Group) or token not in command.commands:
            break
        command = command.commands[token]
        depth += 1
    return max(depth - 1, 0) if not isinstance(command, click.Group) else depth


def all_doc_lines() -> list[DocLine]:
    return [line for path in DOCS for line in doc_lines(path) if commands(line)]


def _argv_of(program: str) -> list[tuple[DocLine, list[str]]]:
    return [
        (line, argv)
        for line in all_doc_lines()
        for argv in commands(line)
        if (is_triggerd(argv[0]) if program == "triggerd" else argv[0] == program)
    ]


def _ids(cases: list[tuple[DocLine, list[str]]]) -> list[str]:
    return [f"{line.file}:{line.line}:{' '.join(argv[:4])}" for line, argv in cases]


# ---- triggerd -------------------------------------------------------------------------------


def _sample(param: click.Parameter) -> str | None:
    """A value the parameter's type accepts, for a placeholder (None: keep the placeholder)."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, click.IntRange | click.FloatRange):
        low = kind.min if kind.min is not None else 1
        return str(low + 1 if kind.min_open else low)
    if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        return "1"
    if isinstance(kind, click.types.BoolParamType):
        return "true"
    if isinstance(kind, click.DateTime):
        return "2026-01-01"
    return None


def _option(command: click.Command, token: str) -> click.Option | None:
    name = token.split("=", 1)[0]
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def _fill(command: click.Command, args: list[str]) -> tuple[list[str], set[str]]:
    """``args`` with placeholders made sample values; the names of the params that got one."""
    out: list[str] = []
    placeholders: set[str] = set()
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    index = 0
    while index < len(args):
        token = args[index]
        option = _option(command, token) if token.startswith("-") else None
        if option is not None and not option.is_flag and "=" not in token:
            out.append(token)
            if index + 1 < len(args):
                value = args[index + 1]
                if PLACEHOLDER.fullmatch(value):
                    placeholders.add(str(option.name))
                    value = _sample(option) or value
                out.append(value)
            index += 2
            continue
        if not token.startswith("-") and arguments:
            argument = arguments.pop(0) if arguments[0].nargs == 1 else arguments[0]
            if PLACEHOLDER.fullmatch(token):
                placeholders.add(str(argument.name))
                token = _sample(argument) or token
        out.append(token)
        index += 1
    return out, placeholders


def check_triggerd(argv: list[str], *, inline: bool) -> None:
    """Parse argv with the real click app; raise AssertionError saying what does not exist."""
    command: click.Command = main
    ctx = click.Context(main, info_name="triggerd")
    rest = [t for t in argv[1:] if t != "..."]
    while isinstance(command, click.Group) and rest:
        head = rest[0]
        if head.startswith("-"):
            if _option(command, head) is None:
                raise AssertionError(f"`{' '.join(argv)}`: no option {head} of {command.name}")
            return  # --help, --version: the group itself answers
        names = head.split("|")  # `enable|disable NAME` in a synopsis
        for name in names[1:]:
            check_triggerd([*argv[: len(argv) - len(rest)], name, *rest[1:]], inline=inline)
        sub = command.get_command(ctx, names[0])
        if sub is None:
            raise AssertionError(
                f"`{' '.join(argv)}`: no command {names[0]!r} in {ctx.command_path!r} "
                f"(it has {', '.join(sorted(command.list_commands(ctx)))})"
            )
        command, rest = sub, rest[1:]
        ctx = click.Context(sub, info_name=names[0], parent=ctx)
    if isinstance(command, click.Group):
        return  # `triggerd schedules`: the group is named, nothing more
    args, placeholders = _fill(command, rest)
    for _ in range(len(args) + 1):
        try:
            command.make_context(str(ctx.info_name), list(args), parent=ctx.parent)
        except click.MissingParameter:
            if inline:
                return  # prose names the command without its arguments
            raise AssertionError(f"`{' '.join(argv)}`: a required argument is missing") from None
        except click.BadParameter as exc:
            if exc.param is not None and exc.param.name in placeholders:
                args = _without(args, exc.param)  # a placeholder only a callback could judge
                continue
            raise AssertionError(f"`{' '.join(argv)}`: {exc.format_message()}") from None
        except click.UsageError as exc:
            raise AssertionError(f"`{' '.join(argv)}`: {exc.format_message()}") from None
        return


def _without(args: list[str], param: click.Parameter) -> list[str]:
    if isinstance(param, click.Option):
        for index, token in enumerate(args):
            if token.split("=", 1)[0] in param.opts:
                return args[:index] + args[index + (1 if "=" in token else 2) :]
    return args


TRIGGERD = _argv_of("triggerd")


@pytest.mark.parametrize(("line", "argv"), TRIGGERD, ids=_ids(TRIGGERD))
def test_every_triggerd_command_in_the_docs_parses(line: DocLine, argv: list[str]) -> None:
    try:
        check_triggerd(argv, inline=line.mode == "inline")
    except AssertionError as exc:
        raise AssertionError(f"{line}\n{exc}") from None


def test_the_scan_finds_the_commands_a_newcomer_reads_first() -> None:
    found = {(line.file, " ".join(argv)) for line, argv in TRIGGERD}

    def has(file: str, start: str) -> bool:
        return any(f == file and text.startswith(start) for f, text in found)

    assert has("README.md", ".venv/bin/triggerd runs list")  # a sh block
    assert has("README.md", "triggerd validate --config config")  # inline
    assert has("README.md", "triggerd schedules disable NAME")  # a synopsis alternative
    assert has("README.md", "triggerd next NAME --count N --after ISO8601 --json")  # [optional]
    assert has("docs/operations.md", "triggerd runs show 17")  # console `$ ` with output
    assert has("docs/deploy/README.md", "triggerd runs list")  # after sudo -u x env V=1
    assert ("docs/operations.md", "triggerd runs list") in found  # after docker exec NAME
    assert len(TRIGGERD) > 50


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("triggerd runs lst", "no command 'lst'"),
        ("triggerd shedules list", "no command 'shedules'"),
        ("triggerd runs list --colour", "No such option"),
        ("triggerd runs list --status exploded", "'exploded' is not one of"),
        ("triggerd runs list --limit 0", "0 is not in the range"),
        ("triggerd next nightly --count many", "'many' is not a valid integer"),
        ("triggerd runs show 17 18", "unexpected extra argument"),
        ("triggerd runs show", "a required argument is missing"),
        ("triggerd runs list [--colour]", "No such option"),
        ("triggerd schedules list [--limit N]", "No such option"),
    ],
)
def test_the_check_fails_a_command_that_does_not_work(text: str, problem: str) -> None:
    [argv] = commands(DocLine("x.md", 1, text, "shell"))
    with pytest.raises(AssertionError, match=re.escape(problem)):
        check_triggerd(argv, inline=False)


@pytest.mark.parametrize(
    "text",
    [
        "triggerd runs show",  # inline prose may name a command without its arguments
        "triggerd runs retry ID",
        "triggerd runs list --status S --limit N",
        "triggerd schedules trigger NAME --param K=V",
        "triggerd next NAME [--count N] [--json]",
    ],
)
def test_placeholders_and_prose_pass(text: str) -> None:
    [argv] = commands(DocLine("x.md", 1, text, "inline"))
    check_triggerd(argv, inline=True)


def test_a_synopsis_checks_every_alternative() -> None:
    line = DocLine("x.md", 1, "triggerd schedules enable NAME | frobnicate NAME  # no", "synopsis")
    first, second = commands(line)
    check_triggerd(first, inline=False)
    assert second == ["triggerd", "schedules", "frobnicate", "NAME"]
    with pytest.raises(AssertionError, match="no command 'frobnicate'"):
        check_triggerd(second, inline=False)


# ---- make -----------------------------------------------------------------------------------


def makefile_targets() -> set[str]:
    targets: set[str] = set()
    for line in MAKEFILE.read_text("utf-8").splitlines():
        found = re.match(r"([^\s#:=$][^:=]*?)\s*::?(?!=)", line)
        if found and not line.startswith("\t"):
            targets.update(t for t in found[1].split() if not t.startswith("."))
    return targets


MAKE = _argv_of("make")


@pytest.mark.parametrize(("line", "argv"), MAKE, ids=_ids(MAKE))
def test_every_make_command_in_the_docs_names_a_target(line: DocLine, argv: list[str]) -> None:
    targets = [t for t in argv[1:] if not t.startswith("-") and "=" not in t]
    missing = sorted(set(targets) - makefile_targets())
    assert not missing, f"{line}\nno such target in the Makefile: {missing}"


def test_make_targets_are_found() -> None:
    assert {"run", "test", "install", "clean"} <= makefile_targets()
    assert "tset" not in makefile_targets()
    assert ("README.md", "make run") in {(line.file, " ".join(argv)) for line, argv in MAKE}


def test_make_run_runs_on_an_example_config_that_validates() -> None:
    recipe = MAKEFILE.read_text("utf-8").split("\nrun:", 1)[1].split("\n\n", 1)[0]
    found = re.search(r"triggerd run --config (\S+)", recipe)
    assert found, f"`make run` does not run the daemon on a --config:\n{recipe}"
    result = CliRunner().invoke(main, ["validate", "--config", str(REPO / found[1])])
    assert result.exit_code == 0, result.stderr


def _validate_commands() -> list[tuple[str, str]]:
    """Every `triggerd validate --config PATH` the docs and config/ comments give, PATH in the
    repository (a path like /etc/triggerd is the operator's, not ours)."""
    configs = [p for p in sorted((REPO / "config").rglob("*")) if p.suffix in (".yaml", ".yml")]
    found = set()
    for path in [*DOCS, *configs]:
        for match in re.finditer(r"triggerd validate --config ([\w./-]+)", path.read_text("utf-8")):
            if (REPO / match[1]).exists():
                found.add((str(path.relative_to(REPO)), match[1].rstrip(".")))
    return sorted(found)


@pytest.mark.parametrize(("where", "config"), _validate_commands())
def test_every_validate_command_the_docs_give_passes(where: str, config: str) -> None:
    result = CliRunner().invoke(main, ["validate", "--config", str(REPO / config)])
    assert result.exit_code == 0, f"{where}: triggerd validate --config {config}\n{result.stderr}"


def test_the_config_comments_point_at_configs_that_exist() -> None:
    configs = {config for _where, config in _validate_commands()}
    assert {"config", "config/examples", "config/examples/datastore-schedule.yaml"} <= configs


@pytest.mark.parametrize("folder", ["config", "config/examples"])
def test_the_example_configs_point_at_folders_of_the_checkout(folder: str) -> None:
    """A relative path is relative to its file: `../data/inbox` from config/examples/ would be
    config/data/inbox, which no checkout has."""
    config = load_config(REPO / folder)
    for name, datastore in config.datastores.items():
        if isinstance(datastore, LocalDatastore):
            assert datastore.path.resolve().is_dir(), f"{folder}: datastore {name}"
    for name, pipeline in config.pipelines.items():
        if isinstance(pipeline, CommandPipeline) and pipeline.cwd is not None:
            assert pipeline.cwd.resolve().is_dir(), f"{folder}: pipeline {name}"


def test_make_runs_jobs_exist_where_its_pipelines_run() -> None:
    for name, pipeline in load_config(REPO / "config").pipelines.items():
        assert isinstance(pipeline, CommandPipeline) and pipeline.cwd is not None, name
        assert (pipeline.cwd / pipeline.argv[1]).is_file(), f"pipeline {name}: {pipeline.argv}"


# ---- curl -----------------------------------------------------------------------------------

CURL = _argv_of("curl")


@pytest.fixture(scope="module")
def http() -> Iterator[HealthServer]:
    """The daemon's real HTTP server (healthy, ready, with its metrics) on a free port."""
    server = HealthServer(
        "127.0.0.1:0",
        health=lambda: (True, "alive"),
        ready=lambda: (True, "ready"),
        metrics=Metrics(process=False),
    )
    server.start()
    yield server
    server.stop()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _curl_paths(argv: list[str]) -> list[str]:
    return [m["path"] or "/" for t in argv[1:] if (m := _LOCAL_URL.fullmatch(t))]


@pytest.mark.parametrize(("line", "argv"), CURL, ids=_ids(CURL))
def test_every_curl_path_in_the_docs_is_served(
    http: HealthServer, line: DocLine, argv: list[str]
) -> None:
    paths = _curl_paths(argv)
    assert paths, f"{line}\nno localhost URL in it"
    for path in paths:
        status, _body = _get(http.url + path)
        assert status != 404, f"{line}\nthe HTTP server does not serve {path}"
    # `curl .../metrics | grep ^name`: the metric exists.
    segments = _segments(_tokens(line.text))
    greps = [s[-1].lstrip("^").split("{")[0] for s in segments[1:] if s[0] == "grep"]
    for name in greps:
        if "/metrics" in paths and re.fullmatch(r"[a-z_:]+", name):
            body = _get(http.url + "/metrics")[1]
            assert re.search(rf"^# HELP {name} ", body, re.M), f"{line}\nno metric {name}"


def test_the_curl_check_finds_the_probe_and_fails_a_wrong_path(http: HealthServer) -> None:
    assert any(_curl_paths(argv) == ["/healthz"] for _line, argv in CURL)
    assert _get(http.url + "/helthz")[0] == 404


def test_the_http_fixture_answers_as_the_daemon_does(http: HealthServer) -> None:
    assert _get(http.url + "/healthz") == (200, "ok: alive\n")


# ---- the README's config snippet --------------------------------------------------------------


def test_the_readme_config_snippet_validates_in_a_new_folder(tmp_path: Path) -> None:
    config = try_it(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{config}: ok (2 schedules, 2 pipelines, 1 datastores)\n"


def test_every_command_pipeline_of_the_snippet_says_where_it_runs() -> None:
    """Without `cwd`, `jobs/x.py` is looked up where the daemon was started, not beside the
    file: the snippet would validate and then fail at its first run."""
    pipelines = yaml.safe_load(config_snippet())["pipelines"]
    relative = {
        name: p for name, p in pipelines.items() if p["kind"] == "command" and "/" in p["argv"][1]
    }
    assert relative
    assert all(p.get("cwd") == "." for p in relative.values()), relative


def test_fenced_blocks_are_split_by_their_fences() -> None:
    text = "a\n```yaml\nx: 1\n```\nb\n```sh\nls\n```\n"
    assert fenced_blocks(text) == [("yaml", "x: 1\n"), ("sh", "ls\n")]
