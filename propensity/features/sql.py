"""DuckDB SQL for the features, generated from the catalog.

1. ``daily_facts`` condenses the raw event tables into one row per customer, category and day, plus a roll-up
   row per customer and day with category ``'*'`` (so overall counts never double-count an order that spans
   categories). Email actions count on the day they happened (sent, opened, clicked): an email opened after a
   snapshot never counts as opened at that snapshot.
2. ``windowed_query`` pairs each snapshot with the facts of the year before it and sums them per frame (the
   ranges of days the catalog's windows cover): a long table of (customer, category, snapshot, frame) rows, one
   column per measure. Its cost grows with the pairs, not with the number of categories or features.

The wide feature views are a reshaping of that long table (``propensity.features.wide``), with no arithmetic.
"""

from __future__ import annotations

from propensity.features.catalog import HISTORY_DAYS, Feature, View

ALL = "*"  # the category of customer-level roll-up rows
MEASURES: tuple[str, ...] = (
    "orders", "discounted_orders", "units", "spend", "discount",
    "sessions", "page_views", "cart_adds", "cart_sessions",
    "email_sends", "email_opens", "email_clicks",
)  # fmt: skip
_SQL_TYPES = {"int32": "INTEGER", "float32": "FLOAT", "string": "VARCHAR"}


def daily_facts(raw: dict[str, str], since: str, until: str) -> str:
    """SQL for the daily facts of events in ``[since, until)`` (ISO dates); ``raw`` maps table -> relation.

    Per-category rows are kept for the modelled categories (``raw["categories"]``) only; the roll-up counts
    every event, whatever its product's category.
    """

    def when(ts: str) -> str:
        return f"{ts} >= DATE '{since}' AND {ts} < DATE '{until}'"

    grouping = "GROUP BY GROUPING SETS ((customer_id, category, day), (customer_id, day))"
    rollup = "grouping(category) AS rollup"
    parts = [
        f"""SELECT customer_id, category, {rollup}, ordered_at::DATE AS day,
                   count(DISTINCT order_id) AS orders,
                   count(DISTINCT order_id) FILTER (discount > 0) AS discounted_orders,
                   sum(quantity) AS units, sum(net_amount) AS spend, sum(discount) AS discount
            FROM {raw["order_lines"]} WHERE {when("ordered_at")} {grouping}""",
        f"""SELECT customer_id, category, {rollup}, started_at::DATE AS day,
                   count(DISTINCT session_id) AS sessions, sum(page_views) AS page_views,
                   sum(cart_adds) AS cart_adds, count(DISTINCT session_id) FILTER (cart_adds > 0) AS cart_sessions
            FROM {raw["session_views"]} WHERE {when("started_at")} {grouping}""",
    ]
    for action, column in (("sends", "sent_at"), ("opens", "opened_at"), ("clicks", "clicked_at")):
        parts.append(
            f"""SELECT customer_id, category, {rollup}, {column}::DATE AS day, count(*) AS email_{action}
                FROM {raw["emails"]} WHERE {when(column)} {grouping}"""
        )
    sums = ", ".join(f"coalesce(sum({m}), 0) AS {m}" for m in MEASURES)
    union = "\nUNION ALL BY NAME\n".join(parts)
    return f"""SELECT customer_id, CASE WHEN rollup = 1 THEN '{ALL}' ELSE category END AS category,
                      (day - DATE '1970-01-01')::INTEGER AS day, {sums}
               FROM ({union})
               WHERE rollup = 1 OR category IN (SELECT category FROM {raw["categories"]})
               GROUP BY ALL"""


def long_column(feature: Feature) -> tuple[int, str]:
    """Where the long table holds a catalog feature: its frame (``w``: the ``w`` days before the snapshot;
    ``-w``: the first ``w`` days of the year before) and its column."""
    m, w = feature.measure, feature.window
    if feature.aggregate == "sum":
        return w, m
    if feature.aggregate == "abandoned":
        return w, "abandoned"
    if feature.aggregate == "recency":
        return HISTORY_DAYS, f"days_since_{m}"
    if feature.aggregate == "last_year":
        return -w, m
    raise ValueError(f"feature {feature.name} is not a windowed aggregate")


def _column_sql(column: str) -> str:
    """A long-table column as an aggregate over the facts of a frame (``age``: days before the snapshot)."""
    if column == "abandoned":
        return "greatest(sum(cart_sessions) - sum(orders), 0)"
    if column.startswith("days_since_"):
        return f"min(age) FILTER ({column.removeprefix('days_since_')} > 0)"
    return f"sum({column})"


def windowed_query(views: tuple[View, ...], *, facts: str, snapshots: str, grace_days: int) -> str:
    """SQL for the long table: one row per (customer, category, snapshot, frame) with facts in the frame, and a
    column per aggregate of ``views`` over the frame's facts.

    A frame is a range of ages (days before the snapshot, the snapshot's own day excluded) that some feature sums
    over; each fact joins the frames its age falls in, so every aggregate is a plain sum over its frame's rows.
    Only the facts before a snapshot decide its rows: a (customer, category) has rows at a snapshot when it has
    facts in the 365 days before it, and category ``'*'`` also when the facts are in the ``grace_days`` before
    those (a row in no frame, ``frame`` null: the last row of a customer who went quiet, with empty windows,
    tells a point-in-time join so). The cost follows the (snapshot, fact) pairs, so the snapshots can be taken a
    few at a time at no extra cost.
    """
    wanted = [long_column(f) for v in views for f in v.features if f.aggregate is not None]
    frames = sorted({frame for frame, _ in wanted} | {HISTORY_DAYS})
    ages = ", ".join(
        f"({frame}, 1, {frame})" if frame > 0 else f"({frame}, {HISTORY_DAYS + 1 + frame}, {HISTORY_DAYS})"
        for frame in frames
    )
    columns = sorted({column for _, column in wanted})
    selected = ",\n           ".join(f"CAST({_column_sql(c)} AS DOUBLE) AS {c}" for c in columns)
    return f"""
WITH frames AS (SELECT * FROM (VALUES {ages}) t(frame, first_age, last_age)),
pairs AS (
    SELECT f.*, s.snap, s.snap - f.day AS age
    FROM {snapshots} s JOIN {facts} f
      ON f.day < s.snap
     AND f.day >= s.snap - {HISTORY_DAYS} - CASE WHEN f.category = '{ALL}' THEN {grace_days} ELSE 0 END
)
SELECT customer_id, category, snap AS day, frame,
       {selected}
FROM pairs LEFT JOIN frames ON age BETWEEN first_age AND last_age
GROUP BY customer_id, category, snap, frame
"""


def profile_query(view: View, *, snapshots: str, customers: str) -> str:
    """SQL for the dense profile view: a row for every customer signed up before each snapshot."""
    expressions = {
        "tenure_days": "date_diff('day', c.signup_at, s.event_timestamp)",
        "email_opt_in": "c.email_opt_in::INTEGER",
        "birth_year": "c.birth_year",
        "region": "c.region",
        "acquisition_channel": "c.acquisition_channel",
        "preferred_device": "c.preferred_device",
    }
    columns = ", ".join(f"CAST({expressions[f.name]} AS {_SQL_TYPES[f.dtype]}) AS {f.name}" for f in view.features)
    return f"""
SELECT c.customer_id, s.event_timestamp, {columns}
FROM {snapshots} s JOIN {customers} c ON c.signup_at < s.event_timestamp
ORDER BY s.event_timestamp, c.customer_id
"""
