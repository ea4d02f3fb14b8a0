"""Labels: did the customer buy in a category within H days of a cutoff?

For each cutoff date (monthly by default) the eligible customers are those with an order or a web session in the
``eligibility_days`` before it; each gets one 0/1 column per category, 1 when they ordered in that category in
``[cutoff, cutoff + horizon_days)``. Feature snapshots stamped at the cutoff cover events strictly before it, so
a training set joined at ``event_timestamp = cutoff`` never sees the label window. Cutoffs whose label window
would run past the end of the data are not made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from propensity.config import Workspace
from propensity.datagen.raw_views import connect_raw, data_range
from propensity.errors import BadInputError, NotThereYetError
from propensity.features.catalog import GRID_ANCHOR, workspace_catalog
from propensity.storage import staged_directory, write_parquet_batches
from training.config import LabelConfig

LABEL_PREFIX = "label_"
DEFINITION_FILE = "_labels.json"
LABEL_FILE = "labels.parquet"
BATCH_ROWS = 1_000_000  # label rows read from DuckDB and written per row group


@dataclass(frozen=True)
class LabelReport:
    """What a labels run wrote."""

    path: Path
    cutoffs: list[date]
    rows: int
    positives: dict[str, int]  # per label column


def cutoff_dates(config: LabelConfig, data_start: date, data_end: date) -> list[date]:
    """Cutoffs on the cadence's grid, at least ``min_history_days`` after ``data_start``, each with its whole
    label window before ``data_end`` (the day after the last event)."""
    earliest = max(data_start + timedelta(days=config.min_history_days), config.first or date.min)
    latest = min(data_end - timedelta(days=config.horizon_days), config.last or date.max)
    if config.cadence == "monthly":
        day = date(earliest.year, earliest.month, 1)
        day = day if day >= earliest else _next_month(day)
        step = _next_month
    else:
        days = 7 if config.cadence == "weekly" else int(config.cadence[:-1])
        anchor = GRID_ANCHOR if config.cadence == "weekly" else data_start
        day = earliest + timedelta(days=-(earliest - anchor).days % days)

        def step(d: date) -> date:
            return d + timedelta(days=days)

    cutoffs = []
    while day <= latest:
        cutoffs.append(day)
        day = step(day)
    return cutoffs


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def build_labels(ws: Workspace, config: LabelConfig | None = None) -> LabelReport:
    """Compute the label table of the workspace's raw data and write it (replacing any older one) to
    ``labels/`` with its definition in ``labels/_labels.json``."""
    config = config or LabelConfig()
    categories = sorted({f.category for v in workspace_catalog(ws) for f in v.features if f.category})
    con = connect_raw(ws)
    start, last_event = data_range(con)
    cutoffs = cutoff_dates(config, start, last_event + timedelta(days=1))
    if not cutoffs:
        raise BadInputError(
            f"no cutoff fits the data ({start} to {last_event}): a label window of {config.horizon_days} days "
            f"after {config.min_history_days} days of history needs more data; shorten them or widen first/last"
        )
    reader = con.sql(_label_query(categories), params=_params(config, cutoffs)).to_arrow_reader(BATCH_ROWS)
    positives = {LABEL_PREFIX + c: 0 for c in categories}

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            for column in positives:
                positives[column] += int(pc.sum(batch.column(column)).as_py() or 0)
            yield batch

    target = ws.labels_dir
    with staged_directory(target, overwrite=True) as staging:
        rows = write_parquet_batches(pa.RecordBatchReader.from_batches(reader.schema, counted()), staging / LABEL_FILE)
        definition = {**config.model_dump(mode="json"), "cutoffs": [str(c) for c in cutoffs]}
        (staging / DEFINITION_FILE).write_text(json.dumps(definition, indent=2) + "\n")
    return LabelReport(target, cutoffs, rows, positives)


def read_definition(ws: Workspace) -> dict[str, object]:
    """The workspace's label definition (cadence, horizon, cutoffs), as :func:`build_labels` wrote it."""
    path = ws.labels_dir / DEFINITION_FILE
    if not path.is_file():
        raise NotThereYetError(f"no labels in {ws.labels_dir}: run `propensity labels` first")
    return json.loads(path.read_text())


def in_label_window(ordered_at: str, cutoff: str, horizon_days: str) -> str:
    """DuckDB condition: ``ordered_at`` falls in the label window ``[cutoff, cutoff + horizon_days)`` (each
    argument an SQL expression)."""
    return f"{ordered_at} >= {cutoff} AND {ordered_at} < {cutoff} + to_days({horizon_days}::INTEGER)"


ACTIVITY = """SELECT customer_id, ordered_at AS at FROM raw_orders
            UNION ALL SELECT customer_id, started_at FROM raw_sessions"""  # what makes a customer eligible


def _params(config: LabelConfig, cutoffs: list[date]) -> list[object]:
    stamps = [datetime(c.year, c.month, c.day, tzinfo=UTC) for c in cutoffs]
    return [stamps, config.eligibility_days, config.horizon_days]


def eligible_customers_query() -> str:
    """DuckDB SQL (on ``connect_raw(ws)``) for the customers eligible at one date (``$1``, TIMESTAMPTZ): any order or
    session in the ``$2`` days before it, as entity rows (``customer_id``, ``event_timestamp`` = ``$1``)."""
    return f"""
        SELECT DISTINCT a.customer_id, $1::TIMESTAMPTZ AS event_timestamp FROM ({ACTIVITY}) a
        WHERE a.at >= $1::TIMESTAMPTZ - to_days($2::INTEGER) AND a.at < $1::TIMESTAMPTZ
        ORDER BY a.customer_id"""


def _label_query(categories: list[str]) -> str:
    """Label rows: eligible (customer, cutoff) pairs with one 0/1 column per category (names are validated
    identifiers from the feature catalog)."""
    columns = ", ".join(
        f"coalesce(max((b.category = '{c}')::TINYINT), 0)::TINYINT AS {LABEL_PREFIX}{c}" for c in categories
    )
    return f"""
        WITH cutoffs AS (SELECT unnest($1::TIMESTAMPTZ[]) AS cutoff),
        activity AS ({ACTIVITY}),
        eligible AS (
            SELECT DISTINCT a.customer_id, c.cutoff FROM cutoffs c JOIN activity a
              ON a.at >= c.cutoff - to_days($2::INTEGER) AND a.at < c.cutoff),
        bought AS (
            SELECT DISTINCT l.customer_id, c.cutoff, l.category FROM cutoffs c JOIN raw_order_lines l
              ON {in_label_window("l.ordered_at", "c.cutoff", "$3")})
        SELECT e.customer_id, e.cutoff AS event_timestamp, {columns}
        FROM eligible e LEFT JOIN bought b USING (customer_id, cutoff)
        GROUP BY e.customer_id, e.cutoff
        ORDER BY e.cutoff, e.customer_id"""
