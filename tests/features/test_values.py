"""Feature values against an independent pandas computation on a small hand-made history.

The oracle works on timestamps and raw rows directly (the pipeline works on daily facts and window frames), and
computes every feature of the catalog, so every family, category and window is checked, not a sample.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from propensity.config import Workspace
from propensity.datagen.output import raw_output, write_tables
from propensity.features.catalog import EMBEDDING_FEATURE, HISTORY_DAYS, View, workspace_catalog
from propensity.features.offline_store import OfflineStore
from propensity.features.pipeline import BuildConfig, build_features
from tests.support.feature_store import read_view

T1 = datetime(2025, 3, 3, tzinfo=UTC)  # snapshots (Mondays, midnight UTC)
T2 = datetime(2025, 3, 10, tzinfo=UTC)
US = timedelta(microseconds=1)
CATEGORIES = ["mugs", "photo_books"]


def _history() -> dict[str, pd.DataFrame]:
    """Three customers with events on and around every window boundary of T1; customer 4 never active;
    customer 5 quiet for more than a year before T1, but inside the grace period; customer 7 quiet for longer
    than that before T1 and active again between T1 and T2 (no row at T1: only what came before it counts)."""
    lines = [  # order_id, customer, ts, category, quantity, net, discount
        (1, 1, T1 - timedelta(days=7), "mugs", 2, 30.0, 0.0),  # exactly at the 7-day edge: in
        (2, 1, T1 - timedelta(days=7) - US, "mugs", 1, 15.0, 5.0),  # just before it: out of 7d, in 14d
        (3, 1, T1 - US, "photo_books", 1, 45.0, 0.0),  # last instant before T1
        (3, 1, T1 - US, "mugs", 3, 40.0, 4.0),  # same order, second category
        (4, 1, T1, "mugs", 1, 15.0, 0.0),  # at T1 itself: only for T2
        (5, 2, T1 - timedelta(days=365), "photo_books", 1, 50.0, 10.0),  # exactly 365 days before T1: in
        (6, 2, T1 - timedelta(days=366), "photo_books", 1, 50.0, 0.0),  # out of every window
        (7, 2, T1 - timedelta(days=340), "gift_cards", 5, 25.0, 0.0),  # a category not modelled
        (8, 3, T1 - timedelta(days=89, hours=3), "mugs", 1, 12.0, 0.0),
        (9, 5, T1 - timedelta(days=368), "mugs", 1, 12.0, 0.0),  # quiet > 365 days, within 365 + 7
        (10, 3, T2, "mugs", 1, 12.0, 0.0),  # exactly at T2: in no window of T2
        (12, 2, T1 - timedelta(days=335), "photo_books", 1, 50.0, 0.0),  # just after last year's 30-day window
        (11, 6, T1 - US, "photo_books", 1, 45.0, 0.0),  # the first and only event, just before T1
        (13, 7, T1 - timedelta(days=400), "mugs", 1, 12.0, 0.0),  # long before T1, beyond the grace period
    ]
    order_lines = pd.DataFrame(
        lines, columns=["order_id", "customer_id", "ordered_at", "category", "quantity", "net_amount", "discount"]
    )
    order_lines["amount"] = order_lines.net_amount + order_lines.discount
    order_lines["line_number"] = order_lines.groupby("order_id").cumcount() + 1
    order_lines["unit_price"] = order_lines.amount / order_lines.quantity
    order_lines["product_id"] = order_lines.category.map({"mugs": 1, "photo_books": 2, "gift_cards": 3})
    views = [  # session, customer, started_at, category, page_views, cart_adds
        (10, 1, T1 - timedelta(days=1), "mugs", 3, 1),
        (10, 1, T1 - timedelta(days=1), "photo_books", 2, 0),
        (11, 1, T1 - timedelta(days=30), "photo_books", 4, 2),  # exactly at the 30-day edge
        (12, 3, T1 - timedelta(days=2), "photo_books", 5, 1),  # cart add, no order: abandoned
        (13, 3, T1 + timedelta(hours=5), "mugs", 1, 1),  # after T1
        (14, 7, T1 + timedelta(days=3), "mugs", 2, 0),  # back between T1 and T2
    ]
    session_views = pd.DataFrame(
        views, columns=["session_id", "customer_id", "started_at", "category", "page_views", "cart_adds"]
    )
    emails = pd.DataFrame(
        [  # email, customer, sent, category, opened, clicked
            (20, 1, T1 - timedelta(days=3), "mugs", T1 - timedelta(days=2), T1 - timedelta(days=2) + US),
            (21, 3, T1 - timedelta(days=1), "photo_books", T1 + timedelta(hours=1), None),  # opened after T1
            (22, 3, T1 - timedelta(days=15), "mugs", None, None),
        ],
        columns=["email_id", "customer_id", "sent_at", "category", "opened_at", "clicked_at"],
    )
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6, 7],
            "signup_at": [T1 - timedelta(days=d) for d in (400, 800, 100, 10, 900, 3, 500)],
            "region": ["north", "london", None, "north", "wales", "north", "wales"],
            "acquisition_channel": ["direct"] * 7,
            "preferred_device": ["mobile"] * 7,
            "email_opt_in": [True, False, True, None, True, False, True],
            "birth_year": [1980, None, 1990, 2000, 1970, 1999, 1985],
        }
    )
    return {"order_lines": order_lines, "session_views": session_views, "emails": emails, "customers": customers}


def _write_raw(ws: Workspace, history: dict[str, pd.DataFrame]) -> None:
    lines = history["order_lines"]
    orders = lines.groupby("order_id").agg(
        customer_id=("customer_id", "first"), ordered_at=("ordered_at", "first"), n_lines=("order_id", "size"),
        amount=("amount", "sum"), discount=("discount", "sum"), net_amount=("net_amount", "sum"),
    ).reset_index().assign(channel="web")  # fmt: skip
    sessions = history["session_views"].groupby("session_id").agg(
        customer_id=("customer_id", "first"), started_at=("started_at", "first"),
        page_views=("page_views", "sum"), cart_adds=("cart_adds", "sum"),
    ).reset_index().assign(device="mobile", traffic_source="direct", duration_s=60)  # fmt: skip
    products = pd.DataFrame(
        {"product_id": [1, 2, 3], "category": ["mugs", "photo_books", "gift_cards"], "department": "gifts",
         "name": ["Mug", "Book", "Card"], "description": ["a pet mug", "a travel photo book", "a gift card"],
         "list_price": [15.0, 45.0, 5.0]}
    )  # fmt: skip
    tables = {
        "customers": history["customers"], "orders": orders, "order_lines": lines, "sessions": sessions,
        "session_views": history["session_views"], "emails": history["emails"].assign(campaign_id=1, discount_pct=0.0),
        "products": products,
        "categories": pd.DataFrame({"category": CATEGORIES, "name": CATEGORIES, "department": "gifts"}),
    }  # fmt: skip
    with raw_output(ws.raw_dir, overwrite=False, source={"kind": "handmade"}) as batch:
        batch.add(
            write_tables(batch.root, {k: pa.Table.from_pandas(v, preserve_index=False) for k, v in tables.items()}, 0)
        )


def _oracle(
    history: dict[str, pd.DataFrame], views: tuple[View, ...], t: datetime, grace: int
) -> dict[str, pd.DataFrame]:
    """Every feature at snapshot ``t``, computed straight from the raw rows."""
    lines, sv, emails = history["order_lines"], history["session_views"], history["emails"]
    events = {  # measure -> (frame, timestamp column, how to aggregate the selected rows)
        "orders": (lines, "ordered_at", lambda d: d.order_id.nunique()),
        "discounted_orders": (lines, "ordered_at", lambda d: d[d.discount > 0].order_id.nunique()),
        "units": (lines, "ordered_at", lambda d: d.quantity.sum()),
        "spend": (lines, "ordered_at", lambda d: d.net_amount.sum()),
        "discount": (lines, "ordered_at", lambda d: d.discount.sum()),
        "sessions": (sv, "started_at", lambda d: d.session_id.nunique()),
        "page_views": (sv, "started_at", lambda d: d.page_views.sum()),
        "cart_adds": (sv, "started_at", lambda d: d.cart_adds.sum()),
        "cart_sessions": (sv, "started_at", lambda d: d[d.cart_adds > 0].session_id.nunique()),
        "email_sends": (emails, "sent_at", len),
        "email_opens": (emails, "opened_at", len),
        "email_clicks": (emails, "clicked_at", len),
    }

    def select(measure: str, customer: int, category: str | None, start: datetime, end: datetime) -> pd.DataFrame:
        frame, ts, _ = events[measure]
        rows = frame[(frame.customer_id == customer) & frame[ts].notna()]
        rows = rows[(pd.to_datetime(rows[ts], utc=True) >= start) & (pd.to_datetime(rows[ts], utc=True) < end)]
        return rows if category is None else rows[rows.category == category]

    def value(measure, customer, category, start, end):
        return events[measure][2](select(measure, customer, category, start, end))

    horizon = t - timedelta(days=HISTORY_DAYS + grace)
    active = sorted(
        {c for m, (f, ts, _) in events.items() for c in f.customer_id.unique() if len(select(m, c, None, horizon, t))}
    )
    out = {}
    for view in views:
        if view.dense or view.is_embedding:
            continue
        rows = []
        for customer in active:
            row = {"customer_id": customer}
            for f in view.features:
                start = t - timedelta(days=f.window)
                if f.aggregate == "sum":
                    row[f.name] = value(f.measure, customer, f.category, start, t)
                elif f.aggregate == "abandoned":
                    row[f.name] = max(
                        value("cart_sessions", customer, f.category, start, t)
                        - value("orders", customer, f.category, start, t), 0
                    )  # fmt: skip
                elif f.aggregate == "last_year":
                    year_ago = t - timedelta(days=HISTORY_DAYS)
                    row[f.name] = value(f.measure, customer, f.category, year_ago, year_ago + timedelta(days=f.window))
                elif f.aggregate == "recency":
                    ts = events[f.measure][1]
                    hits = select(f.measure, customer, f.category, t - timedelta(days=HISTORY_DAYS), t)
                    column = {"orders": None, "page_views": "page_views", "cart_adds": "cart_adds"}[f.measure]
                    if column:
                        hits = hits[hits[column] > 0]
                    last = pd.to_datetime(hits[ts], utc=True).max() if len(hits) else None
                    row[f.name] = np.nan if last is None else (t.date() - last.date()).days
            rows.append(row)
        out[view.name] = pd.DataFrame(rows)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ray_session) -> tuple[Workspace, dict]:
    ws = Workspace.resolve(tmp_path_factory.mktemp("handmade"))
    history = _history()
    _write_raw(ws, history)
    report = build_features(ws, config=BuildConfig(buckets=2))  # the whole history: T1 and T2 in one build
    assert {T1.date(), T2.date()} <= set(report.dates)
    return ws, history


@pytest.mark.parametrize("t", [T1, T2], ids=["T1", "T2"])
def test_every_windowed_feature_matches_the_pandas_oracle(built, t: datetime) -> None:
    ws, history = built
    views = workspace_catalog(ws)
    expected = _oracle(history, views, t, grace=7)
    assert set(expected["customer_rfm"].customer_id) == ({1, 2, 3, 5, 6} if t == T1 else {1, 2, 3, 6, 7})
    for view in views:
        if view.name not in expected:
            continue
        actual = read_view(ws, view.name)
        actual = actual[actual.event_timestamp == pd.Timestamp(t)].drop(columns=["event_timestamp", "created_at"])
        want = expected[view.name]
        assert sorted(actual.customer_id) == sorted(want.customer_id), view.name
        actual = actual.set_index("customer_id").sort_index()
        want = want.set_index("customer_id").sort_index()[actual.columns]
        pd.testing.assert_frame_equal(actual.astype("float64"), want.astype("float64"), check_names=False, rtol=1e-6)


def test_boundaries_by_hand(built) -> None:
    """A few values spelled out, so the oracle itself is checked against the definitions."""
    ws, _ = built
    orders = read_view(ws, "category_orders").set_index(["customer_id", "event_timestamp"])
    rfm = read_view(ws, "customer_rfm").set_index(["customer_id", "event_timestamp"])
    email = read_view(ws, "category_email").set_index(["customer_id", "event_timestamp"])
    at_t1 = pd.Timestamp(T1)
    assert orders.loc[(1, at_t1), "orders_mugs_7d"] == 2  # the edge order and the last-instant order
    assert orders.loc[(1, at_t1), "orders_mugs_14d"] == 3
    assert rfm.loc[(1, at_t1), "all_orders_7d"] == 2  # order 3 spans two categories but counts once
    assert orders.loc[(2, at_t1), "orders_photo_books_365d"] == 2  # days -365 and -335 in; -366 out
    assert rfm.loc[(2, at_t1), "all_orders_365d"] == 3  # the unmodelled category counts overall
    seasonal = read_view(ws, "category_seasonal").set_index(["customer_id", "event_timestamp"])
    assert seasonal.loc[(2, at_t1), "orders_last_year_photo_books_30d"] == 1  # day -365 in, day -335 out
    assert seasonal.loc[(2, at_t1), "orders_last_year_photo_books_90d"] == 2
    assert email.loc[(3, at_t1), "email_sends_photo_books_7d"] == 1
    assert email.loc[(3, at_t1), "email_opens_photo_books_7d"] == 0  # opened after the snapshot
    assert np.isnan(rfm.loc[(5, at_t1), "days_since_order"])  # quiet for over a year: a row with no recency
    assert rfm.loc[(5, at_t1), "all_orders_365d"] == 0
    assert orders.loc[(6, at_t1), "orders_photo_books_7d"] == 1  # first event the instant before the snapshot
    assert orders.loc[(3, pd.Timestamp(T2)), "orders_mugs_7d"] == 0  # the order at T2 itself is not seen


def test_profile_is_dense_and_typed(built) -> None:
    ws, _ = built
    profile = read_view(ws, "customer_profile")
    at_t1 = profile[profile.event_timestamp == pd.Timestamp(T1)].set_index("customer_id")
    assert sorted(at_t1.index) == [1, 2, 3, 4, 5, 6, 7]  # customer 4 never did anything but is a customer
    assert at_t1.loc[4, "tenure_days"] == 10
    assert at_t1.loc[2, "email_opt_in"] == 0 and pd.isna(at_t1.loc[4, "email_opt_in"])
    assert at_t1.loc[1, "region"] == "north" and at_t1.loc[3, "region"] is None


def test_text_embedding_is_the_spend_weighted_mean(built) -> None:
    ws, _ = built
    from propensity.features.embedding import embed_products

    with OfflineStore(ws).commit() as commit:
        products = embed_products(ws, commit).to_pandas().set_index("product_id")
    vectors = {pid: np.asarray(v) for pid, v in products.embedding.items()}
    emb = read_view(ws, "customer_text_embedding")
    row = emb[(emb.customer_id == 1) & (emb.event_timestamp == pd.Timestamp(T1))].iloc[0]
    # customer 1 before T1: mugs 30 + 15 + 40 net, photo book 45 net (all within 365 days)
    expected = (85 * vectors[1] + 45 * vectors[2]) / 130
    np.testing.assert_allclose(np.asarray(row[EMBEDDING_FEATURE]), expected, rtol=1e-5, atol=1e-6)
    quiet = emb[(emb.customer_id == 5) & (emb.event_timestamp == pd.Timestamp(T1))]
    assert quiet[EMBEDDING_FEATURE].isna().all()  # nothing bought within the year: null, not zeros
