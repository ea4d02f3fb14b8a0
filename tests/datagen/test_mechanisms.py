"""Each documented mechanism of docs/DATA.md is visible in the generated data.

Every comparison is between groups of customer x category x cutoff cells, measured on 20,000 customers; the
thresholds are the mechanisms' direction with a margin, not numbers copied from a run.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from propensity.datagen.catalog import CATEGORIES, THEMES
from tests.support.raw import raw_connection

CUTOFFS = "'2024-09-01', '2024-12-01', '2025-03-01', '2025-06-01', '2025-09-01'"


@pytest.fixture(scope="module")
def con(synthetic_raw: Path) -> duckdb.DuckDBPyConnection:
    """Raw views plus ``cells``: customer x category x cutoff, with history before and the label after."""
    con = raw_connection(synthetic_raw)
    con.execute(
        f"""
        CREATE TABLE cutoffs AS SELECT unnest([{CUTOFFS}])::TIMESTAMPTZ AS cutoff;
        CREATE TABLE cells AS
        WITH base AS (
            SELECT c.customer_id, k.category, t.cutoff
            FROM customers c, categories k, cutoffs t WHERE c.signup_at < t.cutoff
        ),
        buys AS (
            SELECT b.customer_id, b.category, b.cutoff,
                   count(*) FILTER (l.ordered_at >= b.cutoff AND l.ordered_at < b.cutoff + INTERVAL 30 DAY) AS next30,
                   count(*) FILTER (l.ordered_at < b.cutoff AND l.ordered_at >= b.cutoff - INTERVAL 90 DAY) AS last90,
                   count(*) FILTER (l.ordered_at < b.cutoff) AS ever,
                   max(l.ordered_at) FILTER (l.ordered_at < b.cutoff) AS last_at
            FROM base b JOIN order_lines l USING (customer_id, category) GROUP BY ALL
        ),
        views AS (
            SELECT b.customer_id, b.category, b.cutoff, sum(v.page_views) AS views30
            FROM base b JOIN session_views v USING (customer_id, category)
            WHERE v.started_at < b.cutoff AND v.started_at >= b.cutoff - INTERVAL 30 DAY GROUP BY ALL
        ),
        clicks AS (
            SELECT b.customer_id, b.category, b.cutoff, count(e.clicked_at) AS clicks30, count(*) AS sent30
            FROM base b JOIN emails e USING (customer_id, category)
            WHERE e.sent_at < b.cutoff AND e.sent_at >= b.cutoff - INTERVAL 30 DAY
              AND (e.clicked_at IS NULL OR e.clicked_at < b.cutoff) GROUP BY ALL
        )
        SELECT b.*, coalesce(next30, 0) > 0 AS label, coalesce(last90, 0) AS last90, coalesce(ever, 0) AS ever,
               date_diff('day', last_at, b.cutoff) AS days_since, coalesce(views30, 0) AS views30,
               coalesce(clicks30, 0) AS clicks30, coalesce(sent30, 0) AS sent30
        FROM base b LEFT JOIN buys USING (customer_id, category, cutoff)
        LEFT JOIN views USING (customer_id, category, cutoff) LEFT JOIN clicks USING (customer_id, category, cutoff);
        """
    )
    return con


def rate(con: duckdb.DuckDBPyConnection, where: str) -> float:
    """Share of cells matching ``where`` that buy the category in the next 30 days."""
    value, n = con.execute(f"SELECT avg(label::INT), count(*) FROM cells WHERE {where}").fetchone()
    assert n >= 200, f"too few cells for {where!r}: {n}"
    return value


def test_browsing_a_category_predicts_buying_it(con: duckdb.DuckDBPyConnection) -> None:
    assert rate(con, "views30 > 0 AND ever = 0") > 3 * rate(con, "views30 = 0 AND ever = 0")


def test_recent_and_frequent_buyers_buy_again(con: duckdb.DuckDBPyConnection) -> None:
    never = rate(con, "ever = 0")
    assert rate(con, "days_since <= 60") > 3 * never
    assert rate(con, "days_since <= 60") > 1.5 * rate(con, "days_since > 240")
    assert rate(con, "ever >= 3") > 1.5 * rate(con, "ever = 1")


def test_email_clicks_predict_buying_the_featured_category(con: duckdb.DuckDBPyConnection) -> None:
    assert rate(con, "clicks30 > 0") > 1.5 * rate(con, "sent30 > 0 AND clicks30 = 0")


def test_buying_a_related_category_raises_the_chance(con: duckdb.DuckDBPyConnection) -> None:
    pairs = [(src, c.slug) for c in CATEGORIES for src in c.related]
    con.execute("CREATE OR REPLACE TEMP TABLE related(source VARCHAR, target VARCHAR)")
    con.executemany("INSERT INTO related VALUES (?, ?)", pairs)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE with_related AS
           SELECT c.*, EXISTS (
               SELECT 1 FROM related r JOIN cells s ON s.category = r.source
               WHERE r.target = c.category AND s.customer_id = c.customer_id AND s.cutoff = c.cutoff
                 AND s.days_since <= 60) AS bought_related
           FROM cells c WHERE c.ever = 0"""
    )
    with_related, without = (
        con.execute(f"SELECT avg(label::INT) FROM with_related WHERE bought_related = {flag}").fetchone()[0]
        for flag in ("true", "false")
    )
    assert with_related > 2 * without


def test_taste_seen_in_product_descriptions_predicts_categories(con: duckdb.DuckDBPyConnection) -> None:
    """Fans of a theme (most of their 2024 purchases' descriptions use its words) buy its categories more in 2025."""
    for theme in ("pets", "wedding", "baby", "sports"):
        words = " OR ".join("p.description ILIKE '%{}%'".format(w.replace("'", "''")) for w in THEMES[theme])
        favoured = ", ".join(f"'{c.slug}'" for c in CATEGORIES if theme in c.themes)
        share = con.execute(
            f"""WITH fans AS (
                    SELECT l.customer_id, avg(({words})::INT) > 0.5 AS fan
                    FROM order_lines l JOIN products p USING (product_id)
                    WHERE l.ordered_at < '2025-01-01' GROUP BY 1)
                SELECT fan, avg((l.category IN ({favoured}))::INT) FROM order_lines l JOIN fans USING (customer_id)
                WHERE l.ordered_at >= '2025-01-01' GROUP BY fan ORDER BY fan"""
        ).fetchall()
        (_, others), (_, fans) = share
        assert fans > 1.3 * others, theme


def test_holiday_peak_for_cards_and_calendars(con: duckdb.DuckDBPyConnection) -> None:
    for category in ("greeting_cards", "wall_calendars", "christmas_ornaments"):
        december, july = con.execute(
            f"""SELECT count(*) FILTER (month(ordered_at) = 12), count(*) FILTER (month(ordered_at) = 7)
                FROM order_lines WHERE category = '{category}'"""
        ).fetchone()
        assert december > 3 * july, category


def test_calendars_are_bought_again_a_year_later(con: duckdb.DuckDBPyConnection) -> None:
    again, others = con.execute(
        """WITH bought24 AS (SELECT DISTINCT customer_id FROM order_lines
                             WHERE category = 'wall_calendars' AND ordered_at < '2025-01-01'),
                bought25 AS (SELECT DISTINCT customer_id FROM order_lines
                             WHERE category = 'wall_calendars' AND ordered_at >= '2025-10-01')
           SELECT avg((b25.customer_id IS NOT NULL)::INT) FILTER (b24.customer_id IS NOT NULL),
                  avg((b25.customer_id IS NOT NULL)::INT) FILTER (b24.customer_id IS NULL)
           FROM customers c LEFT JOIN bought24 b24 USING (customer_id) LEFT JOIN bought25 b25 USING (customer_id)
           WHERE c.signup_at < '2024-01-01'"""
    ).fetchone()
    assert again > 4 * others


def test_spend_is_heavy_tailed(con: duckdb.DuckDBPyConnection) -> None:
    spend = np.sort(np.array(con.execute("SELECT sum(net_amount) FROM orders GROUP BY customer_id").fetchall())[:, 0])
    top_decile_share = spend[-len(spend) // 10 :].sum() / spend.sum()
    assert top_decile_share > 0.35
    assert spend.mean() > 1.3 * np.median(spend)


def test_most_customers_are_inactive_in_any_month(con: duckdb.DuckDBPyConnection) -> None:
    shares = con.execute(
        """SELECT m, (SELECT count(DISTINCT customer_id) FROM orders WHERE date_trunc('month', ordered_at) = m)
                     / (SELECT count(*) FROM customers WHERE signup_at < m)
           FROM (SELECT DISTINCT date_trunc('month', ordered_at) AS m FROM orders) WHERE m > '2024-01-01'"""
    ).fetchall()
    assert len(shares) >= 22
    assert max(share for _, share in shares) < 0.3


def test_a_simple_score_ranks_buyers_well_but_not_perfectly(con: duckdb.DuckDBPyConnection) -> None:
    """A hand-made score of history reaches an AUC well above 0.5 and below 1: there is signal to model."""
    label, score = np.array(
        con.execute(
            """SELECT label::INT, ln(1 + views30) + ln(1 + last90) + 0.5 * ln(1 + ever) + ln(1 + clicks30)
               FROM cells"""
        ).fetchall()
    ).T
    ranks = pd.Series(score).rank().to_numpy()
    positives = label == 1
    auc = (ranks[positives].sum() - positives.sum() * (positives.sum() + 1) / 2) / (
        positives.sum() * (~positives).sum()
    )
    assert 0.65 < auc < 0.97
