"""Records are read strictly (issue 24): a field of the wrong type is refused with one error, `RecordError`, that
names the record, the field path and what was expected; everything the writers write still reads back equal."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from openasr_core.records import (
    AuditRecord,
    ClaimComparison,
    ClaimSource,
    Compute,
    LoadSummary,
    LogEntry,
    PredictionRow,
    Progress,
    RecipeInfo,
    Record,
    RecordError,
    Request,
    Result,
    RtfRun,
    Status,
    ThroughputResult,
    read_jsonl,
)
from openasr_core.store.bad_files import PARSE_ERRORS
from testkit.factories import make_audit, make_request, make_result, make_throughput


def _result() -> dict[str, Any]:
    return make_result("req-1", wers={"ami": 0.2}).to_dict()


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `data` with the value at `path` replaced (`...` as the value deletes the key)."""
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


# (what is wrong, record type, damaged data, the path the error names, words the error must contain)
BAD_RECORDS: list[tuple[str, type[Record], Callable[[], dict[str, Any]], str, str]] = [
    (
        "string WER",
        Result,
        lambda: _set(_result(), ("datasets", "ami", "wer"), "0.2"),
        'Result.datasets["ami"].wer',
        "expected a number, got str '0.2'",
    ),
    ("missing field", Result, lambda: _set(_result(), ("aggregate", "rtf"), ...), "Result.aggregate.rtf", "missing"),
    (
        "extra field",
        Result,
        lambda: _set(_result(), ("aggregate", "surprise"), 1),
        "Result.aggregate",
        "no field(s) ['surprise']",
    ),
    ("NaN", Result, lambda: _set(_result(), ("aggregate", "avg_wer"), math.nan), "Result.aggregate.avg_wer", "NaN"),
    (
        "bool as integer",
        Result,
        lambda: _set(_result(), ("datasets", "ami", "utterances"), True),
        'Result.datasets["ami"].utterances',
        "expected an integer, got bool True",
    ),
    (
        "bool as number",
        Result,
        lambda: _set(_result(), ("aggregate", "rtf"), False),
        "Result.aggregate.rtf",
        "expected a number",
    ),
    (
        "list where a dict belongs",
        Result,
        lambda: _set(_result(), ("datasets",), [0.2]),
        "Result.datasets",
        "expected an object, got list",
    ),
    (
        "nested record of the wrong type",
        Result,
        lambda: _set(_result(), ("hardware",), "A10G"),
        "Result.hardware",
        "expected a Hardware object",
    ),
    (
        "wrong type in a list of records",
        Result,
        lambda: _set(_result(), ("eval_sets", 0, "name"), 3),
        "Result.eval_sets[0].name",
        "expected a string, got int 3",
    ),
    (
        "null where no null belongs",
        Result,
        lambda: _set(_result(), ("model_id",), None),
        "Result.model_id",
        "expected a string, got null",
    ),
    (
        "interval of one number",
        Result,
        lambda: _set(_result(), ("datasets", "ami", "wer_ci95"), [0.1]),
        'Result.datasets["ami"].wer_ci95',
        "expected a list of 2",
    ),
    (
        "infinite audio duration",
        Result,
        lambda: _set(_result(), ("datasets", "ami", "audio_s"), math.inf),
        'Result.datasets["ami"].audio_s',
        "expected a finite number, got inf",
    ),
    (
        "string where a string map belongs",
        Result,
        lambda: _set(_result(), ("software",), "torch 2"),
        "Result.software",
        "expected an object",
    ),
    (
        "unknown enum value",
        Request,
        lambda: _set(make_request("r").to_dict(), ("status",), "DONE"),
        "Request.status",
        "'PENDING'",
    ),
    (
        "string attempts",
        Request,
        lambda: _set(make_request("r").to_dict(), ("attempts",), "2"),
        "Request.attempts",
        "expected an integer",
    ),
    (
        "unknown verdict deep in a list",
        AuditRecord,
        lambda: _set(make_audit().to_dict(), ("checks", 1, "verdict"), "maybe"),
        "AuditRecord.checks[1].verdict",
        "expected one of 'pass', 'fail', 'skipped', 'inconclusive'",
    ),
    (
        "bool in a union of number and text",
        AuditRecord,
        lambda: _set(make_audit().to_dict(), ("checks", 1, "published"), True),
        "AuditRecord.checks[1].published",
        "expected an integer or a string or a number or null",
    ),
    (
        "a record where a list belongs",
        ThroughputResult,
        lambda: _set(make_throughput("r").to_dict(), ("ladder",), {"batch_size": 1}),
        "ThroughputResult.ladder",
        "expected a list",
    ),
    (
        "the record's own check",
        ThroughputResult,
        lambda: _set(make_throughput("r").to_dict(), ("track",), "batch-one"),
        "ThroughputResult",
        "track 'throughput'",
    ),
    ("not an object at all", LogEntry, lambda: [1, 2], "LogEntry", "expected a LogEntry object, got list"),  # type: ignore[list-item,return-value]
]


@pytest.mark.parametrize(
    ("kind", "data", "path", "words"), [case[1:] for case in BAD_RECORDS], ids=[case[0] for case in BAD_RECORDS]
)
def test_a_bad_record_is_refused_naming_the_field_and_what_was_expected(
    kind: type[Record], data: Callable[[], dict[str, Any]], path: str, words: str
) -> None:
    with pytest.raises(RecordError) as raised:
        kind.from_dict(data())
    assert f"{raised.value.record}{raised.value.path}" == path
    assert str(raised.value).startswith(f"{path}: ") and words in str(raised.value)
    assert isinstance(raised.value, PARSE_ERRORS)  # the store's damaged-file readers count it as damage
    with pytest.raises(RecordError, match=path.replace("[", r"\[").replace(".", r"\.")):
        kind.from_json(json.dumps(data()))  # the same through JSON (NaN and Infinity included)


def test_text_that_is_not_json_is_a_record_error_too() -> None:
    with pytest.raises(RecordError, match=r"^Result: not JSON"):
        Result.from_json(b'{"request_id": "r", "truncated')


def test_what_the_rules_accept_reads_as_written() -> None:
    """An int where a float belongs becomes a float; infinity (the divide-by-zero convention) reads; an int in a
    `float | int | str` union stays an int; a record without its optional, omitted fields reads."""
    data = _set(_result(), ("aggregate", "rtf"), 1)
    assert Result.from_dict(data).aggregate.rtf == 1.0 and isinstance(Result.from_dict(data).aggregate.rtf, float)
    instant = make_result("req-2", rtf=0.0)
    assert instant.aggregate.rtfx == math.inf and Result.from_json(instant.to_json()) == instant
    audit = AuditRecord.from_json(make_audit().to_json())
    assert type(audit.checks[1].published) is int and audit == make_audit()


def _full_result() -> Result:
    comparison = ClaimComparison(0.05, 0.1, 5.0, "5", "percent", "x:y:z", ClaimSource("f.yaml", "0", url="u"))
    return make_result("req-9").replace(
        compute=Compute("a10g-small", 61.5, 0.0167, "2026-11-27", 0.0334, billed_minutes=2),
        recipe=RecipeInfo("whisper", 2, "whisper", "encoder-decoder", fp32_modules=["encoder.conv1"]),
        claims={"ami": [comparison]},
        decoding={"num_beams": 1, "prompt": None},
        ignored_settings=["generation_config.json: num_beams=5"],
    )


ROUND_TRIPS: list[Record] = [
    make_request("r", status=Status.RUNNING, progress=Progress("ami", 3, 10, eta_s=2.5)),
    _full_result(),
    make_result("req-3", official=False, with_model=False, signature=None),
    make_throughput("req-4"),
    make_audit(rtf_runs=[RtfRun(0.1, 1.02, [0.98, 1.05], 10, True, LoadSummary(10, 0.9, 1.0, 0.5, 4))]),
    LogEntry(1, "2026-11-27T10:00:00Z", "r", "submitted", "alice", {"k": [1, None]}, "0" * 64, "h"),
    PredictionRow("utt", "ref", "Pred, raw!", 1.5, 0.25),
]


@pytest.mark.parametrize("record", ROUND_TRIPS, ids=lambda r: type(r).__name__)
def test_every_record_round_trips_exactly(record: Record) -> None:
    again = type(record).from_json(record.to_json())
    assert again == record and again.to_json() == record.to_json()
    assert read_jsonl(type(record), json.dumps(record.to_dict()) + "\n") == [record]
