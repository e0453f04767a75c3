"""The Hub emulator speaks the Hub's protocol where the real client depends on it: LFS uploads of large files,
`RateLimit` headers (and a budget), opaque tree cursors, and the bytes each request uploads.

Every test drives the REAL `huggingface_hub.HfApi` (2.x) over the emulator, so a protocol detail the client
relies on and the emulator gets wrong fails here rather than in a store test.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import get_session, parse_ratelimit_headers

from openasr_core.store.hub import HubStore, RetryPolicy
from testkit.factories import make_request
from testkit.hub_emulator import ENDPOINT, LFS_STORAGE, LFS_THRESHOLD, HubEmulator, git_blob_sha, lfs_pointer

REPO = "org/data"
BIG = bytes(range(256)) * (11_000_000 // 256)  # 11 MB: over the Hub's 10 MB limit for regular files


@pytest.fixture
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator()
    with emulator.installed():
        emulator.add_repo(REPO, {"README.md": b"# data\n"})
        yield emulator


def api() -> HfApi:
    return HfApi(endpoint=ENDPOINT, token="hf_test")


def routes(hub: HubEmulator) -> list[str]:
    """The routes asked since the last reset, without the client's once-per-process agent-harness lookup."""
    return [route for route, _, _ in hub.calls if route != "agent-harnesses"]


def commit_lines(hub: HubEmulator) -> list[dict]:
    """The ndjson lines of the last commit request (its body is what `bytes_in` counted for it)."""
    return [json.loads(line) for line in hub.last_body("commit").splitlines() if line.strip()]


# --- 1. LFS ------------------------------------------------------------------------------------------------


def test_a_file_over_10_mb_goes_through_lfs_and_reads_back(hub: HubEmulator, tmp_path: Path) -> None:
    assert len(BIG) > LFS_THRESHOLD
    sha256 = hashlib.sha256(BIG).hexdigest()
    hub.reset_counts()
    api().upload_file(path_or_fileobj=BIG, path_in_repo="data/big.bin", repo_id=REPO, repo_type="dataset")
    assert routes(hub) == ["preupload", "lfs-batch", "lfs-upload", "lfs-verify", "commit"]
    lines = commit_lines(hub)
    assert [line["key"] for line in lines] == ["header", "lfsFile"]  # the commit carries the sha256, not the bytes
    assert lines[1]["value"] == {"path": "data/big.bin", "algo": "sha256", "oid": sha256, "size": len(BIG)}
    assert hub.uploaded("lfs-upload") == len(BIG) and hub.uploaded("commit") < 1000
    assert hub.files(REPO)["data/big.bin"] == BIG and "data/big.bin" in hub.repo(REPO).lfs

    # Read back: resolve/ (with the LFS headers), hf_hub_download, tree, paths-info and repo info.
    url = f"{ENDPOINT}/datasets/{REPO}/resolve/main/data/big.bin"
    response = get_session().get(url)
    assert response.content == BIG and response.headers["ETag"] == f'"{sha256}"'
    assert response.headers["X-Linked-Size"] == str(len(BIG))
    path = hf_hub_download(REPO, "data/big.bin", repo_type="dataset", cache_dir=tmp_path, endpoint=ENDPOINT)
    assert Path(path).read_bytes() == BIG
    (entry,) = [e for e in api().list_repo_tree(REPO, "data", repo_type="dataset")]
    assert isinstance(entry, RepoFile) and entry.lfs is not None and entry.lfs.sha256 == sha256
    assert entry.size == len(BIG) and entry.blob_id == git_blob_sha(lfs_pointer(BIG))
    (info,) = api().get_paths_info(REPO, ["data/big.bin"], repo_type="dataset")
    assert isinstance(info, RepoFile) and info.lfs is not None and info.lfs.sha256 == sha256
    (readme,) = api().get_paths_info(REPO, ["README.md"], repo_type="dataset")
    assert isinstance(readme, RepoFile) and readme.lfs is None
    siblings = {s.rfilename: s for s in api().dataset_info(REPO, files_metadata=True).siblings or []}
    assert siblings["data/big.bin"].lfs is not None and siblings["data/big.bin"].lfs.sha256 == sha256


def test_lfs_objects_are_not_uploaded_twice_and_unchanged_files_are_dropped(hub: HubEmulator) -> None:
    client = api()
    client.upload_file(path_or_fileobj=BIG, path_in_repo="a.bin", repo_id=REPO, repo_type="dataset")
    hub.reset_counts()
    client.upload_file(path_or_fileobj=BIG, path_in_repo="copy.bin", repo_id=REPO, repo_type="dataset")
    assert routes(hub) == ["preupload", "lfs-batch", "commit"]  # the repo stores the object: no PUT
    commits = hub.commit_count(REPO)
    hub.reset_counts()
    client.upload_file(path_or_fileobj=BIG, path_in_repo="a.bin", repo_id=REPO, repo_type="dataset")
    # preupload names the stored file's sha256: the client still asks the batch API (it uploads before it
    # compares), then drops the unchanged file and reads the head instead of committing
    assert routes(hub) == ["preupload", "lfs-batch", "info"] and hub.commit_count(REPO) == commits


def test_a_file_that_shrinks_below_the_limit_is_regular_again_and_old_commits_keep_their_lfs(
    hub: HubEmulator,
) -> None:
    client = api()
    first = client.upload_file(path_or_fileobj=BIG, path_in_repo="f.bin", repo_id=REPO, repo_type="dataset")
    client.upload_file(path_or_fileobj=b"small", path_in_repo="f.bin", repo_id=REPO, repo_type="dataset")
    assert [line["key"] for line in commit_lines(hub)] == ["header", "file"]
    (now,) = client.get_paths_info(REPO, ["f.bin"], repo_type="dataset")
    (then,) = client.get_paths_info(REPO, ["f.bin"], repo_type="dataset", revision=first.oid)
    assert isinstance(now, RepoFile) and now.lfs is None and now.size == 5
    assert isinstance(then, RepoFile) and then.lfs is not None and then.size == len(BIG)


def test_a_commit_naming_an_lfs_object_never_uploaded_is_refused(hub: HubEmulator) -> None:
    operation = CommitOperationAdd(path_in_repo="ghost.bin", path_or_fileobj=BIG)
    operation._upload_mode = "lfs"
    operation._is_uploaded = True  # the client believes it uploaded it: it sends only the pointer
    with pytest.raises(HfHubHTTPError) as raised:
        api().create_commit(REPO, [operation], commit_message="ghost", repo_type="dataset")
    assert raised.value.response.status_code == 400 and "ghost.bin" not in hub.files(REPO)


def test_lfs_storage_refuses_unsigned_urls_and_wrong_bytes(hub: HubEmulator) -> None:
    oid = hashlib.sha256(b"x").hexdigest()
    unsigned = get_session().put(f"{LFS_STORAGE}/repos/dataset/{REPO}/{oid}?X-Amz-Signature=guess", content=b"x")
    assert unsigned.status_code == 403
    batch = get_session().post(
        f"{ENDPOINT}/datasets/{REPO}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": 1}]},
    )
    href = batch.json()["objects"][0]["actions"]["upload"]["href"]
    assert get_session().put(href, content=b"y").status_code == 400  # the bytes are not that object
    assert get_session().put(href, content=b"x").status_code == 200
    assert "RateLimit" not in get_session().put(href, content=b"x").headers  # storage is not the Hub


# --- 2. RateLimit --------------------------------------------------------------------------------------------


def test_every_answer_carries_ratelimit_headers_per_bucket(hub: HubEmulator) -> None:
    session = get_session()
    answers = [
        session.get(f"{ENDPOINT}/api/datasets/{REPO}"),
        session.get(f"{ENDPOINT}/api/datasets/{REPO}"),
        session.get(f"{ENDPOINT}/api/datasets/org/missing"),  # errors carry them too
        session.get(f"{ENDPOINT}/datasets/{REPO}/resolve/main/README.md"),
    ]
    infos = [parse_ratelimit_headers(a.headers) for a in answers]
    assert all(info is not None for info in infos)
    first, second, missing, resolved = infos
    assert first and second and missing and resolved
    assert answers[2].status_code == 404
    assert (first.resource_type, resolved.resource_type) == ("api", "resolvers")
    assert second.remaining == first.remaining - 1 and missing.remaining == first.remaining - 2
    assert resolved.remaining == first.remaining  # its own budget
    assert first.window_seconds == 300 and first.limit == first.remaining + 1 and 0 < first.reset_in_seconds <= 300


def test_a_budget_answers_429_until_the_window_resets() -> None:
    now = [1000.0]
    hub = HubEmulator(rate_limit=(3, 60), clock=lambda: now[0])
    with hub.installed():
        hub.add_repo(REPO, {"README.md": b"# data\n"})
        session, url, mine = get_session(), f"{ENDPOINT}/api/datasets/{REPO}", {"authorization": "Bearer hf_test"}
        assert [session.get(url, headers=mine).status_code for _ in range(4)] == [200, 200, 200, 429]
        refused = parse_ratelimit_headers(session.get(url, headers=mine).headers)
        assert refused is not None and refused.remaining == 0 and refused.reset_in_seconds == 20  # 1000 -> 1020
        assert session.get(url, headers={"authorization": "Bearer hf_other"}).status_code == 200  # per caller
        assert session.get(f"{ENDPOINT}/datasets/{REPO}/resolve/main/README.md", headers=mine).status_code == 200
        now[0] += 20
        assert [session.get(url, headers=mine).status_code for _ in range(4)] == [200, 200, 200, 429]
        # The client's own backoff (preupload, LFS, pagination use it) waits out the reset: recorded, not slept,
        # and the emulator's clock moves by what it waited.
        commit = api().upload_file(path_or_fileobj=b"hi", path_in_repo="hi.txt", repo_id=REPO, repo_type="dataset")
        assert commit.oid == hub.repo(REPO).head[0] and hub.sleeps == [61.0]  # t=60, and the client adds 1 s


def test_the_store_waits_the_reset_the_header_names() -> None:
    hub = HubEmulator(rate_limit={"api": (4, 30), "resolvers": (1000, 300)}, clock=lambda: 0.0)
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        hub.advance(seconds)

    with hub.installed():
        retry = RetryPolicy(attempts=4, base_delay_s=0.0, max_delay_s=60.0, sleep=sleep)
        store = HubStore("org/requests", "org/results", api=api(), create_repos=True, retry=retry)
        store.submit(make_request("req-1"))
    # create x2, refs, preupload: the budget of 4 is spent, the commit answers 429 with t=30, the store waits
    # exactly that and then the whole commit (preupload and commit) goes through in the next window.
    assert waited == [30.0]
    assert routes(hub)[-4:] == ["preupload", "commit", "preupload", "commit"]
    assert json.loads(hub.files("org/requests")["state.json"])["queue"][0]["request_id"] == "req-1"


# --- 3. tree pagination ---------------------------------------------------------------------------------------


def test_tree_pages_follow_opaque_cursors_that_cannot_be_guessed() -> None:
    hub = HubEmulator(page_size=3)
    with hub.installed():
        files = {f"d/f{i:02d}.txt": b"%d" % i for i in range(10)}
        hub.add_repo(REPO, files)
        hub.reset_counts()
        listed = [e.path for e in api().list_repo_tree(REPO, "d", repo_type="dataset")]
        assert listed == sorted(files) and hub.count("tree") == 4
        first = get_session().get(f"{ENDPOINT}/api/datasets/{REPO}/tree/main/d")
        next_url = first.links["next"]["url"]
        cursor = next_url.split("cursor=")[1]
        assert not cursor.isdigit() and "f02" not in cursor and len(cursor) > 20
        assert get_session().get(next_url).json()[0]["path"] == "d/f03.txt"
        for guess in ("3", cursor[:-2] + "AA"):
            bad = get_session().get(f"{ENDPOINT}/api/datasets/{REPO}/tree/main/d", params={"cursor": guess})
            assert bad.status_code == 400


def test_a_page_after_a_concurrent_commit_neither_repeats_nor_skips() -> None:
    hub = HubEmulator(page_size=3)
    with hub.installed():
        hub.add_repo(REPO, {f"f{i}.txt": b"x" for i in (1, 3, 5, 7, 9)})
        first = get_session().get(f"{ENDPOINT}/api/datasets/{REPO}/tree/main")
        assert [e["path"] for e in first.json()] == ["f1.txt", "f3.txt", "f5.txt"]
        hub.push(REPO, {"f0.txt": b"new", "f6.txt": b"new"})  # one before the cursor, one after
        second = get_session().get(first.links["next"]["url"])
        assert [e["path"] for e in second.json()] == ["f6.txt", "f7.txt", "f9.txt"]


def test_expanded_listings_page_by_50() -> None:
    hub = HubEmulator()
    with hub.installed():
        hub.add_repo(REPO, {f"f{i:03d}": b"x" for i in range(120)})
        hub.reset_counts()
        entries = list(api().list_repo_tree(REPO, repo_type="dataset", expand=True))
        assert len(entries) == 120 and hub.count("tree") == 3


# --- 4. bytes uploaded -----------------------------------------------------------------------------------------


def test_upload_bytes_are_counted_per_request_and_reset(hub: HubEmulator) -> None:
    hub.reset_counts()
    content = b"z" * 3000
    api().create_commit(
        REPO,
        [CommitOperationAdd(path_in_repo="z.txt", path_or_fileobj=content)],
        commit_message="z",
        repo_type="dataset",
    )
    commit_body = hub.last_body("commit")
    assert hub.uploaded("commit") == len(commit_body) > 4000  # base64 of the content, in the ndjson payload
    assert hub.bytes_in == hub.uploaded() == sum(size for _, size, _ in hub.traffic)
    assert hub.uploaded("preupload") > 0 and hub.bytes_out == sum(size for _, _, size in hub.traffic)
    api().upload_file(path_or_fileobj=BIG, path_in_repo="big.bin", repo_id=REPO, repo_type="dataset")
    assert hub.bytes_in > len(BIG)
    hub.reset_counts()
    assert (hub.bytes_in, hub.bytes_out, hub.calls, hub.traffic) == (0, 0, [], [])
    get_session().get(f"{ENDPOINT}/api/datasets/{REPO}")
    assert hub.bytes_in == 0 and hub.bytes_out > 0
