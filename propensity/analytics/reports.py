"""Canned reports over a workspace's views: realised lift of published scores, null coverage of the feature
views, feature drift between two snapshots, and the distribution of scores. Each returns a DuckDB relation, so it
prints or exports like any ``propensity sql`` result."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from propensity.analytics.views import QueryError, WorkspaceViews
from propensity.datagen.raw_views import data_range
from propensity.drift import REFERENCE_ROWS, DriftProfile
from propensity.features.schemas import SCORES_VIEW
from propensity.storage import sql_identifier
from training.labels import DEFINITION_FILE, LabelConfig, in_label_window, read_definition

NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "BOOLEAN", "DECIMAL")
KEY_COLUMNS = ("customer_id", "event_timestamp", "created_at")


def lift(
    views: WorkspaceViews, *, scored_at: date | None = None, horizon_days: int | None = None
) -> duckdb.DuckDBPyRelation:
    """Per category and score decile (1 = highest scores) of the customers scored at ``scored_at``: how many
    bought in the category within ``horizon_days`` after it (default: the labels' horizon), the precision and the
    lift over the category's rate. ``scored_at`` defaults to the latest scoring date whose whole window is in the
    data."""
    _require(views, "scores", "publish scores with `propensity score`")
    horizon = horizon_days or _label_horizon(views)
    data_end = data_range(views.con)[1] + timedelta(days=1)
    known = [d for d in _dates(views, "scores", "scored_at") if d + timedelta(days=horizon) <= data_end]
    if scored_at is None:
        if not known:
            raise QueryError(
                f"no scoring date has its outcomes yet: the raw data ends on {data_end - timedelta(days=1)} and "
                f"a {horizon}-day window must end within it; score an earlier date with "
                f"`propensity score --as-of YYYY-MM-DD` (at most {data_end - timedelta(days=horizon)})"
            )
        scored_at = known[-1]
    elif scored_at not in _dates(views, "scores", "scored_at"):
        raise QueryError(f"no scores were published for {scored_at}; `propensity sql` can list them: "
                         "SELECT DISTINCT scored_at FROM scores")  # fmt: skip
    elif scored_at not in known:
        raise QueryError(
            f"the outcomes of {scored_at} are not known yet: its {horizon}-day window ends on "
            f"{scored_at + timedelta(days=horizon)}, after the raw data ({data_end - timedelta(days=1)})"
        )
    return views.con.sql(
        f"""
        WITH scored AS (SELECT customer_id, category, score FROM scores WHERE scored_at = $1),
        bought AS (
            SELECT DISTINCT customer_id, category FROM raw_order_lines
            WHERE {in_label_window("ordered_at", "$1", "$2")}),
        ranked AS (
            SELECT s.category, s.score, (b.customer_id IS NOT NULL)::INTEGER AS bought,
                   ntile(10) OVER (PARTITION BY s.category ORDER BY s.score DESC, s.customer_id) AS decile
            FROM scored s LEFT JOIN bought b USING (customer_id, category))
        SELECT $1::DATE AS scored_at, category, decile, count(*) AS customers, sum(bought)::BIGINT AS buyers,
               avg(bought) AS precision,
               avg(bought) / nullif(sum(sum(bought)) OVER w / sum(count(*)) OVER w, 0) AS lift,
               min(score) AS min_score, max(score) AS max_score
        FROM ranked GROUP BY category, decile WINDOW w AS (PARTITION BY category)
        ORDER BY category, decile""",
        params=[_stamp(scored_at), horizon],
    )


def coverage(
    views: WorkspaceViews, *, snapshot: date | None = None, view: str | None = None
) -> duckdb.DuckDBPyRelation:
    """Null rates of the feature views at one snapshot (default: each view's latest): per view, or per feature
    of ``view``."""
    names = [_known_view(views, view)] if view else _feature_views(views)
    rows = []
    for name in names:
        day = snapshot or _dates(views, name)[-1]
        features = [c for c in views.con.table(name).columns if c not in KEY_COLUMNS]
        counts = views.con.sql(
            f"SELECT count(*), {', '.join(f'count({sql_identifier(c)})' for c in features)} FROM {name} "
            "WHERE event_timestamp = $1",
            params=[_stamp(day)],
        ).fetchall()[0]
        total = counts[0]
        for feature, present in zip(features, counts[1:], strict=True):
            null_rate = (total - present) / total if total else None
            rows.append({"view": name, "snapshot": day, "feature": feature, "rows": total, "null_rate": null_rate})
    per_feature = views.con.from_arrow(pa.Table.from_pylist(rows))
    if view:
        return per_feature.order("null_rate DESC, feature")
    return per_feature.aggregate(
        "view, snapshot, any_value(rows) AS rows, count(*) AS features, avg(null_rate) AS mean_null_rate, "
        "max(null_rate) AS max_null_rate, arg_max(feature, null_rate) AS most_null_feature, "
        "count(*) FILTER (WHERE null_rate = 1) AS all_null_features",
        "view, snapshot",
    ).order("view")


def drift(
    views: WorkspaceViews, *, base: date | None = None, current: date | None = None, view: str | None = None
) -> duckdb.DuckDBPyRelation:
    """PSI of every numeric feature between two snapshots (default: the latest and the one before), highest
    first. The base snapshot is profiled on a sample of ``REFERENCE_ROWS`` rows; every row of the current one is
    counted, batch by batch."""
    names = [_known_view(views, view)] if view else [v for v in _feature_views(views) if v != SCORES_VIEW]
    rows = []
    for name in names:
        dates = _dates(views, name)
        end = current or dates[-1]
        start = base or (dates[-2] if len(dates) > 1 else None)
        for day in (start, end):
            if day not in dates:
                shown = "only one snapshot" if day is None else f"no snapshot on {day}"
                raise QueryError(f"{name} has {shown}; its snapshots run {dates[0]} .. {dates[-1]}")
        columns = _numeric_features(views, name)
        if not columns:
            continue
        doubles = ", ".join(f"{sql_identifier(c)}::DOUBLE" for c in columns)
        select = f"SELECT {doubles} FROM {name} WHERE event_timestamp = $1"
        sample = views.con.sql(
            f"{select} USING SAMPLE reservoir({REFERENCE_ROWS} ROWS) REPEATABLE (0)", params=[_stamp(start)]
        )
        profile = DriftProfile.of(_matrix(sample.to_arrow_table()), columns)
        counts = [np.zeros(len(s), dtype=np.int64) for s in profile.shares]
        for batch in views.con.sql(select, params=[_stamp(end)]).to_arrow_reader(REFERENCE_ROWS):
            counts = [a + b for a, b in zip(counts, profile.count(_matrix(batch)), strict=True)]
        for feature, psi in profile.psi(counts).items():
            rows.append({"view": name, "feature": feature, "base": start, "current": end, "psi": psi})
    if not rows:
        raise QueryError("no numeric features to compare")
    return views.con.from_arrow(pa.Table.from_pylist(rows)).order("psi DESC, view, feature")


def scores(views: WorkspaceViews, *, scored_at: date | None = None) -> duckdb.DuckDBPyRelation:
    """The distribution of each category's scores on one scoring date (default: the latest)."""
    _require(views, "scores", "publish scores with `propensity score`")
    dates = _dates(views, "scores", "scored_at")
    day = scored_at or dates[-1]
    if day not in dates:
        raise QueryError(f"no scores were published for {day}; scoring dates: {', '.join(map(str, dates))}")
    return views.con.sql(
        """
        SELECT $1::DATE AS scored_at, category, count(*) AS customers, avg(score) AS mean,
               quantile_cont(score, 0.1) AS p10, quantile_cont(score, 0.5) AS p50,
               quantile_cont(score, 0.9) AS p90, quantile_cont(score, 0.99) AS p99, max(score) AS max,
               avg((score >= 0.5)::INTEGER) AS share_above_half
        FROM scores WHERE scored_at = $1 GROUP BY category ORDER BY mean DESC""",
        params=[_stamp(day)],
    )


def _require(views: WorkspaceViews, name: str, hint: str) -> None:
    if name not in views.views:
        raise QueryError(f"the workspace has no `{name}` yet: {hint}")


def _feature_views(views: WorkspaceViews) -> list[str]:
    """The feature views with offline data, refused when there are none yet."""
    if not [v for v in views.feature_views if v != SCORES_VIEW]:
        raise QueryError(f"no feature views in {views.ws.offline_dir} yet; run `propensity features build` first")
    return views.feature_views


def _known_view(views: WorkspaceViews, name: str) -> str:
    if name not in _feature_views(views):
        raise QueryError(f"no feature view {name!r} in the offline store; known: {', '.join(views.feature_views)}")
    return name


def _dates(views: WorkspaceViews, name: str, column: str = "event_timestamp") -> list[date]:
    rows = views.con.sql(f"SELECT DISTINCT {column}::DATE FROM {name} ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def _numeric_features(views: WorkspaceViews, name: str) -> list[str]:
    relation = views.con.table(name)
    return [
        column
        for column, kind in zip(relation.columns, relation.dtypes, strict=True)
        if column not in KEY_COLUMNS and str(kind).split("(")[0] in NUMERIC_TYPES
    ]


def _matrix(table: pa.Table | pa.RecordBatch) -> np.ndarray:
    return np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns]).astype(np.float64)


def _label_horizon(views: WorkspaceViews) -> int:
    """The horizon of the workspace's labels, so outcomes are what the models learnt to predict."""
    if (views.ws.labels_dir / DEFINITION_FILE).is_file():
        return int(read_definition(views.ws)["horizon_days"])
    return LabelConfig().horizon_days


def _stamp(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
