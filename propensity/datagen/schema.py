"""The raw schema of the retailer: one Arrow schema per table, shared by every data source."""

from __future__ import annotations

import pyarrow as pa

from propensity.errors import DamagedDataError

TIMESTAMP = pa.timestamp("us", tz="UTC")

RAW_SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("signup_at", TIMESTAMP),
            ("region", pa.string()),
            ("acquisition_channel", pa.string()),
            ("preferred_device", pa.string()),
            ("email_opt_in", pa.bool_()),
            ("birth_year", pa.int16()),
        ]
    ),
    # The categories the models are built for (a product's category need not be one of them).
    "categories": pa.schema(
        [
            ("category", pa.string()),
            ("name", pa.string()),
            ("department", pa.string()),
        ]
    ),
    "products": pa.schema(
        [
            ("product_id", pa.int64()),
            ("category", pa.string()),
            ("department", pa.string()),
            ("name", pa.string()),
            ("description", pa.string()),
            ("list_price", pa.float64()),
        ]
    ),
    "orders": pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("ordered_at", TIMESTAMP),
            ("channel", pa.string()),
            ("n_lines", pa.int32()),
            ("amount", pa.float64()),
            ("discount", pa.float64()),
            ("net_amount", pa.float64()),
        ]
    ),
    "order_lines": pa.schema(
        [
            ("order_id", pa.int64()),
            ("line_number", pa.int32()),
            ("customer_id", pa.int64()),
            ("ordered_at", TIMESTAMP),
            ("product_id", pa.int64()),
            ("category", pa.string()),
            ("quantity", pa.int32()),
            ("unit_price", pa.float64()),
            ("amount", pa.float64()),
            ("discount", pa.float64()),
            ("net_amount", pa.float64()),
        ]
    ),
    "sessions": pa.schema(
        [
            ("session_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("started_at", TIMESTAMP),
            ("device", pa.string()),
            ("traffic_source", pa.string()),
            ("duration_s", pa.int32()),
            ("page_views", pa.int32()),
            ("cart_adds", pa.int32()),
        ]
    ),
    # Page views and cart adds of one session in one category.
    "session_views": pa.schema(
        [
            ("session_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("started_at", TIMESTAMP),
            ("category", pa.string()),
            ("page_views", pa.int32()),
            ("cart_adds", pa.int32()),
        ]
    ),
    # One row per email sent; opened_at / clicked_at are null when it was not opened / clicked.
    "emails": pa.schema(
        [
            ("email_id", pa.int64()),
            ("campaign_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("sent_at", TIMESTAMP),
            ("category", pa.string()),
            ("discount_pct", pa.float64()),
            ("opened_at", TIMESTAMP),
            ("clicked_at", TIMESTAMP),
        ]
    ),
}

# Tables written as one file per chunk of customers; the others are small and written whole.
CHUNKED_TABLES = ("customers", "orders", "order_lines", "sessions", "session_views", "emails")
SMALL_TABLES = ("categories", "products")

MANIFEST_FILE = "_manifest.json"


def conform(table: pa.Table, name: str) -> pa.Table:
    """Return ``table`` with exactly the columns, order and types of raw table ``name``."""
    schema = RAW_SCHEMAS[name]
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise DamagedDataError(f"table {name!r} lacks column(s) {', '.join(missing)}")
    return table.select(schema.names).cast(schema)


def empty_table(name: str) -> pa.Table:
    """An empty table with the schema of raw table ``name``."""
    return RAW_SCHEMAS[name].empty_table()
