"""The synthetic generator: determinism, schema, referential integrity and atomic output."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from propensity.datagen import simulate
from propensity.datagen.catalog import CATEGORIES
from propensity.datagen.output import read_manifest, read_table
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic
from tests.support.raw import raw_connection

SMALL = SyntheticConfig(customers=900, start=date(2024, 1, 1), end=date(2024, 9, 30), seed=3)


def _read_all(raw_dir: Path) -> dict:
    return {name: read_table(raw_dir, name) for name in RAW_SCHEMAS}


def test_same_seed_same_data_whatever_the_workers(tmp_path: Path) -> None:
    one = generate_synthetic(SMALL, tmp_path / "a", workers=1, chunk_size=400)
    two = generate_synthetic(SMALL, tmp_path / "b", workers=2, chunk_size=400)
    assert one == two
    a, b = _read_all(tmp_path / "a"), _read_all(tmp_path / "b")
    for name in RAW_SCHEMAS:
        assert a[name].equals(b[name]), name


def test_another_seed_other_data(tmp_path: Path) -> None:
    generate_synthetic(SMALL, tmp_path / "a", workers=1)
    generate_synthetic(SMALL.model_copy(update={"seed": 4}), tmp_path / "b", workers=1)
    a, b = read_table(tmp_path / "a", "order_lines"), read_table(tmp_path / "b", "order_lines")
    assert not a.equals(b)


def test_every_table_has_exactly_the_raw_schema(synthetic_raw: Path) -> None:
    for name, schema in RAW_SCHEMAS.items():
        files = sorted((synthetic_raw / name).glob("*.parquet"))
        assert files, name
        for file in files:
            assert pq.read_schema(file).remove_metadata().equals(schema), f"{name}: {file.name}"


def test_manifest_counts_the_rows_written(synthetic_raw: Path) -> None:
    manifest = read_manifest(synthetic_raw)
    assert manifest["source"]["kind"] == "synthetic"
    assert manifest["source"]["customers"] == 20_000
    for name in RAW_SCHEMAS:
        assert manifest["rows"][name] == pq.ParquetDataset(synthetic_raw / name).read().num_rows


def test_at_least_24_categories_each_with_products_and_buyers(synthetic_raw: Path) -> None:
    con = raw_connection(synthetic_raw)
    assert con.execute("SELECT count(*) FROM categories").fetchone()[0] == len(CATEGORIES) >= 24
    missing = con.execute(
        """SELECT category FROM categories
           WHERE category NOT IN (SELECT category FROM products)
              OR category NOT IN (SELECT category FROM order_lines)"""
    ).fetchall()
    assert missing == []
    assert con.execute("SELECT min(length(description)) FROM products").fetchone()[0] > 40


@pytest.mark.parametrize(
    ("child", "key", "parent", "parent_key"),
    [
        ("orders", "customer_id", "customers", "customer_id"),
        ("order_lines", "order_id", "orders", "order_id"),
        ("order_lines", "product_id", "products", "product_id"),
        ("order_lines", "category", "categories", "category"),
        ("products", "category", "categories", "category"),
        ("sessions", "customer_id", "customers", "customer_id"),
        ("session_views", "session_id", "sessions", "session_id"),
        ("session_views", "category", "categories", "category"),
        ("emails", "customer_id", "customers", "customer_id"),
        ("emails", "category", "categories", "category"),
    ],
)
def test_referential_integrity(synthetic_raw: Path, child: str, key: str, parent: str, parent_key: str) -> None:
    con = raw_connection(synthetic_raw)
    orphans = con.execute(
        f"SELECT count(*) FROM {child} WHERE {key} NOT IN (SELECT {parent_key} FROM {parent})"
    ).fetchone()[0]
    assert orphans == 0
    assert con.execute(f"SELECT count(*) FROM {child}").fetchone()[0] > 0


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("customers", "customer_id"),
        ("products", "product_id"),
        ("orders", "order_id"),
        ("order_lines", "order_id, line_number"),
        ("sessions", "session_id"),
        ("session_views", "session_id, category"),
        ("emails", "email_id"),
    ],
)
def test_keys_are_unique(synthetic_raw: Path, table: str, key: str) -> None:
    con = raw_connection(synthetic_raw)
    total, distinct = con.execute(f"SELECT count(*), count(DISTINCT ({key})) FROM {table}").fetchone()
    assert total == distinct


def test_orders_add_up_and_happen_between_signup_and_end(synthetic_raw: Path) -> None:
    con = raw_connection(synthetic_raw)
    mismatched = con.execute(
        """SELECT count(*) FROM orders o JOIN (
               SELECT order_id, count(*) n, sum(amount) a, sum(discount) d, sum(net_amount) net,
                      min(ordered_at) first_at, max(ordered_at) last_at
               FROM order_lines GROUP BY order_id) l USING (order_id)
           WHERE o.n_lines <> l.n OR abs(o.amount - l.a) > 0.011 * l.n OR abs(o.discount - l.d) > 0.011 * l.n
              OR abs(o.net_amount - l.net) > 0.011 * l.n OR o.ordered_at <> l.first_at OR l.first_at <> l.last_at"""
    ).fetchone()[0]
    assert mismatched == 0
    early = con.execute(
        "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE o.ordered_at <= c.signup_at"
    ).fetchone()[0]
    assert early == 0
    first, last = con.execute("SELECT min(ordered_at)::DATE, max(ordered_at)::DATE FROM orders").fetchone()
    assert date(2024, 1, 1) <= first and last <= date(2025, 12, 31)
    bad_lines = con.execute(
        """SELECT count(*) FROM order_lines WHERE quantity < 1 OR unit_price <= 0 OR discount < 0
           OR discount > amount OR abs(amount - quantity * unit_price) > 0.011
           OR abs(net_amount - (amount - discount)) > 0.011"""
    ).fetchone()[0]
    assert bad_lines == 0


def test_sessions_sum_their_category_views(synthetic_raw: Path) -> None:
    con = raw_connection(synthetic_raw)
    mismatched = con.execute(
        """SELECT count(*) FROM sessions s JOIN (
               SELECT session_id, sum(page_views) pv, sum(cart_adds) ca, min(started_at) first_at, min(customer_id) c
               FROM session_views GROUP BY session_id) v USING (session_id)
           WHERE s.page_views <> v.pv OR s.cart_adds <> v.ca OR s.started_at <> v.first_at OR s.customer_id <> v.c"""
    ).fetchone()[0]
    assert mismatched == 0
    assert con.execute("SELECT count(*) FROM sessions WHERE cart_adds > page_views").fetchone()[0] == 0


def test_emails_go_to_opted_in_customers_and_clicks_follow_opens(synthetic_raw: Path) -> None:
    con = raw_connection(synthetic_raw)
    to_opted_out = con.execute(
        "SELECT count(*) FROM emails JOIN customers USING (customer_id) WHERE NOT email_opt_in"
    ).fetchone()[0]
    assert to_opted_out == 0
    bad_order = con.execute(
        """SELECT count(*) FROM emails WHERE opened_at < sent_at OR clicked_at < opened_at
           OR (clicked_at IS NOT NULL AND opened_at IS NULL)"""
    ).fetchone()[0]
    assert bad_order == 0


def test_a_failed_run_leaves_nothing_and_keeps_old_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "raw"
    generate_synthetic(SMALL, target, workers=1)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    real = simulate.simulate_chunk

    def crash_on_second_chunk(cal, products, chunk_index, first_id, n):
        if chunk_index == 1:
            raise RuntimeError("simulated crash")
        return real(cal, products, chunk_index, first_id, n)

    monkeypatch.setattr("propensity.datagen.synthetic.simulate_chunk", crash_on_second_chunk)
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_synthetic(SMALL, target, workers=1, chunk_size=300, overwrite=True)
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # no staging directory left behind

    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_synthetic(SMALL, fresh, workers=1, chunk_size=300)
    assert not fresh.exists()
