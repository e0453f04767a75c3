"""The columns of the public CSV tables (`leaderboard/<xx>.csv`, `audits.csv`, `claims/<xx>.csv`,
`throughput.csv`), each declared once from the record field it repeats.

A `Column` names that field (or how the cell is derived). From the field alone it fills the column's cells, documents
it with the field's own doc (`records`, `field(metadata=doc(...))`) and types it for `load_dataset` from the field's
annotation, so neither the card's column docs nor its declared dtypes can drift from the records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from openasr_core.schema import field_doc, field_type

#: The dtype `load_dataset` gives a column repeating a field of each scalar type.
SCALAR_DTYPES: dict[type, str] = {str: "string", float: "float64", int: "int64", bool: "bool"}


def dtype_of(kind: Any, may_be_none: bool) -> str:
    """The dtype a column of values of annotation `kind` is declared as. An integer that may be absent is float64:
    a CSV integer column cannot hold an empty cell. A `str` enum is a string; any other type is a `TypeError`."""
    if kind is int and may_be_none:
        return "float64"
    if kind in SCALAR_DTYPES:
        return SCALAR_DTYPES[kind]
    if isinstance(kind, type) and issubclass(kind, str):
        return "string"
    raise TypeError(f"a table column cannot hold {kind!r}")


@dataclass(frozen=True)
class Column:
    """One column of a public CSV table: the record field it repeats (`record`, dotted `path`, default its name)
    or a function of the row's records (`derive`). Its documentation is that field's own (`schema.field_doc`),
    plus `note`; `text` replaces it only where the column is not simply the field (derived, or narrower). Its
    dtype is the field's (`dtype_of`); a derived column declares its own (`derived_dtype`)."""

    name: str
    record: type | None = None
    path: str = ""
    note: str = ""
    text: str = ""
    derive: Callable[[Mapping[type, Any]], Any] | None = None
    derived_dtype: str = "string"

    @property
    def doc(self) -> str:
        if self.text or self.record is None:
            return self.text
        return " ".join(filter(None, (field_doc(self.record, self.path or self.name), self.note)))

    @property
    def dtype(self) -> str:
        """The type `load_dataset` gives this column: its field's, or `derived_dtype` for a derived column."""
        if self.derive is not None or self.record is None:
            return self.derived_dtype
        return dtype_of(*field_type(self.record, self.path or self.name))

    def value(self, sources: Mapping[type, Any]) -> Any:
        """This column's cell for a row of `sources` (records by type); None where an optional record is absent."""
        if self.derive is not None:
            return self.derive(sources)
        value = sources.get(self.record)  # type: ignore[arg-type]
        for name in (self.path or self.name).split("."):
            if value is None:
                return None
            value = getattr(value, name)
        return value


def column_docs(columns: Iterable[Column]) -> dict[str, str]:
    """Each column's name with what it holds, as the card documents it."""
    return {c.name: c.doc for c in columns}


def column_dtypes(columns: Iterable[Column]) -> dict[str, str]:
    """Each column's name with the dtype the card declares for it."""
    return {c.name: c.dtype for c in columns}


def table_cells(columns: Iterable[Column], sources: Mapping[type, Any]) -> dict[str, Any]:
    """A row of `columns` for the records `sources` holds."""
    return {c.name: c.value(sources) for c in columns}
