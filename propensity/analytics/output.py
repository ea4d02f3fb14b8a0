"""Query results out as CSV, JSON or Parquet, streamed batch by batch; JSON writes integers and decimals exactly
(no float in between). The terminal's tables are the command line's (:mod:`propensity.cli._results`)."""

from __future__ import annotations

import base64
import json
import math
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from propensity.errors import BadInputError
from propensity.storage import atomic_file

FileFormat = Literal["csv", "json", "parquet"]
BATCH_ROWS = 10_000


def write_result(relation: duckdb.DuckDBPyRelation, fmt: FileFormat, *, out: Path | None = None) -> int:
    """Write ``relation`` as ``fmt`` to ``out`` (atomically) or to stdout; returns the rows written."""
    if fmt == "parquet" and out is None:
        raise BadInputError("`format` parquet needs `out` (Parquet is binary)")
    reader = relation.to_arrow_reader(BATCH_ROWS)
    with _destination(out) as sink:
        if fmt == "json":
            return _write_json(reader, sink)
        writer = pcsv.CSVWriter(sink, reader.schema) if fmt == "csv" else pq.ParquetWriter(sink, reader.schema)
        return _write_batches(reader, writer)


@contextmanager
def _destination(out: Path | None) -> Iterator[BinaryIO]:
    """stdout; a file written aside and renamed onto ``out`` only when complete; or, when ``out`` is a FIFO, a
    device or a socket (``/dev/stdout``, a named pipe), that file itself, written into as a stream (never
    replaced). A directory is refused."""
    if out is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if out.is_dir():
        raise BadInputError(f"`out` {out} is a directory; give a file name, e.g. {out / 'result.csv'}")
    if _is_special(out):
        with out.open("wb") as sink:
            yield sink
        return
    with atomic_file(out) as sink:
        yield sink


def _is_special(path: Path) -> bool:
    """True when ``path`` exists and is neither a regular file nor a directory (a device, FIFO or socket)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _write_batches(reader: pa.RecordBatchReader, writer: pcsv.CSVWriter | pq.ParquetWriter) -> int:
    rows = 0
    with writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _write_json(reader: pa.RecordBatchReader, sink: BinaryIO) -> int:
    """A JSON array of row objects: timestamps in ISO 8601, NaN and infinity as null, decimals exact."""
    rows = 0
    sink.write(b"[")
    for batch in reader:
        dumps = dumps_exact if _has_decimals(batch.schema) else _dumps
        for row in batch.to_pylist():
            sink.write(((",\n" if rows else "\n") + dumps(row)).encode())
            rows += 1
    sink.write(b"\n]\n" if rows else b"]\n")
    return rows


def _has_decimals(schema: pa.Schema) -> bool:
    return any(pa.types.is_decimal(t) for t in _types(schema.types))


def _types(types: list[pa.DataType]) -> Iterator[pa.DataType]:
    for kind in types:
        yield kind
        yield from _types([kind.field(i).type for i in range(kind.num_fields)])


def _dumps(value: object) -> str:
    return json.dumps(_jsonable(value), allow_nan=False, default=str)


def dumps_exact(value: object) -> str:
    """JSON for ``value`` with each decimal written as the exact number it is (json would need a float)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {dumps_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps_exact(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else "null"
    return _dumps(value)


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
