"""A workspace of known data, written by hand (no Ray): raw orders and order lines, one feature view with two
snapshots, and published scores of two categories, so every report has an answer computable in the test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from propensity.config import Workspace
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.features.schemas import SCORES_VIEW

SCORED_AT = date(2025, 6, 1)
SNAPSHOTS = (date(2025, 5, 26), date(2025, 6, 2))
CUSTOMERS = list(range(1, 41))
# customers who bought mugs in [SCORED_AT, SCORED_AT + 30 days): the lift report's outcomes
MUG_BUYERS = {40, 39, 38, 37, 20, 5}
BASE_BLOCKS = (15, 30, 30, 25)  # rows of the values 0, 1, 2, 3 in the base snapshot of the drift features


@dataclass(frozen=True)
class KnownWorkspace:
    """The workspace and the values written into it."""

    ws: Workspace
    scores: dict[str, dict[int, float]]  # category -> customer -> score at SCORED_AT
    snapshots: dict[date, pa.Table]  # the feature view `toy` at each snapshot


def _stamp(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _order_lines(rows: list[tuple[int, date, str]]) -> pa.Table:
    schema = RAW_SCHEMAS["order_lines"]
    columns = {name: [None] * len(rows) for name in schema.names}
    columns["order_id"] = list(range(1, len(rows) + 1))
    columns["customer_id"] = [customer for customer, _, _ in rows]
    columns["ordered_at"] = [_stamp(day, 12) for _, day, _ in rows]
    columns["category"] = [category for _, _, category in rows]
    return pa.table(columns, schema=schema)


def known_workspace(root: Path) -> KnownWorkspace:
    """Write the known data into a new workspace at ``root``."""
    ws = Workspace.resolve(root)
    lines = [(c, date(2025, 6, 10), "mugs") for c in sorted(MUG_BUYERS)]
    lines += [
        (1, date(2025, 7, 10), "mugs"),  # after the 30-day window: not an outcome
        (2, date(2025, 5, 20), "mugs"),  # before the scoring date: not an outcome
        (3, date(2025, 6, 30), "posters"),  # the last day of the window, another category
        (4, date(2025, 7, 15), "posters"),  # the last event: the data ends on 2025-07-15
    ]
    order_lines = _order_lines(lines)
    orders = pa.table(
        {name: order_lines.column(name) if name in order_lines.column_names else [None] * len(lines)
         for name in RAW_SCHEMAS["orders"].names},
        schema=RAW_SCHEMAS["orders"],
    )  # fmt: skip
    for name, schema in RAW_SCHEMAS.items():
        table = {"order_lines": order_lines, "orders": orders}.get(name, schema.empty_table())
        _write(table, ws.raw_dir / name / "part-0.parquet")

    scores = {
        "mugs": {c: c / 100 for c in CUSTOMERS},
        "posters": {c: (41 - c) / 100 for c in CUSTOMERS},
    }
    score_table = pa.table({
        "customer_id": pa.array(CUSTOMERS, pa.int64()),
        "event_timestamp": pa.array([_stamp(SCORED_AT)] * len(CUSTOMERS), pa.timestamp("us", tz="UTC")),
        "created_at": pa.array([_stamp(SCORED_AT)] * len(CUSTOMERS), pa.timestamp("us", tz="UTC")),
        **{category: pa.array([s[c] for c in CUSTOMERS], pa.float32()) for category, s in scores.items()},
        "model_versions": ["mugs=1,posters=1"] * len(CUSTOMERS),
        "scoring_run": ["known"] * len(CUSTOMERS),
    })  # fmt: skip
    _write(score_table, ws.offline_dir / SCORES_VIEW / SCORED_AT.isoformat() / "part-0.parquet")

    rng = np.random.default_rng(0)
    # four values in blocks that end away from every decile (15, 45, 75), so the cut points are 0, 1, 2 and 3
    base = np.repeat([0.0, 1.0, 2.0, 3.0], BASE_BLOCKS)
    snapshots = {}
    for day, current in zip(SNAPSHOTS, (False, True), strict=True):
        half_null = [None if i % 2 else float(i) for i in range(100)]
        snapshots[day] = pa.table({
            "customer_id": pa.array(range(100), pa.int64()),
            "event_timestamp": pa.array([_stamp(day)] * 100, pa.timestamp("us", tz="UTC")),
            "stable": rng.permutation(base),
            "shifted": np.full(100, 10.0) if current else base,
            "emptied": pa.array([None] * 100 if current else base, pa.float64()),
            "half_null": pa.array(half_null, pa.float64()),
            "label": pa.array(["x"] * 100),
        })  # fmt: skip
        _write(snapshots[day], ws.offline_dir / "toy" / f"{day:%Y-%m}" / f"part-{day.day}.parquet")
    return KnownWorkspace(ws, scores, snapshots)
