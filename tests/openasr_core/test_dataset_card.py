"""The results dataset card and consolidated table: pandas and `datasets` read them as the card promises."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from openasr_core import layout
from openasr_core.board_files import BoardFiles, open_store
from openasr_core.config import load_config
from openasr_core.dataset_card import (
    AUDIT_COLUMNS,
    AUDITS_TABLE_FILE,
    CARD_FILE,
    CLAIMS_COLUMNS,
    CLAIMS_DTYPES,
    LEAD_COLUMNS,
    RESULT_FIELDS,
    TAIL_COLUMNS,
    CardInfo,
    board_columns,
    column_dtype,
    parse_front_matter,
    render_card,
    table_shard,
)
from openasr_core.records import AuditRecord, Compute, DatasetScore, ModelInfo, Result, Status, ThroughputResult
from openasr_core.signing import generate_keypair, sign_result
from openasr_core.store.repo_files import results_files
from openasr_core.table_columns import Column, column_dtypes
from openasr_core.throughput_table import THROUGHPUT_COLUMNS, THROUGHPUT_TABLE
from tests.openasr_core.store_contract import ROWS, make_request, make_result


def results() -> list[Result]:
    first = make_result(make_request(1)).replace(
        model=ModelInfo(license="mit", parameters=39_000_000, architecture="WhisperForConditionalGeneration")
    )
    second = make_result(make_request(2))
    extra = DatasetScore(**{**second.datasets["set"].to_dict(), "wer": 0.25, "wer_ci95": (0.2, 0.3)})
    second = second.replace(datasets={**second.datasets, "other": extra})
    return [second, first]


@pytest.fixture
def info() -> CardInfo:
    return CardInfo(
        leaderboard_version="esb-v1",
        eval_sets=("set", "other"),
        rules={"gpu_class": "A10G", "max_rtf": 1.0},
        public_key=generate_keypair()[1],
        results_repo="board/results",
        requests_repo="board/requests",
    )


def test_table_has_one_flat_row_per_result_and_pandas_reads_it() -> None:
    table = pd.read_csv(io.StringIO(table_shard(results())))
    assert list(table["request_id"]) == ["req-0001", "req-0002"]  # deterministic order
    assert list(table.columns[:10]) == list(LEAD_COLUMNS)
    assert {"wer_set", "wer_other", *TAIL_COLUMNS} <= set(table.columns)
    assert table.loc[0, "params"] == 39_000_000 and table.loc[0, "license"] == "mit"
    assert pd.isna(table.loc[0, "wer_other"]) and table.loc[1, "wer_other"] == 0.25
    assert table["official"].dtype == bool and table.loc[0, "result_file"] == layout.result_path("req-0001")


def test_table_has_the_compute_columns_and_verify_agrees_with_them(tmp_path: Path) -> None:
    from evaluator.verify import Report, check_tables

    jobs = Compute(
        flavor="a10g-small", gpu_seconds=5400.5, price_usd_per_minute=0.016667, price_date="2026-11-27", cost_usd=1.5
    )
    second, first = results()
    records = [first.replace(compute=jobs), second]  # the second was recorded before `compute` existed
    path = tmp_path / "table.csv"
    path.write_text(table_shard(records))
    table = pd.read_csv(path)
    assert table.loc[0, "compute_flavor"] == "a10g-small" and table.loc[0, "gpu_seconds"] == 5400.5
    assert table.loc[0, "cost_usd"] == 1.5 and table.loc[0, "price_usd_per_minute"] == 0.016667
    assert table.loc[0, "price_date"] == "2026-11-27"
    assert table.loc[1, ["compute_flavor", "gpu_seconds", "cost_usd", "price_date"]].isna().all()
    report = Report()
    check_tables([path], {r.request_id: r for r in records}, tmp_path, report)
    assert report.ok, report.problems
    path.write_text(path.read_text().replace(",1.5,", ",0.5,"))  # a cheaper cost than the signed record's
    check_tables([path], {r.request_id: r for r in records}, tmp_path, report)
    assert [p.what for p in report.problems] == ["cost_usd differ from the signed record of req-0001"]


def test_front_matter_parses_with_configs_and_public_key(info: CardInfo) -> None:
    meta = parse_front_matter(render_card(info))
    default = meta["configs"][0]
    assert default.pop("features") == [{"name": c, "dtype": column_dtype(c)} for c in board_columns({})]
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "leaderboard/*.csv"}], "default": True},
        {"config_name": "audits", "data_files": [{"split": "train", "path": AUDITS_TABLE_FILE}]},
        {
            "config_name": "claims",
            "data_files": [{"split": "train", "path": "claims/*.csv"}],
            "features": [{"name": c, "dtype": CLAIMS_DTYPES.get(c, "string")} for c in CLAIMS_COLUMNS],
        },
        {"config_name": "throughput", "data_files": [{"split": "train", "path": "throughput.csv"}]},
    ]
    assert meta["public_key"] == info.public_key and meta["public_key_fingerprint"].startswith("ed25519:")
    assert meta["leaderboard_version"] == "esb-v1"


def test_card_documents_every_column_and_field(info: CardInfo) -> None:
    card = render_card(info)
    for column in [*LEAD_COLUMNS, "wer_set", "wer_other", *TAIL_COLUMNS, *RESULT_FIELDS, *AUDIT_COLUMNS]:
        assert f"`{column}`" in card, column
    assert "python -m evaluator verify board/results --requests-repo board/requests" in card
    assert "`max_rtf`: 1.0" in card


def _results_repo(folder: Path, info: CardInfo, records: list[Result] | None = None) -> Path:
    """A results repo as the store writes it: records and table shards, `pins.json`, the card, predictions."""
    private, _ = generate_keypair()
    signed = [sign_result(r, private) for r in (records or results())]
    written = results_files({}, [(r, {name: ROWS for name in r.datasets}) for r in signed], None, dict, BoardFiles())
    for path, data in {**written.files, CARD_FILE: render_card(info, written.columns).encode()}.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return folder


def test_the_table_is_sharded_with_one_header_and_loads_as_one_table(
    tmp_path: Path, info: CardInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shards whose columns pandas would type differently (a license in one, none in another; a set only some
    rows have) still load as one table, because every shard has the same header."""
    datasets = pytest.importorskip("datasets")
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("HF_HOME", str(tmp_path / "hf"))):
        monkeypatch.setenv(name, value)
    second, first = results()
    records = [first, second, *(second.replace(request_id=f"req-{n:04d}", model=None) for n in range(3, 12))]
    repo = _results_repo(tmp_path / "repo", info, records)
    shards = sorted((repo / layout.TABLE_DIR).glob("*.csv"))
    assert len(shards) > 3 and (repo / layout.table_path(layout.FIRST_TABLE_SHARD)) in shards
    assert len({path.read_text().splitlines()[0] for path in shards}) == 1
    loaded = datasets.load_dataset(str(repo), split="train", cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded["request_id"]) == sorted(r.request_id for r in records)
    assert sorted(str(x) for x in loaded["license"]) == ["None"] * 10 + ["mit"]


def test_datasets_load_dataset_yields_the_table(
    tmp_path: Path, info: CardInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    repo = _results_repo(tmp_path / "repo", info)
    loaded = datasets.load_dataset(str(repo), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 2 and loaded[0]["request_id"] == "req-0001"
    assert "wer_other" in loaded.column_names


def test_rescoring_snippet_in_the_card_runs(tmp_path: Path, info: CardInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("jiwer")
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("HF_HOME", str(tmp_path / "hf"))):
        monkeypatch.setenv(name, value)
    repo = _results_repo(tmp_path / "repo", info)
    card = render_card(info)
    snippet = re.search(r"## Re-score.*?```python\n(.*?)```", card, re.S).group(1)
    snippet = snippet.replace('"hf://datasets/board/results"', repr(str(repo))).replace(
        '"board/results"', repr(str(repo))
    )
    printed: list[str] = []
    exec(snippet, {"print": lambda *args: printed.append(" ".join(map(str, args)))})
    assert printed and printed[0].startswith("WER ")


def test_local_store_card_shows_commands_that_work_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded store's card names its own folders (no `<owner>/<results-repo>`), and its snippet loads."""
    datasets = pytest.importorskip("datasets")
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("HF_HOME", str(tmp_path / "hf"))):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LEADERBOARD_STORE", str(tmp_path / "store"))
    for name in ("REQUESTS_REPO", "RESULTS_REPO", "LEADERBOARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    store = open_store(load_config(None))
    claimed = store.submit(make_request(1)) and store.claim("w", 60, 3)
    store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})
    card = (tmp_path / "store" / "results" / CARD_FILE).read_text()
    assert "<owner>" not in card and "hf://" not in card
    root = (tmp_path / "store").resolve().as_posix()
    assert f"python -m evaluator verify {root}\n" in card
    load_line = re.search(r'^table = load_dataset\("([^"]+)", split="train"\)', card, re.M)
    assert load_line and load_line.group(1) == f"{root}/results"
    loaded = datasets.load_dataset(load_line.group(1), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 1 and loaded[0]["request_id"] == "req-0001"


def test_audits_load_with_datasets_as_the_second_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local store with one published audit: `load_dataset(repo, "audits")` yields its row (R13)."""
    datasets = pytest.importorskip("datasets")
    from testkit.factories import make_audit

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    store = open_store(load_config(env={"LEADERBOARD_STORE": str(tmp_path / "store")}))
    request = make_request(1)
    store.submit(request)
    store.claim("w", 60, 3)
    store.finish(request.request_id, "w", make_result(request), {"set": ROWS})
    store.record_audit(make_audit(request_id=request.request_id), actor="audit:test")
    repo = store.results_root  # type: ignore[attr-defined]
    audits = datasets.load_dataset(str(repo), "audits", split="train", cache_dir=str(tmp_path / "cache"))
    assert audits.num_rows == 1 and audits[0]["passed"] is False and audits[0]["failed_checks"] == "predictions"
    assert audits[0]["audit_file"] == layout.audit_path("req-0001", "20261128T060000Z-0123abcd")
    table = datasets.load_dataset(str(repo), split="train", cache_dir=str(tmp_path / "cache"))
    assert table.num_rows == 1  # the default config is still the results table


def test_claims_load_as_their_own_config_beside_the_measurement(
    tmp_path: Path, info: CardInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R15: the `claims` config has a row per claim (shards without any claim are header-only and still load),
    and never touches the default table."""
    from openasr_core.records import ClaimComparison, ClaimSource

    datasets = pytest.importorskip("datasets")
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("HF_HOME", str(tmp_path / "hf"))):
        monkeypatch.setenv(name, value)
    second, first = results()
    source = ClaimSource(file=".eval_results/board.yaml", entry="0")
    claim = ClaimComparison(
        0.051, 0.1, 4.9, "5.1", "percent", "openslr/librispeech_asr:clean:test", source, notes="A100, batch 64"
    )
    claimed = first.replace(claims={"set": [claim]})
    others = [second.replace(request_id=f"req-{n:04d}") for n in range(3, 9)]
    repo = _results_repo(tmp_path / "repo", info, [claimed, *others])
    assert len(list((repo / layout.CLAIMS_DIR).glob("*.csv"))) > 2
    loaded = datasets.load_dataset(str(repo), "claims", split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 1 and loaded[0]["request_id"] == "req-0001" and loaded[0]["gap_points"] == 4.9
    assert loaded[0]["notes"] == "A100, batch 64" and loaded[0]["unit"] == "percent"
    table = datasets.load_dataset(str(repo), split="train", cache_dir=str(tmp_path / "cache"))
    assert table.num_rows == 7 and "claimed_wer" not in table.column_names


def _record_fields(kind: type, prefix: str = "") -> dict[str, str]:
    """Every field reachable from record type `kind`, by dotted path, with its doc."""
    from openasr_core.schema import documented_fields, nested_records

    found: dict[str, str] = {}
    inner = nested_records(kind)
    for name, text in documented_fields(kind).items():
        found[f"{prefix}{name}"] = text
        if name in inner:
            found |= _record_fields(inner[name], f"{prefix}{name}.")
    return found


@pytest.mark.parametrize("kind", [Result, ThroughputResult, AuditRecord], ids=lambda k: k.__name__)
def test_every_field_of_the_published_records_is_documented_beside_it(kind: type) -> None:
    """Issue 24: the card's docs come from the fields themselves, so a field added without a doc fails here."""
    fields = (
        _record_fields(kind)
        if kind is not AuditRecord
        else {f.name: f.metadata.get("doc") for f in dataclasses.fields(kind)}
    )
    assert [path for path, text in fields.items() if not text] == []


def test_every_table_column_is_documented_from_a_field_the_types_have() -> None:
    """Each CSV table's header is its column list, each column names a real field (or documents its own
    derivation), and the card's docs are those fields' docs; `result.json`'s documented fields all exist."""
    from openasr_core.dataset_card import AUDIT_TABLE, CLAIMS_TABLE, LEAD_TABLE, TAIL_TABLE, audits_table, claims_shard
    from openasr_core.schema import field_doc
    from testkit.factories import make_audit

    for column in (*LEAD_TABLE, *TAIL_TABLE, *AUDIT_TABLE, *CLAIMS_TABLE, *THROUGHPUT_TABLE):
        assert column.doc, column.name
        if column.record is not None:
            assert field_doc(column.record, column.path or column.name)  # the field exists: a rename fails here
    assert LEAD_COLUMNS["avg_wer"] == field_doc(Result, "aggregate.avg_wer")
    assert THROUGHPUT_COLUMNS["avg_wer"] == field_doc(ThroughputResult, "aggregate.avg_wer")
    assert THROUGHPUT_COLUMNS["max_batch_size_used"] == field_doc(ThroughputResult, "batch_evidence.max_batch_size")
    assert TAIL_COLUMNS["params"] == field_doc(Result, "model.parameters")
    assert audits_table([make_audit()]).splitlines()[0].split(",") == list(AUDIT_COLUMNS)
    assert claims_shard([]).strip().split(",") == list(CLAIMS_COLUMNS)
    header = table_shard(results()).splitlines()[0].split(",")
    assert set(header) == {*LEAD_COLUMNS, *TAIL_COLUMNS, "wer_set", "wer_other"}
    documented = {path.replace("datasets.<set>.", "datasets.") for path in RESULT_FIELDS}
    assert documented <= set(_record_fields(Result, "")) | {f"datasets.{n}" for n in _record_fields(DatasetScore)}
    assert set(_record_fields(DatasetScore)) | {"wer_ci95"} <= {p.split(".")[-1] for p in RESULT_FIELDS}
    assert {f.name for f in dataclasses.fields(Result)} <= set(RESULT_FIELDS)


def test_a_field_doc_for_a_path_the_types_lack_is_an_error() -> None:
    from openasr_core.schema import field_doc

    with pytest.raises(KeyError, match="no field 'wer_mean'"):
        field_doc(Result, "aggregate.wer_mean")
    with pytest.raises(KeyError, match="holds no record"):
        field_doc(Result, "model_id.x")


@dataclasses.dataclass(frozen=True)
class _Inner:
    count: int


@dataclasses.dataclass(frozen=True)
class _Row:
    name: str
    count: int
    maybe_count: int | None
    share: float
    maybe_share: float | None
    flag: bool
    status: Status
    inner: _Inner | None
    settings: dict[str, str]


def test_a_columns_dtype_follows_the_type_of_the_field_it_repeats() -> None:
    """Issue 24: the card's `features` are the fields' types, so a column cannot be declared one type while its
    field holds another; an integer that may be absent is float64, since a CSV integer column holds no empty cell."""
    names = ("name", "count", "maybe_count", "share", "maybe_share", "flag", "status")
    assert column_dtypes(Column(n, _Row) for n in names) == {
        "name": "string",
        "count": "int64",
        "maybe_count": "float64",
        "share": "float64",
        "maybe_share": "float64",
        "flag": "bool",
        "status": "string",
    }
    assert Column("inner_count", _Row, "inner.count").dtype == "float64"  # absent with its optional record
    assert Column("cost", derive=lambda s: None, derived_dtype="float64").dtype == "float64"
    with pytest.raises(TypeError, match="cannot hold"):
        _ = Column("settings", _Row).dtype
    from openasr_core.dataset_card import COLUMN_DTYPES

    assert {c: d for c, d in COLUMN_DTYPES.items() if d != "string"} == {  # the card's default config, as it was
        **dict.fromkeys(("official", "meets_realtime"), "bool"),
        **dict.fromkeys(("avg_wer", "rtf", "rtfx", "params", "gpu_seconds", "cost_usd"), "float64"),
        **dict.fromkeys(("price_usd_per_minute", "usd_per_1000_audio_hours"), "float64"),
        **dict.fromkeys(("max_batch_size", "warmup_utterances"), "int64"),
    }
    assert {c: "float64" if c.endswith(("_wer", "_points")) else "string" for c in CLAIMS_COLUMNS} == CLAIMS_DTYPES
    assert column_dtype("params") == "float64" and column_dtype("wer_ami") == "float64"
