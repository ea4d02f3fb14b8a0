"""Writing raw tables: one Parquet dataset (a directory of part files) per table, published atomically."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from propensity import __version__
from propensity.datagen.schema import MANIFEST_FILE, RAW_SCHEMAS, conform
from propensity.errors import DamagedDataError, NotThereYetError
from propensity.storage import check_parquet_files, staged_directory, write_parquet


def part_path(root: Path, table: str, part: int) -> Path:
    """Where part ``part`` of raw table ``table`` lives under ``root``."""
    return root / table / f"part-{part:05d}.parquet"


def write_tables(root: Path, tables: Mapping[str, pa.Table], part: int) -> dict[str, int]:
    """Write each table as part ``part`` of its dataset; returns rows written per table."""
    counts = {}
    for name, table in tables.items():
        write_parquet(conform(table, name), part_path(root, name, part))
        counts[name] = table.num_rows
    return counts


@contextmanager
def raw_output(target: Path, *, overwrite: bool, source: Mapping[str, Any]) -> Iterator[RawBatch]:
    """Stage a complete set of raw tables and publish it at ``target`` in one rename, with a manifest.

    Tables nobody wrote are written empty, so every raw table always exists with its schema.
    """
    with staged_directory(target, overwrite=overwrite) as staging:
        batch = RawBatch(staging)
        yield batch
        for name in RAW_SCHEMAS:
            if name not in batch.rows:
                batch.add(write_tables(staging, {name: RAW_SCHEMAS[name].empty_table()}, part=0))
        manifest = {
            "source": dict(source),
            "rows": dict(sorted(batch.rows.items())),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "propensity_version": __version__,
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str) + "\n")


class RawBatch:
    """Row counts of the parts written into a staging directory."""

    def __init__(self, root: Path):
        self.root = root
        self.rows: dict[str, int] = {}

    def add(self, counts: Mapping[str, int]) -> None:
        """Record rows written by one part."""
        for name, rows in counts.items():
            self.rows[name] = self.rows.get(name, 0) + rows


def read_manifest(raw_dir: Path) -> dict[str, Any]:
    """The manifest of the raw tables under ``raw_dir``; a clear error when there are none."""
    path = raw_dir / MANIFEST_FILE
    if not path.is_file():
        raise NotThereYetError(f"no raw tables in {raw_dir}; run `propensity datagen` first")
    return json.loads(path.read_text())


def read_table(raw_dir: Path, name: str, columns: list[str] | None = None) -> pa.Table:
    """Read raw table ``name`` whole (for small tables and tests; pipelines query the files with DuckDB)."""
    return pq.read_table(raw_dir / name, columns=columns, schema=RAW_SCHEMAS[name])


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a generator works."""


def check_raw_files(raw_dir: Path) -> None:
    """Refuse raw tables that a pipeline cannot read as their schema says: a damaged file, a missing column
    or a column of another type (extra columns are allowed)."""
    fix = "re-create the raw data (`propensity datagen --overwrite`, or your export)"
    for name, schema in RAW_SCHEMAS.items():
        table_dir = raw_dir / name
        if not table_dir.is_dir():
            raise DamagedDataError(f"raw table {name!r} is missing from {raw_dir}: {fix}")
        files = sorted(table_dir.glob("*.parquet"))
        if not files:
            raise DamagedDataError(f"raw table {name!r} in {table_dir} has no Parquet files: {fix}")
        check_parquet_files(table_dir, fix=fix)
        for file in files:
            found = pq.read_schema(file)
            for field in schema:
                if field.name not in found.names:
                    raise DamagedDataError(f"raw table {name!r}: {file} has no column {field.name!r}: {fix}")
                have = found.field(field.name).type
                if not _compatible(have, field.type):
                    naive = " (no time zone)" if pa.types.is_timestamp(have) and have.tz is None else ""
                    raise DamagedDataError(
                        f"raw table {name!r}: column {field.name!r} in {file} is {have}{naive}, not {field.type}: {fix}"
                    )


def _compatible(found: pa.DataType, expected: pa.DataType) -> bool:
    """Whether a column of type ``found`` reads as ``expected``: timestamps must carry a time zone."""
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(found) and found.tz is not None
    kinds = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    for kind in kinds:
        if kind(expected):
            return kind(found) or (pa.types.is_floating(expected) and pa.types.is_integer(found))
    if pa.types.is_string(expected):
        return pa.types.is_string(found) or pa.types.is_large_string(found)
    return found.equals(expected)
