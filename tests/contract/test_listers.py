"""The lister contract, written once and run against a real folder and a real blob container.

Each test gets a ``place`` (a local directory or an Azurite container) that can write and delete
files and build listers on itself, so one assertion checks both datastores. Tests that only make
sense for one kind (symlinks, credentials) follow the contract suite.
"""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import (
    BlobClient,
    ContainerClient,
    ContainerSasPermissions,
    ExponentialRetry,
    generate_container_sas,
)

from tests.support.azurite import AzuriteServer
from triggerd.config.models import AzureBlobDatastore, LocalDatastore
from triggerd.datastores import local as local_module
from triggerd.datastores.azure_blob import AzureBlobLister, account_name
from triggerd.datastores.factory import build_lister
from triggerd.datastores.filters import FileFilter
from triggerd.datastores.listers import Lister
from triggerd.datastores.locate import Locator, locator
from triggerd.datastores.snapshot import Entry
from triggerd.errors import ListingError
from triggerd.runs import BoundFile

CONNECTION_ENV = "TRIGGERD_TEST_BLOB_CONNECTION"


class Place(Protocol):
    """A datastore the test can change: a directory or a blob container."""

    def lister(
        self, path_on_datastore: str | None = None, file_filter: FileFilter | None = None
    ) -> Lister:
        """A lister on this datastore (closed after the test)."""
        ...

    def missing_lister(self) -> Lister:
        """A lister whose folder (directory or container) does not exist."""
        ...

    def write(self, relative_path: str, data: bytes) -> None:
        """Create or overwrite; an overwrite always gets a new version."""
        ...

    def delete(self, relative_path: str) -> None: ...

    def locator(self) -> Locator:
        """Where this datastore's files are for a pipeline (``datastores/locate.py``)."""
        ...

    def read_located(self, location: str) -> bytes:
        """The content at a bound file's ``location``."""
        ...


@dataclass
class LocalPlace:
    root: Path
    opened: list[Lister] = field(default_factory=list)
    # Every write moves the file's mtime one second past the previous write: a rewrite always
    # gets a new version, without sleeping for the filesystem's timestamp granularity.
    clock_ns: int = 1_700_000_000 * 10**9

    def lister(
        self, path_on_datastore: str | None = None, file_filter: FileFilter | None = None
    ) -> Lister:
        datastore = LocalDatastore(kind="local", path=self.root)
        made = build_lister(datastore, path_on_datastore, file_filter or FileFilter())
        self.opened.append(made)
        return made

    def missing_lister(self) -> Lister:
        datastore = LocalDatastore(kind="local", path=self.root / "no-such-folder")
        return build_lister(datastore, "incoming", FileFilter())

    def write(self, relative_path: str, data: bytes) -> None:
        path = self.root / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.clock_ns += 10**9
        os.utime(path, ns=(self.clock_ns, self.clock_ns))

    def delete(self, relative_path: str) -> None:
        (self.root / relative_path).unlink()

    def locator(self) -> Locator:
        return locator("local", LocalDatastore(kind="local", path=self.root))

    def read_located(self, location: str) -> bytes:
        assert os.path.isabs(location)
        return Path(location).read_bytes()


@dataclass
class BlobPlace:
    server: AzuriteServer
    container: ContainerClient
    monkeypatch: pytest.MonkeyPatch
    opened: list[Lister] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.monkeypatch.setenv(CONNECTION_ENV, self.server.connection_string)

    def _datastore(self, container: str) -> AzureBlobDatastore:
        return AzureBlobDatastore(
            kind="azure_blob", container=container, connection_string_env=CONNECTION_ENV
        )

    def lister(
        self, path_on_datastore: str | None = None, file_filter: FileFilter | None = None
    ) -> Lister:
        made = build_lister(
            self._datastore(self.container.container_name),
            path_on_datastore,
            file_filter or FileFilter(),
        )
        self.opened.append(made)
        return made

    def missing_lister(self) -> Lister:
        made = build_lister(self._datastore("no-such-container"), "incoming", FileFilter())
        self.opened.append(made)
        return made

    def write(self, relative_path: str, data: bytes) -> None:
        self.container.upload_blob(relative_path, data, overwrite=True)

    def delete(self, relative_path: str) -> None:
        self.container.delete_blob(relative_path)

    def locator(self) -> Locator:
        return locator("blob", self._datastore(self.container.container_name))

    def read_located(self, location: str) -> bytes:
        assert location.startswith(self.server.account_url + "/")
        key = AzureNamedKeyCredential(self.server.account_name, self.server.account_key)
        with BlobClient.from_blob_url(location, credential=key) as blob:
            return blob.download_blob().readall()


@pytest.fixture(params=["local", "azure_blob"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalPlace | BlobPlace]:
    made: LocalPlace | BlobPlace
    if request.param == "local":
        made = LocalPlace(tmp_path / "datastore")
        made.root.mkdir()
    else:
        made = BlobPlace(
            request.getfixturevalue("azurite"),
            request.getfixturevalue("blob_container"),
            request.getfixturevalue("monkeypatch"),
        )
    yield made
    for opened in made.opened:
        opened.close()


def sizes(listing: dict[str, Entry]) -> dict[str, int]:
    return {key: entry.size for key, entry in listing.items()}


# --- the contract ---------------------------------------------------------------------------


def test_lists_the_files_in_the_folder_with_their_size(place: Place) -> None:
    place.write("incoming/a.csv", b"abc")
    place.write("incoming/empty.json", b"")

    listing = place.lister("incoming").list()

    assert sizes(listing) == {"incoming/a.csv": 3, "incoming/empty.json": 0}
    assert all(isinstance(e.version, str) and e.version for e in listing.values())


def test_an_empty_folder_lists_nothing(place: Place) -> None:
    place.write("incoming/sub/only-below.csv", b"x")

    assert place.lister("incoming").list() == {}


def test_does_not_recurse_into_sub_folders(place: Place) -> None:
    place.write("incoming/a.csv", b"a")
    place.write("incoming/sub/b.csv", b"b")
    place.write("incoming/sub/deeper/c.csv", b"c")

    assert list(place.lister("incoming").list()) == ["incoming/a.csv"]


def test_a_sibling_with_the_same_prefix_never_matches(place: Place) -> None:
    place.write("incoming/a.csv", b"a")
    place.write("incomingX.csv", b"x")
    place.write("incoming.csv", b"x")
    place.write("incoming2/a.csv", b"x")
    place.write("incoming_old/a.csv", b"x")

    assert list(place.lister("incoming").list()) == ["incoming/a.csv"]


def test_a_rewrite_gives_a_new_version_even_with_the_same_size(place: Place) -> None:
    place.write("incoming/a.csv", b"one")
    lister = place.lister("incoming")
    before = lister.list()["incoming/a.csv"]

    place.write("incoming/a.csv", b"two")
    after = lister.list()["incoming/a.csv"]

    assert after.size == before.size == 3
    assert after.version != before.version


def test_an_unchanged_file_keeps_its_version(place: Place) -> None:
    place.write("incoming/a.csv", b"a")
    place.write("incoming/b.csv", b"b")
    lister = place.lister("incoming")
    first = lister.list()

    place.write("incoming/b.csv", b"bb")
    second = lister.list()

    assert second["incoming/a.csv"] == first["incoming/a.csv"]
    assert second["incoming/b.csv"] != first["incoming/b.csv"]
    assert place.lister("incoming").list()["incoming/a.csv"] == first["incoming/a.csv"]


def test_a_deleted_file_disappears(place: Place) -> None:
    place.write("incoming/a.csv", b"a")
    place.write("incoming/b.csv", b"b")
    lister = place.lister("incoming")
    assert len(lister.list()) == 2

    place.delete("incoming/a.csv")

    assert list(lister.list()) == ["incoming/b.csv"]


def test_the_default_filter_skips_hidden_temporary_and_partial_files(place: Place) -> None:
    for name in [
        "a.csv",
        ".hidden.csv",
        "b.csv.tmp",
        "c.csv.partial",
        "d.csv._COPYING_",
        "e.csv_COPYING_",
        "~lock.csv",
    ]:
        place.write(f"incoming/{name}", b"x")

    assert list(place.lister("incoming").list()) == ["incoming/a.csv"]


def test_include_and_exclude_patterns_apply_to_the_name(place: Place) -> None:
    for name in ["a.csv", "b.json", "c.CSV", "skip-me.csv", "in.csv.tmp"]:
        place.write(f"csv/{name}", b"x")

    only_csv = FileFilter(include=["*.csv"], exclude=["skip-*"])

    assert list(place.lister("csv", only_csv).list()) == ["csv/a.csv"]
    everything = FileFilter(exclude=())
    assert len(place.lister("csv", everything).list()) == 5


def test_keys_include_a_nested_path_on_datastore(place: Place) -> None:
    place.write("raw/2024/a.csv", b"a")
    place.write("raw/2024/06/b.csv", b"b")

    assert list(place.lister("raw/2024").list()) == ["raw/2024/a.csv"]
    assert list(place.lister("/raw//2024/").list()) == ["raw/2024/a.csv"]


def test_without_path_on_datastore_the_root_is_listed(place: Place) -> None:
    place.write("top.csv", b"t")
    place.write("folder/inner.csv", b"i")

    assert list(place.lister(None).list()) == ["top.csv"]
    assert list(place.lister("/").list()) == ["top.csv"]


def test_path_on_datastore_cannot_leave_the_datastore(place: Place) -> None:
    with pytest.raises(ValueError, match=r"\.\."):
        place.lister("incoming/../../etc")


def test_a_listed_file_binds_where_a_pipeline_reads_it(place: Place) -> None:
    place.write("incoming/a b;c.csv", b"payload")
    lister = place.lister("incoming")
    (key,) = lister.list()

    bound = place.locator().bind(key)
    assert (bound.relative_path, place.read_located(bound.location)) == (key, b"payload")


def test_a_missing_folder_is_a_listing_error_with_a_reason(place: Place) -> None:
    lister = place.missing_lister()

    with pytest.raises(ListingError, match=r"does not exist|not found") as caught:
        lister.list()

    assert "no-such-" in str(caught.value)


def test_a_thousand_files_list_correctly(place: Place) -> None:
    expected = {f"bulk/f{i:04d}.csv": i % 7 for i in range(1000)}
    for key, size in expected.items():
        place.write(key, b"x" * size)
    place.write("bulk/sub/not-me.csv", b"x")

    assert sizes(place.lister("bulk").list()) == expected


def test_description_names_the_folder(place: Place) -> None:
    assert "incoming" in place.lister("incoming").description


def _change(place: Place, how: str) -> None:
    if how == "new file":
        place.write("incoming/c.csv", b"c")
    elif how == "rewrite, same size":
        place.write("incoming/a.csv", b"A")
    elif how == "deleted file":
        place.delete("incoming/a.csv")


@pytest.mark.parametrize("how", ["new file", "rewrite, same size", "deleted file"])
def test_list_if_changed_returns_the_new_listing_once_after_a_change(
    place: Place, how: str
) -> None:
    place.write("incoming/a.csv", b"a")
    place.write("incoming/b.csv", b"b")
    lister = place.lister("incoming")
    lister.list()
    assert lister.list_if_changed() is None
    assert lister.list_if_changed() is None

    _change(place, how)

    assert lister.list_if_changed() == place.lister("incoming").list()
    assert lister.list_if_changed() is None


def test_list_if_changed_starts_with_a_listing(place: Place) -> None:
    place.write("incoming/a.csv", b"a")
    lister = place.lister("incoming")

    assert lister.list_if_changed() == {"incoming/a.csv": lister.list()["incoming/a.csv"]}


def test_list_if_changed_of_a_missing_folder_is_a_listing_error(place: Place) -> None:
    with pytest.raises(ListingError):
        place.missing_lister().list_if_changed()


# --- local folders only ---------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalPlace]:
    made = LocalPlace(tmp_path / "datastore")
    (made.root / "incoming").mkdir(parents=True)
    yield made


def test_local_symlink_to_a_file_inside_the_folder_is_listed_with_its_target(
    local: LocalPlace,
) -> None:
    local.write("incoming/sub/real.csv", b"12345")
    (local.root / "incoming/link.csv").symlink_to("sub/real.csv")

    listing = local.lister("incoming").list()

    assert sizes(listing) == {"incoming/link.csv": 5}
    target = (local.root / "incoming/sub/real.csv").stat()
    assert listing["incoming/link.csv"].version == str(target.st_mtime_ns)


def test_local_symlinks_are_never_followed_out_of_the_folder(
    local: LocalPlace, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_bytes(b"secret")
    local.write("other/sibling.csv", b"x")
    local.write("incoming/real.csv", b"x")
    (local.root / "incoming/out.csv").symlink_to(outside)
    (local.root / "incoming/sibling.csv").symlink_to(local.root / "other/sibling.csv")
    (local.root / "incoming/dangling.csv").symlink_to(local.root / "incoming/gone.csv")
    (local.root / "incoming/loop.csv").symlink_to(local.root / "incoming/loop.csv")
    (local.root / "incoming/dir.csv").symlink_to(local.root / "other")

    assert list(local.lister("incoming").list()) == ["incoming/real.csv"]


def test_local_a_watched_folder_reached_through_a_symlink_works(
    local: LocalPlace, tmp_path: Path
) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "a.csv").write_bytes(b"a")
    (real / "target.csv").write_bytes(b"tt")
    (real / "link.csv").symlink_to(real / "target.csv")
    (local.root / "linked").symlink_to(real, target_is_directory=True)

    assert sizes(local.lister("linked").list()) == {
        "linked/a.csv": 1,
        "linked/target.csv": 2,
        "linked/link.csv": 2,
    }


def test_local_directories_and_special_files_are_skipped(local: LocalPlace) -> None:
    (local.root / "incoming/looks-like-a-file.csv").mkdir()
    os.mkfifo(local.root / "incoming/pipe.csv")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(local.root / "incoming/sock.csv"))
        assert local.lister("incoming").list() == {}


def test_local_version_is_the_mtime_in_nanoseconds(local: LocalPlace) -> None:
    local.write("incoming/a.csv", b"a")
    os.utime(local.root / "incoming/a.csv", ns=(1, 1_234_567_890_123_456_789))

    assert local.lister("incoming").list()["incoming/a.csv"] == Entry(1, "1234567890123456789")


def test_local_same_mtime_but_new_size_is_a_new_entry(local: LocalPlace) -> None:
    path = local.root / "incoming/a.csv"
    local.write("incoming/a.csv", b"a")
    lister = local.lister("incoming")
    first = lister.list()["incoming/a.csv"]

    path.write_bytes(b"abc")
    os.utime(path, ns=(local.clock_ns, local.clock_ns))

    assert lister.list()["incoming/a.csv"] == Entry(3, first.version)


class DeletingScandir:
    """os.scandir that deletes gone.csv after reading its entry, before its stat."""

    real_scandir = os.scandir

    def __init__(self, path: int | str) -> None:
        self.dir_fd = path if isinstance(path, int) else None  # the lister reads through one
        self.inner = DeletingScandir.real_scandir(path)

    def __enter__(self) -> Iterator[os.DirEntry[str]]:
        return self._entries()

    def _entries(self) -> Iterator[os.DirEntry[str]]:
        for entry in self.inner:
            if entry.name == "gone.csv":
                os.unlink(entry.path, dir_fd=self.dir_fd)
            yield entry

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


def test_local_a_file_deleted_while_listing_is_skipped(
    local: LocalPlace, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.write("incoming/a.csv", b"a")
    local.write("incoming/gone.csv", b"g")
    monkeypatch.setattr(local_module.os, "scandir", DeletingScandir)

    assert list(local.lister("incoming").list()) == ["incoming/a.csv"]


def test_local_a_file_deleted_while_checking_for_changes_is_listed_as_gone(
    local: LocalPlace, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.write("incoming/a.csv", b"a")
    local.write("incoming/gone.csv", b"g")
    lister = local.lister("incoming")
    assert len(lister.list()) == 2
    monkeypatch.setattr(local_module.os, "scandir", DeletingScandir)

    assert list(lister.list_if_changed() or {}) == ["incoming/a.csv"]
    monkeypatch.undo()
    assert lister.list_if_changed() is None


def test_local_a_renamed_file_with_the_same_size_and_mtime_is_a_change(local: LocalPlace) -> None:
    local.write("incoming/a.csv", b"a")
    lister = local.lister("incoming")
    before = lister.list()["incoming/a.csv"]

    os.rename(local.root / "incoming/a.csv", local.root / "incoming/b.csv")

    assert lister.list_if_changed() == {"incoming/b.csv": before}


def test_local_a_new_size_under_a_restored_mtime_is_a_change(local: LocalPlace) -> None:
    local.write("incoming/a.csv", b"a")
    lister = local.lister("incoming")
    lister.list()
    path = local.root / "incoming/a.csv"
    path.write_bytes(b"abc")
    os.utime(path, ns=(local.clock_ns, local.clock_ns))

    listing = lister.list_if_changed()

    assert listing is not None and listing["incoming/a.csv"].size == 3


def test_local_excluded_and_sub_folder_changes_relist_the_same_files(local: LocalPlace) -> None:
    local.write("incoming/a.csv", b"a")
    local.write("incoming/sub/b.csv", b"b")
    lister = local.lister("incoming", FileFilter(exclude=(".*",)))
    listing = lister.list()

    local.write("incoming/.hidden", b"h")
    assert lister.list_if_changed() == listing
    local.write("incoming/sub/c.csv", b"c")
    assert lister.list_if_changed() == listing
    assert lister.list_if_changed() is None


def test_local_a_symlinked_file_that_changes_behind_its_link_is_a_change(
    local: LocalPlace,
) -> None:
    local.write("incoming/sub/real.csv", b"1")
    (local.root / "incoming/link.csv").symlink_to("sub/real.csv")
    lister = local.lister("incoming")
    lister.list()

    local.write("incoming/sub/real.csv", b"2")  # the link's own entry does not change

    listing = lister.list_if_changed()
    target = (local.root / "incoming/sub/real.csv").stat()
    assert listing == {"incoming/link.csv": Entry(1, str(target.st_mtime_ns))}


def test_local_a_dangling_symlink_never_hides_a_change(local: LocalPlace) -> None:
    local.write("incoming/a.csv", b"a")
    (local.root / "incoming/dangling.csv").symlink_to("nowhere.csv")
    lister = local.lister("incoming")
    lister.list()

    local.write("incoming/a.csv", b"A")

    assert lister.list_if_changed() == place_listing(local)


def place_listing(local: LocalPlace) -> dict[str, Entry]:
    return local.lister("incoming").list()


def test_local_a_file_where_the_folder_should_be_is_a_listing_error(local: LocalPlace) -> None:
    local.write("incoming/a.csv", b"a")

    with pytest.raises(ListingError, match=r"incoming/a\.csv is not a directory"):
        local.lister("incoming/a.csv").list()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_local_an_unreadable_folder_is_a_listing_error(local: LocalPlace) -> None:
    folder = local.root / "incoming"
    folder.chmod(0)
    try:
        with pytest.raises(ListingError, match="permission denied"):
            local.lister("incoming").list()
    finally:
        folder.chmod(0o755)


def test_local_a_folder_that_comes_back_lists_again(local: LocalPlace) -> None:
    local.write("incoming/a.csv", b"a")
    lister = local.lister("incoming")
    assert len(lister.list()) == 1
    (local.root / "incoming/a.csv").unlink()
    (local.root / "incoming").rmdir()
    with pytest.raises(ListingError):
        lister.list()

    local.write("incoming/b.csv", b"b")

    assert list(lister.list()) == ["incoming/b.csv"]


def test_a_local_file_binds_to_an_absolute_path_even_for_a_relative_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("data/incoming").mkdir(parents=True)
    local = locator("inbox", LocalDatastore(kind="local", path=Path("data")))

    bound = local.bind("incoming/a b.csv")
    assert bound == BoundFile(
        "inbox",
        "incoming/a b.csv",
        str(tmp_path / "data/incoming/a b.csv"),
        (tmp_path / "data/incoming/a b.csv").as_uri(),
    )
    for outside in ("../etc/passwd", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            local.bind(outside)


# --- Azure Blob only ------------------------------------------------------------------------


@pytest.fixture
def key_file(tmp_path: Path, azurite: AzuriteServer) -> Path:
    path = tmp_path / "account-key"
    path.write_text(azurite.account_key + "\n")
    return path


def _account_key_datastore(azurite: AzuriteServer, container: str, **secret: Any) -> Any:
    return AzureBlobDatastore.model_validate(
        {
            "kind": "azure_blob",
            "container": container,
            "account_url": azurite.account_url,
            "credential": {"kind": "account_key", **secret},
        }
    )


def _list_once(datastore: AzureBlobDatastore, path_on_datastore: str | None = None) -> Any:
    lister = build_lister(datastore, path_on_datastore, FileFilter())
    try:
        return lister.list()
    finally:
        lister.close()


def test_blob_missing_connection_string_variable_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRIGGERD_TEST_NO_SUCH_VAR", raising=False)
    datastore = AzureBlobDatastore(
        kind="azure_blob", container="c", connection_string_env="TRIGGERD_TEST_NO_SUCH_VAR"
    )

    with pytest.raises(ListingError, match="TRIGGERD_TEST_NO_SUCH_VAR"):
        build_lister(datastore, None, FileFilter())


def test_blob_malformed_connection_string_does_not_echo_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CONNECTION_ENV, "not-a-connection-string-s3cr3t")
    datastore = AzureBlobDatastore(
        kind="azure_blob", container="c", connection_string_env=CONNECTION_ENV
    )

    with pytest.raises(ListingError, match=CONNECTION_ENV) as caught:
        build_lister(datastore, None, FileFilter())
    assert "s3cr3t" not in str(caught.value)


def test_blob_account_key_from_a_file(
    azurite: AzuriteServer, blob_container: ContainerClient, key_file: Path
) -> None:
    blob_container.upload_blob("incoming/a.csv", b"abc")
    datastore = _account_key_datastore(azurite, blob_container.container_name, file=key_file)

    assert sizes(_list_once(datastore, "incoming")) == {"incoming/a.csv": 3}


def test_blob_account_key_from_the_environment(
    azurite: AzuriteServer, blob_container: ContainerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob_container.upload_blob("a.csv", b"abc")
    monkeypatch.setenv("TRIGGERD_TEST_KEY", azurite.account_key)
    datastore = _account_key_datastore(
        azurite, blob_container.container_name, env="TRIGGERD_TEST_KEY"
    )

    assert sizes(_list_once(datastore)) == {"a.csv": 3}


def test_blob_missing_key_file_names_the_file(azurite: AzuriteServer, tmp_path: Path) -> None:
    datastore = _account_key_datastore(azurite, "c", file=tmp_path / "nope")

    with pytest.raises(ListingError, match=r"account key file .*nope"):
        build_lister(datastore, None, FileFilter())


def test_blob_wrong_key_is_an_authentication_error_without_the_key(
    azurite: AzuriteServer, blob_container: ContainerClient, tmp_path: Path
) -> None:
    wrong = base64.b64encode(b"definitely not the key of devstoreaccount1!").decode()
    (tmp_path / "wrong-key").write_text(wrong)
    datastore = _account_key_datastore(
        azurite, blob_container.container_name, file=tmp_path / "wrong-key"
    )

    with pytest.raises(ListingError, match="authentication failed") as caught:
        _list_once(datastore)
    assert wrong not in str(caught.value)
    assert wrong[:12] not in str(caught.value)


def _container_sas(azurite: AzuriteServer, container: str, permission: str = "rl") -> str:
    return generate_container_sas(
        azurite.account_name,
        container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions.from_string(permission),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


def test_blob_sas_token_works_and_never_shows(
    azurite: AzuriteServer, blob_container: ContainerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob_container.upload_blob("incoming/a.csv", b"abc")
    sas = _container_sas(azurite, blob_container.container_name)
    monkeypatch.setenv("TRIGGERD_TEST_SAS", "?" + sas)
    datastore = AzureBlobDatastore.model_validate(
        {
            "kind": "azure_blob",
            "container": blob_container.container_name,
            "account_url": azurite.account_url,
            "credential": {"kind": "sas_token", "env": "TRIGGERD_TEST_SAS"},
        }
    )
    lister = build_lister(datastore, "incoming", FileFilter())
    try:
        assert sizes(lister.list()) == {"incoming/a.csv": 3}
        url = locator("blob", datastore).bind("incoming/a.csv").location
        assert "sig=" not in url and "sig=" not in lister.description
        assert url == f"{azurite.account_url}/{blob_container.container_name}/incoming/a.csv"
    finally:
        lister.close()


def test_blob_rejected_sas_is_an_error_without_the_token(
    azurite: AzuriteServer, blob_container: ContainerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sas = _container_sas(azurite, blob_container.container_name, permission="r")  # no list
    monkeypatch.setenv("TRIGGERD_TEST_SAS", sas)
    datastore = AzureBlobDatastore.model_validate(
        {
            "kind": "azure_blob",
            "container": blob_container.container_name,
            "account_url": azurite.account_url,
            "credential": {"kind": "sas_token", "env": "TRIGGERD_TEST_SAS"},
        }
    )

    with pytest.raises(ListingError) as caught:
        _list_once(datastore)
    signature = next(p for p in sas.split("&") if p.startswith("sig=")).removeprefix("sig=")
    assert signature not in str(caught.value)
    assert "403" in str(caught.value)


def test_blob_unreachable_endpoint_is_a_listing_error(azurite: AzuriteServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    connection = azurite.connection_string.replace(str(azurite.port), str(closed_port))
    container = ContainerClient.from_connection_string(
        connection, "c", retry_policy=ExponentialRetry(retry_total=0), connection_timeout=5
    )
    lister = AzureBlobLister(container, "incoming", FileFilter())
    try:
        with pytest.raises(ListingError, match="cannot reach") as caught:
            lister.list()
    finally:
        lister.close()
    assert azurite.account_key not in str(caught.value)
    assert "Connection refused" in str(caught.value)


def test_blob_folder_marker_blobs_are_not_files(blob_container: ContainerClient) -> None:
    blob_container.upload_blob("incoming/", b"")  # what Storage Explorer's "new folder" leaves
    blob_container.upload_blob("incoming/a.csv", b"a")
    lister = AzureBlobLister(blob_container, "incoming", FileFilter())

    assert list(lister.list()) == ["incoming/a.csv"]


def test_blob_version_is_the_etag_without_quotes(blob_container: ContainerClient) -> None:
    blob_container.upload_blob("a.csv", b"a")
    etag = blob_container.get_blob_client("a.csv").get_blob_properties().etag
    lister = AzureBlobLister(blob_container, None, FileFilter())

    assert lister.list() == {"a.csv": Entry(1, etag.strip('"'))}


def test_blob_default_credential_needs_https(azurite: AzuriteServer) -> None:
    datastore = AzureBlobDatastore.model_validate(
        {"kind": "azure_blob", "container": "c", "account_url": azurite.account_url}
    )

    with pytest.raises(ListingError, match="HTTPS"):
        build_lister(datastore, None, FileFilter())


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://myaccount.blob.core.windows.net", "myaccount"),
        ("https://myaccount.blob.core.windows.net/", "myaccount"),
        ("http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1"),
        ("http://localhost:10000/devstoreaccount1/", "devstoreaccount1"),
        ("https://acct.privatelink.blob.core.windows.net", "acct"),
    ],
)
def test_account_name_from_account_url(url: str, name: str) -> None:
    assert account_name(url) == name


ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
CONNECTIONS = [
    "UseDevelopmentStorage=true",
    f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
    f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={ACCOUNT_KEY};"
    "EndpointSuffix=core.windows.net",
    f"AccountName=acct;AccountKey={ACCOUNT_KEY}",  # no protocol, no suffix: the SDK's defaults
    "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=SECRET",
]
NAMES = ["in/a.csv", "in/a b#?%é~.csv", "in/semi;colon+plus&amp=.csv", "deep/er/ünï/x.bin"]


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("name", NAMES)
def test_a_blob_binds_to_the_url_the_sdk_gives_it_without_a_client_or_a_secret(
    connection: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The locator builds the URL itself (no container client, no credential), so it must say
    what azure-storage-blob's own BlobClient.url says, less the SAS."""
    monkeypatch.setenv(CONNECTION_ENV, connection)
    datastore = AzureBlobDatastore(
        kind="azure_blob", container="raw-data", connection_string_env=CONNECTION_ENV
    )
    with ContainerClient.from_connection_string(connection, "raw-data") as container:
        expected = container.get_blob_client(name).url.split("?", 1)[0]
    bound = locator("lake", datastore).bind(name)
    assert (bound.location, bound.uri) == (expected, expected)
    assert "SECRET" not in bound.location and ACCOUNT_KEY not in bound.location


@pytest.mark.parametrize(
    ("account_url", "base"),
    [
        ("https://acct.blob.core.windows.net", "https://acct.blob.core.windows.net"),
        ("https://acct.blob.core.windows.net/", "https://acct.blob.core.windows.net"),
        ("https://acct.blob.core.windows.net/?sv=1&sig=SECRET", "https://acct.blob.core.windows.net"),
        ("http://user:PASS@127.0.0.1:10000/devstoreaccount1", "http://***@127.0.0.1:10000/devstoreaccount1"),
    ],
)  # fmt: skip
def test_an_account_url_binds_without_its_sas_or_user_info(account_url: str, base: str) -> None:
    datastore = AzureBlobDatastore(kind="azure_blob", container="raw", account_url=account_url)
    assert locator("lake", datastore).bind("in/a b.csv").location == f"{base}/raw/in/a%20b.csv"
