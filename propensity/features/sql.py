"""DuckDB SQL for the features, generated from the catalog.

1. ``daily_facts`` condenses the raw event tables into one row per customer, category and day, plus a roll-up
   row per customer and day with category ``'*'`` (so overall counts never double-count an order that spans
   categories). Email actions count on the day they happened (sent, opened, clicked): an email opened after a
   snapshot never counts as opened at that snapshot.
2. ``windowed_query`` adds one *probe* row per (customer, category, snapshot day) and computes every windowed
   aggregate the catalog needs with ``RANGE`` window frames over days, keeping only the probe rows: a long table
   of (customer, category, snapshot) rows, one column per aggregate. Its cost grows with the rows, not with the
   number of categories or features.

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


def long_column(feature: Feature) -> tuple[str, str]:
    """The long-table column a catalog feature is read from, and its SQL (a window aggregate over ``w<days>``
    frames, the probe's own day excluded)."""
    m, w = feature.measure, feature.window
    if feature.aggregate == "sum":
        return f"{m}_{w}d", f"sum({m}) OVER w{w}"
    if feature.aggregate == "abandoned":
        return f"abandoned_{w}d", f"greatest(sum(cart_sessions) OVER w{w} - sum(orders) OVER w{w}, 0)"
    if feature.aggregate == "recency":
        return f"days_since_{m}", f"day - max(day) FILTER ({m} > 0) OVER w{HISTORY_DAYS}"
    if feature.aggregate == "last_year":
        return f"{m}_last_year_{w}d", f"sum({m}) OVER ly{w}"
    raise ValueError(f"feature {feature.name} is not a windowed aggregate")


def windowed_query(views: tuple[View, ...], *, facts: str, snapshots: str, grace_days: int) -> str:
    """SQL for the long table: one row per (customer, category, snapshot) that has facts in the 365 days before
    the snapshot, with every windowed aggregate of ``views`` as a column.

    Category ``'*'`` rows exist for every customer with any event in the ``365 + grace_days`` days before a
    snapshot: they are the rows of the sparse views (the last one, with empty windows, tells a point-in-time
    join that the customer went quiet). Which (customer, category) pairs get a row follows from all of
    ``facts``; the windows read only the facts of the 365 days before the snapshots (no frame reaches further),
    so a few snapshots cost their own window of facts, not the whole history.
    """
    columns = dict(long_column(f) for v in views for f in v.features if f.aggregate is not None)
    windows = sorted({f.window for v in views for f in v.features if f.aggregate in ("sum", "abandoned")})
    frames = [f"w{w} AS (cell RANGE BETWEEN {w} PRECEDING AND 1 PRECEDING)" for w in {*windows, HISTORY_DAYS}]
    last_year = sorted({f.window for v in views for f in v.features if f.aggregate == "last_year"})
    frames += [
        f"ly{w} AS (cell RANGE BETWEEN {HISTORY_DAYS} PRECEDING AND {HISTORY_DAYS + 1 - w} PRECEDING)"
        for w in last_year
    ]
    selected = ",\n           ".join(f"CAST({sql} AS DOUBLE) AS {name}" for name, sql in columns.items())
    return f"""
WITH spans AS (SELECT customer_id, category, min(day) AS first_day, max(day) AS last_day FROM {facts} GROUP BY ALL),
probes AS (
    SELECT p.customer_id, p.category, s.snap AS day, TRUE AS probe
    FROM spans p JOIN {snapshots} s
      ON s.snap > p.first_day
     AND s.snap <= p.last_day + {HISTORY_DAYS} + CASE WHEN p.category = '{ALL}' THEN {grace_days} ELSE 0 END
),
rows AS (
    SELECT *, FALSE AS probe FROM {facts}
    WHERE day >= (SELECT min(snap) FROM {snapshots}) - {HISTORY_DAYS} AND day < (SELECT max(snap) FROM {snapshots})
    UNION ALL BY NAME SELECT * FROM probes
),
windowed AS (
    SELECT customer_id, category, day, probe,
           {selected}
    FROM rows
    WINDOW cell AS (PARTITION BY customer_id, category ORDER BY day), {", ".join(frames)}
)
SELECT * EXCLUDE (probe) FROM windowed WHERE probe ORDER BY day, customer_id, category
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
