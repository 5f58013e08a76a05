"""The blob lister's raw-XML listing (``blob_pages``) against the SDK's own ``walk_blobs``.

Each test lists the same prefix of a real Azurite container both ways, page by page, and
compares what the two return: names, sizes, ETags, last-modified, sub-folders and the
continuation markers. Names the service percent-encodes (``<Name Encoded="true">``) cannot be
made with Azurite (it answers such a listing with a 500, see below), so that path is compared
with the SDK's own deserializer on the XML the service documents.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree

import pytest
from azure.core.exceptions import DecodeError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    BlobPrefix,
    ContainerClient,
    ContainerSasPermissions,
    generate_container_sas,
)
from azure.storage.blob._generated._utils import serialization
from azure.storage.blob._list_blobs_helper import BlobPrefixPaged
from structlog.testing import capture_logs

from tests.support.azurite import AzuriteServer
from triggerd.datastores import blob_pages
from triggerd.datastores.azure_blob import AzureBlobLister
from triggerd.datastores.blob_pages import FolderPages, parse_page
from triggerd.datastores.filters import FileFilter
from triggerd.errors import ListingError

Page = tuple[list[tuple[str, int, str, datetime]], list[str], str]


def sdk_pages(
    container: ContainerClient, prefix: str | None, size: int | None = None
) -> list[Page]:
    """``walk_blobs`` page by page: (blobs, sub-folders, the next page's marker)."""
    pages: Any = container.walk_blobs(prefix, delimiter="/", results_per_page=size).by_page()
    found: list[Page] = []
    for page in pages:
        blobs, prefixes = [], []
        for item in page:
            if isinstance(item, BlobPrefix):
                prefixes.append(item.name)
            else:
                blobs.append((item.name, item.size, item.etag, item.last_modified))
        found.append((blobs, prefixes, pages.continuation_token or ""))
    return found


def our_pages(
    container: ContainerClient, prefix: str | None, size: int | None = None
) -> list[Page]:
    pages = FolderPages(container)
    assert pages.reads_xml
    return [
        (
            [(b.name, b.size, b.etag, parsedate_to_datetime(b.last_modified)) for b in page.blobs],
            page.prefixes,
            page.next_marker,
        )
        for page in pages(prefix, page_size=size)
    ]


def upload(container: ContainerClient, *names: str) -> None:
    for i, name in enumerate(names):
        container.upload_blob(name, b"x" * (i + 1), overwrite=True)


def names_of(pages: list[Page]) -> list[str]:
    return [blob[0] for page in pages for blob in page[0]]


def test_a_folder_with_sub_folders_lists_as_walk_blobs(blob_container: ContainerClient) -> None:
    upload(
        blob_container,
        "in/a.csv",
        "in/b.csv",
        "in/",  # a folder marker blob
        "in/sub/x.csv",
        "in/sub/deeper/y.csv",
        "in/sub2/z.csv",
        "in2/a.csv",
        "inX.csv",
        "root.csv",
    )

    ours = our_pages(blob_container, "in/")
    assert ours == sdk_pages(blob_container, "in/")
    assert names_of(ours) == ["in/", "in/a.csv", "in/b.csv"]
    assert ours[0][1] == ["in/sub/", "in/sub2/"]
    assert [blob[1] for blob in ours[0][0]] == [3, 1, 2]
    root = our_pages(blob_container, None)
    assert root == sdk_pages(blob_container, None)
    assert names_of(root) == ["inX.csv", "root.csv"] and root[0][1] == ["in/", "in2/"]


NAMES = [
    "in/a b.csv",
    "in/ünïcødé.csv",
    "in/日本語.csv",
    "in/emoji😀.csv",
    "in/<tag>&amp;'\".csv",
    "in/100%.csv",
    "in/%41%2F.csv",
    "in/a+b=c;d,e.csv",
    "in/#hash?q.csv",
    "in/tab\there.csv",
    "in/cr\rhere.csv",
    "in/del\x7fhere.csv",
    "in/nel\x85here.csv",
]


def test_names_xml_and_urls_treat_specially_list_as_walk_blobs(
    blob_container: ContainerClient,
) -> None:
    upload(blob_container, *NAMES)

    ours = our_pages(blob_container, "in/")
    assert ours == sdk_pages(blob_container, "in/")
    assert sorted(names_of(ours)) == sorted(NAMES)


def test_a_name_xml_cannot_carry_fails_or_lists_as_walk_blobs(azurite: AzuriteServer) -> None:
    """Azure sends such a name percent-encoded (``Encoded="true"``). Azurite 3.37 stores it but
    answers the listing with 500: then both fail the same way, and the lister's reason is the
    one ``walk_blobs`` gives; should a later Azurite list it, both must list the same."""
    with ContainerClient.from_connection_string(
        azurite.connection_string, "t-unencodable", retry_total=0
    ) as container:
        container.create_container()
        try:
            upload(container, "in/ok.csv", "in/a\x01b.csv", "in/c\ufffed.csv")
            try:
                expected = sdk_pages(container, "in/")
            except HttpResponseError as sdk_error:
                with pytest.raises(HttpResponseError) as caught:
                    our_pages(container, "in/")
                assert type(caught.value) is type(sdk_error)
                assert caught.value.status_code == sdk_error.status_code
                assert caught.value.error_code == sdk_error.error_code
                lister = AzureBlobLister(container, "in", FileFilter())
                with pytest.raises(ListingError) as listing_error:
                    lister.list()
                assert str(listing_error.value) == lister._reason(sdk_error)  # walk_blobs' reason
                assert str(listing_error.value).startswith("listing failed (")
            else:
                assert our_pages(container, "in/") == expected
        finally:
            container.delete_container()


@pytest.mark.parametrize(("count", "size"), [(10, 3), (9, 3), (3, 3), (1, 1), (7, 1)])
def test_pages_follow_the_next_marker_as_walk_blobs(
    blob_container: ContainerClient, count: int, size: int
) -> None:
    """More than one page, and a page boundary exactly at the end (9 blobs in pages of 3)."""
    upload(blob_container, *(f"in/f{i:02d}.csv" for i in range(count)))

    ours = our_pages(blob_container, "in/", size)
    assert ours == sdk_pages(blob_container, "in/", size)
    assert names_of(ours) == [f"in/f{i:02d}.csv" for i in range(count)]
    assert all(len(page[0]) <= size for page in ours)
    assert len(ours) >= -(-count // size)
    assert ours[-1][2] == "" and all(page[2] for page in ours[:-1])


def test_sub_folders_take_their_place_in_a_page_as_in_walk_blobs(
    blob_container: ContainerClient,
) -> None:
    upload(blob_container, "in/a.csv", "in/s1/x.csv", "in/b.csv", "in/s2/x", "in/c", "in/s3/")

    ours = our_pages(blob_container, "in/", 2)
    assert ours == sdk_pages(blob_container, "in/", 2)
    assert sorted(p for page in ours for p in page[1]) == ["in/s1/", "in/s2/", "in/s3/"]
    assert names_of(ours) == ["in/a.csv", "in/b.csv", "in/c"]


def test_an_empty_container_is_one_empty_last_page(blob_container: ContainerClient) -> None:
    assert our_pages(blob_container, None) == sdk_pages(blob_container, None) == [([], [], "")]


def test_a_prefix_with_no_blobs_is_one_empty_last_page(blob_container: ContainerClient) -> None:
    upload(blob_container, "in/a.csv", "nothingness.csv", "nothing")

    assert our_pages(blob_container, "nothing/") == [([], [], "")]
    assert our_pages(blob_container, "nothing/") == sdk_pages(blob_container, "nothing/")


def test_a_missing_container_raises_as_walk_blobs_and_the_lister_says_so(
    azurite: AzuriteServer,
) -> None:
    with ContainerClient.from_connection_string(
        azurite.connection_string, "no-such-container"
    ) as missing:
        with pytest.raises(ResourceNotFoundError) as sdk_error:
            sdk_pages(missing, "in/")
        with pytest.raises(ResourceNotFoundError) as caught:
            our_pages(missing, "in/")
        assert caught.value.error_code == sdk_error.value.error_code == "ContainerNotFound"
        lister = AzureBlobLister(missing, "in", FileFilter())
        for attempt in (lister.list, lister.probe):
            with pytest.raises(ListingError) as listing_error:
                attempt()
            assert str(listing_error.value) == (
                f"container 'no-such-container' not found ({lister.description})"
            )


def test_a_refused_listing_has_the_status_and_error_code_walk_blobs_has(
    azurite: AzuriteServer, blob_container: ContainerClient
) -> None:
    sas = generate_container_sas(
        azurite.account_name,
        blob_container.container_name,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True),  # no list
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    url = f"{azurite.account_url}/{blob_container.container_name}"
    with ContainerClient.from_container_url(url, credential=sas) as refused:
        with pytest.raises(HttpResponseError) as sdk_error:
            sdk_pages(refused, None)
        with pytest.raises(HttpResponseError) as caught:
            our_pages(refused, None)
        assert type(caught.value) is type(sdk_error.value)
        assert caught.value.status_code == sdk_error.value.status_code == 403
        assert caught.value.error_code == sdk_error.value.error_code is not None
        lister = AzureBlobLister(refused, None, FileFilter())
        with pytest.raises(ListingError) as listing_error:
            lister.list()
        assert f"): 403 {sdk_error.value.error_code}; check the credential" in str(
            listing_error.value
        )


def test_the_sdk_builds_no_listing_model(
    blob_container: ContainerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of ``blob_pages``, and a loud failure if the SDK changes shape: the generated
    operation is there, takes ``cls`` and builds no model once its deserializer is wrapped."""
    upload(blob_container, "in/a.csv", "in/sub/b.csv")
    built: list[str] = []
    original = serialization.Deserializer.__call__

    def spy(self: Any, target: Any, data: Any, content_type: Any = None) -> Any:
        built.append(target)
        return original(self, target, data, content_type)

    monkeypatch.setattr(serialization.Deserializer, "__call__", spy)
    pages = FolderPages(blob_container)
    assert pages.reads_xml, "azure-storage-blob changed shape: blob_pages lists via walk_blobs"
    assert [b.name for page in pages("in/") for b in page.blobs] == ["in/a.csv"]
    assert "ListBlobsHierarchySegmentResponse" not in built
    assert "str" in built  # the operation's headers still go through the deserializer
    sdk_pages(blob_container, "in/")
    assert "ListBlobsHierarchySegmentResponse" in built  # the spy sees what walk_blobs builds


def test_without_the_private_sdk_parts_the_fallback_lists_the_same(
    blob_container: ContainerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(blob_container, *(f"in/f{i}.csv" for i in range(5)), "in/sub/x.csv", *NAMES[:4])
    fast = our_pages(blob_container, "in/", 3)
    monkeypatch.delattr(ContainerClient, "_build_generated_client")
    with capture_logs() as logs:
        fallback = FolderPages(blob_container)

    assert not fallback.reads_xml
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("blob_listing.sdk_fallback", "warning")
    ]
    walked = [
        (
            [(b.name, b.size, b.etag, parsedate_to_datetime(b.last_modified)) for b in page.blobs],
            page.prefixes,
            page.next_marker,
        )
        for page in fallback("in/", page_size=3)
    ]
    assert walked == fast == sdk_pages(blob_container, "in/", 3)


def test_a_lister_over_many_pages_lists_as_over_one(blob_container: ContainerClient) -> None:
    upload(
        blob_container,
        "in/",
        *(f"in/f{i}.csv" for i in range(7)),
        "in/.hidden",
        "in/x.tmp",
        "in/sub/a.csv",
        "in/sub2/",
    )
    one = AzureBlobLister(blob_container, "in", FileFilter())
    many = AzureBlobLister(blob_container, "in", FileFilter(), page_size=2)

    assert many.list() == one.list()
    assert many.ignored == one.ignored
    assert set(one.list()) == {f"in/f{i}.csv" for i in range(7)}
    assert set(one.ignored) == {"in/.hidden", "in/x.tmp", "in/sub", "in/sub2"}


# --- the XML the service sends that Azurite cannot make -----------------------------------------

SERVICE_XML = """<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="https://acct.blob.core.windows.net/" ContainerName="c">
  <Prefix>in/</Prefix><Marker /><MaxResults>5000</MaxResults><Delimiter>/</Delimiter>
  <Blobs>
    <BlobPrefix><Name Encoded="true">in/sub%EF%BF%BE/</Name></BlobPrefix>
    <BlobPrefix><Name>in/plain%41/</Name></BlobPrefix>
    <Blob>
      <Name Encoded="true">in/a%01b%20c.csv</Name>
      <Properties>
        <Creation-Time>Mon, 30 Nov 2026 10:00:00 GMT</Creation-Time>
        <Last-Modified>Tue, 01 Dec 2026 18:19:39 GMT</Last-Modified>
        <Etag>0x8DD1234567890AB</Etag>
        <Content-Length>12345678901</Content-Length>
        <Content-Type>text/csv</Content-Type>
        <BlobType>BlockBlob</BlobType>
        <ResourceType>file</ResourceType>
      </Properties>
      <OrMetadata />
    </Blob>
    <Blob>
      <Name Encoded="TRUE">in/%E6%97%A5%25.csv</Name>
      <Properties>
        <Last-Modified>Wed, 02 Dec 2026 00:00:01 GMT</Last-Modified>
        <Etag>"0x8DD0000000000FF"</Etag>
        <Content-Length>0</Content-Length>
        <BlobType>AppendBlob</BlobType>
      </Properties>
    </Blob>
    <Blob>
      <Name Encoded="false">in/100%25 literal.csv</Name>
      <Properties>
        <Last-Modified>Thu, 03 Dec 2026 23:59:59 GMT</Last-Modified>
        <Etag>0x8DD0000000000AA</Etag>
        <Content-Length>7</Content-Length>
        <BlobType>PageBlob</BlobType>
      </Properties>
    </Blob>
  </Blobs>
  <NextMarker>2!88!MDAwMDIxIWluL2EuY3N2ITAwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--</NextMarker>
</EnumerationResults>"""


def test_service_xml_reads_as_the_sdk_reads_it() -> None:
    root = ElementTree.fromstring(SERVICE_XML)
    with ContainerClient("https://acct.blob.core.windows.net", "c") as client:
        model = client._client.container._deserialize("ListBlobsHierarchySegmentResponse", root)
    pager = BlobPrefixPaged(lambda **_: (None, model), container="c", prefix="in/")
    items = list(next(pager))  # its first page (the fake command answers every page alike)
    page = parse_page(root)

    assert page.prefixes == [i.name for i in items if isinstance(i, BlobPrefix)]
    assert page.prefixes == ["in/sub\ufffe/", "in/plain%41/"]
    assert [
        (b.name, b.size, b.etag, parsedate_to_datetime(b.last_modified)) for b in page.blobs
    ] == [(i.name, i.size, i.etag, i.last_modified) for i in items if not isinstance(i, BlobPrefix)]
    assert [b.name for b in page.blobs] == [
        "in/a\x01b c.csv",
        "in/日%.csv",
        "in/100%25 literal.csv",
    ]
    assert page.blobs[0].size == 12345678901
    assert page.next_marker == model.next_marker and page.next_marker.startswith("2!88!")


@pytest.mark.parametrize(
    "item",
    [
        "<Blob><Properties><Content-Length>1</Content-Length></Properties></Blob>",
        "<Blob><Name>a</Name></Blob>",
        "<Blob><Name>a</Name><Properties><Etag>0x1</Etag></Properties></Blob>",
        "<Blob><Name>a</Name><Properties><Content-Length>-1</Content-Length></Properties></Blob>",
        "<BlobPrefix />",
    ],
)
def test_an_item_the_service_never_sends_is_a_decode_error(item: str) -> None:
    root = ElementTree.fromstring(f"<EnumerationResults><Blobs>{item}</Blobs></EnumerationResults>")

    with pytest.raises(DecodeError, match="unexpected List Blobs response"):
        parse_page(root)


def test_a_page_without_blobs_or_marker_is_an_empty_last_page() -> None:
    page = parse_page(ElementTree.fromstring("<EnumerationResults />"))

    assert page == ([], [], "")


def test_a_response_that_is_not_xml_is_a_decode_error() -> None:
    response = SimpleNamespace(context={"deserialized_data": "not a tree"}, http_response=None)

    with pytest.raises(DecodeError, match="not XML"):
        blob_pages._tree(response, None, {})
