"""The feature catalog: every feature declared once, as families x categories x windows.

The catalog drives both the DuckDB SQL that computes the features (``propensity.features.sql``) and the Feast
definitions in ``feature_repo/``. Adding a window is one entry in ``WINDOWS``; adding a family is one line in
``FAMILIES``; categories come from the workspace's ``categories`` table.

Every aggregate is over events strictly before the snapshot time ``t`` (midnight UTC); a window of ``w`` days
covers events in ``[t - w days, t)``. A "measure" is a column of one of the daily fact tables
(``propensity.features.sql.FACTS``); a family aggregates one measure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from propensity.config import Workspace
from propensity.errors import BadInputError, DamagedDataError

GRID_ANCHOR = date(2000, 1, 3)  # a Monday: weekly snapshots (and weekly label cutoffs) fall on Mondays
WINDOWS: tuple[int, ...] = (7, 14, 30, 90, 180, 365)
HISTORY_DAYS = max(WINDOWS)
OWNER = "propensity"

DType = Literal["int32", "float32", "string", "float32_array"]
Aggregate = Literal["sum", "recency", "abandoned", "last_year"]

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Family:
    """Features of one kind: one per category (if ``per_category``) and window."""

    name: str
    view: str
    measure: str  # column of a daily fact table
    aggregate: Aggregate
    dtype: DType
    unit: str
    description: str  # may use {category} and {window}
    per_category: bool = True
    windows: tuple[int, ...] = WINDOWS


@dataclass(frozen=True)
class Feature:
    """One feature: a column of its view's offline dataset and a field of its Feast feature view."""

    name: str
    view: str
    family: str
    dtype: DType
    unit: str
    description: str
    category: str | None
    window: int | None
    measure: str | None
    aggregate: Aggregate | None


@dataclass(frozen=True)
class View:
    """One feature view: its features, how long a row stays valid, and whether it is served online."""

    name: str
    description: str
    ttl_days: int  # 0: rows never expire
    online: bool
    family: str  # tag: the kind of features it holds
    features: tuple[Feature, ...]
    dense: bool = False  # a row for every customer at every snapshot (else: only recently active ones)

    @property
    def is_embedding(self) -> bool:
        """True for the text-embedding view, computed by its own job rather than by SQL aggregates."""
        return self.features[0].name == EMBEDDING_FEATURE


FAMILIES: tuple[Family, ...] = (
    # per category ---------------------------------------------------------------------------------------
    Family("orders", "category_orders", "orders", "sum", "int32", "orders", "Orders with {category} in the last {window} days"),
    Family("discounted_orders", "category_orders", "discounted_orders", "sum", "int32", "orders", "Orders with discounted {category} in the last {window} days"),
    Family("units", "category_units", "units", "sum", "int32", "units", "Units of {category} bought in the last {window} days"),
    Family("spend", "category_spend", "spend", "sum", "float32", "currency", "Net spend on {category} in the last {window} days"),
    Family("discount", "category_spend", "discount", "sum", "float32", "currency", "Discount taken on {category} in the last {window} days"),
    Family("days_since_purchase", "category_recency", "orders", "recency", "int32", "days", "Days since the last purchase of {category} (null: none in 365 days)", windows=(HISTORY_DAYS,)),
    Family("days_since_view", "category_recency", "page_views", "recency", "int32", "days", "Days since {category} was last viewed (null: not in 365 days)", windows=(HISTORY_DAYS,)),
    Family("days_since_cart_add", "category_recency", "cart_adds", "recency", "int32", "days", "Days since {category} was last added to a cart (null: not in 365 days)", windows=(HISTORY_DAYS,)),
    Family("sessions", "category_sessions", "sessions", "sum", "int32", "sessions", "Web sessions viewing {category} in the last {window} days"),
    Family("page_views", "category_page_views", "page_views", "sum", "int32", "page views", "Page views of {category} in the last {window} days"),
    Family("cart_adds", "category_cart", "cart_adds", "sum", "int32", "cart adds", "Cart adds of {category} in the last {window} days"),
    Family("abandoned_carts", "category_cart", "cart_sessions", "abandoned", "int32", "sessions", "Sessions adding {category} to a cart, minus orders of it, in the last {window} days (floor 0)"),
    Family("email_sends", "category_email", "email_sends", "sum", "int32", "emails", "Emails featuring {category} received in the last {window} days"),
    Family("email_opens", "category_email", "email_opens", "sum", "int32", "emails", "Emails featuring {category} opened in the last {window} days"),
    Family("email_clicks", "category_email", "email_clicks", "sum", "int32", "emails", "Emails featuring {category} clicked in the last {window} days"),
    Family("orders_last_year", "category_seasonal", "orders", "last_year", "int32", "orders", "Orders with {category} in the {window} days that started a year before the snapshot", windows=(30, 90)),
    # whole customer ---------------------------------------------------------------------------------------
    Family("all_orders", "customer_rfm", "orders", "sum", "int32", "orders", "Orders in the last {window} days", per_category=False),
    Family("all_units", "customer_rfm", "units", "sum", "int32", "units", "Units bought in the last {window} days", per_category=False),
    Family("all_spend", "customer_rfm", "spend", "sum", "float32", "currency", "Net spend in the last {window} days", per_category=False),
    Family("all_discount", "customer_rfm", "discount", "sum", "float32", "currency", "Discount taken in the last {window} days", per_category=False),
    Family("days_since_order", "customer_rfm", "orders", "recency", "int32", "days", "Days since the last order (null: none in 365 days)", per_category=False, windows=(HISTORY_DAYS,)),
    Family("all_sessions", "customer_engagement", "sessions", "sum", "int32", "sessions", "Category views in web sessions in the last {window} days", per_category=False),
    Family("all_page_views", "customer_engagement", "page_views", "sum", "int32", "page views", "Page views in the last {window} days", per_category=False),
    Family("all_cart_adds", "customer_engagement", "cart_adds", "sum", "int32", "cart adds", "Cart adds in the last {window} days", per_category=False),
    Family("all_email_sends", "customer_engagement", "email_sends", "sum", "int32", "emails", "Emails received in the last {window} days", per_category=False),
    Family("all_email_opens", "customer_engagement", "email_opens", "sum", "int32", "emails", "Emails opened in the last {window} days", per_category=False),
    Family("all_email_clicks", "customer_engagement", "email_clicks", "sum", "int32", "emails", "Emails clicked in the last {window} days", per_category=False),
)  # fmt: skip

# Features computed by hand-written SQL in propensity.features.sql (not families x categories x windows).
PROFILE: tuple[tuple[str, DType, str, str], ...] = (
    ("tenure_days", "int32", "days", "Days since signup"),
    ("email_opt_in", "int32", "flag", "1 if the customer accepts marketing email, 0 if not, null if unknown"),
    ("birth_year", "int32", "year", "Year of birth (null: unknown)"),
    ("region", "string", "label", "Region of the customer's address"),
    ("acquisition_channel", "string", "label", "Marketing channel that brought the customer"),
    ("preferred_device", "string", "label", "Device the customer mostly uses"),
)
EMBEDDING_FEATURE = "text_embedding"
EMBEDDING_DIM = 384

_VIEWS: dict[str, tuple[str, int, bool, str]] = {  # name: (description, ttl days, online, family tag)
    "customer_profile": ("Who the customer is: tenure, opt-in, demographics.", 0, True, "profile"),
    "customer_rfm": ("Recency, frequency and monetary value over all categories.", 400, True, "purchases"),
    "customer_engagement": ("Web and email engagement over all categories.", 400, True, "engagement"),
    "category_orders": ("Orders per category and window.", 400, False, "purchases"),
    "category_units": ("Units per category and window.", 400, False, "purchases"),
    "category_spend": ("Net spend and discounts per category and window.", 400, False, "purchases"),
    "category_recency": ("Days since the last purchase, view and cart add per category.", 400, False, "recency"),
    "category_sessions": ("Web sessions per category and window.", 400, False, "browsing"),
    "category_page_views": ("Page views per category and window.", 400, False, "browsing"),
    "category_cart": ("Cart adds and abandoned carts per category and window.", 400, False, "browsing"),
    "category_email": ("Emails featuring each category: sends, opens, clicks.", 400, False, "email"),
    "category_seasonal": ("Orders per category in the same season a year earlier.", 400, False, "seasonal"),
    "customer_text_embedding": (
        "Spend-weighted mean text embedding (multilingual-e5-small) of the products bought in 365 days.",
        400,
        False,
        "embedding",
    ),
}
ONLINE_PROFILE_VIEWS = ("customer_profile", "customer_rfm", "customer_engagement")
FEATURE_SERVICE = "propensity_v1"  # the Feast feature service of every catalog view: models train on it by default


def validate_identifier(value: str, what: str) -> str:
    """Return ``value`` if it is a safe lower-case SQL and file identifier, else raise :class:`~propensity.errors.BadInputError`."""
    if not _IDENTIFIER.match(value):
        raise BadInputError(f"{what} {value!r} is not a valid identifier: use a-z, 0-9 and _, starting with a letter")
    return value


def _family_features(family: Family, categories: tuple[str, ...]) -> list[Feature]:
    features = []
    for category in categories if family.per_category else (None,):
        for window in family.windows:
            parts = [family.name, category, None if family.aggregate == "recency" else f"{window}d"]
            features.append(
                Feature(
                    name="_".join(p for p in parts if p),
                    view=family.view,
                    family=family.name,
                    dtype=family.dtype,
                    unit=family.unit,
                    description=family.description.format(category=category, window=window),
                    category=category,
                    window=window,
                    measure=family.measure,
                    aggregate=family.aggregate,
                )
            )
    return features


def build_catalog(categories: list[str] | tuple[str, ...]) -> tuple[View, ...]:
    """Every feature view and its features, for the given categories (checked to be safe identifiers)."""
    categories = tuple(validate_identifier(c, "category") for c in categories)
    if not categories:
        raise DamagedDataError("the categories table is empty: there is nothing to build features for")
    if len(set(categories)) != len(categories):
        raise DamagedDataError("the categories table repeats a category")
    features: dict[str, list[Feature]] = {name: [] for name in _VIEWS}
    for name, dtype, unit, description in PROFILE:
        features["customer_profile"].append(
            Feature(name, "customer_profile", "profile", dtype, unit, description, None, None, None, None)
        )
    for family in FAMILIES:
        features[family.view].extend(_family_features(family, categories))
    features["customer_text_embedding"].append(
        Feature(
            EMBEDDING_FEATURE,
            "customer_text_embedding",
            "embedding",
            "float32_array",
            "embedding",
            _VIEWS["customer_text_embedding"][0],
            None,
            HISTORY_DAYS,
            None,
            None,
        )
    )
    views = tuple(
        View(name, description, ttl, online, family, tuple(features[name]), dense=name == "customer_profile")
        for name, (description, ttl, online, family) in _VIEWS.items()
    )
    names = [f.name for view in views for f in view.features]
    duplicated = {n for n in names if names.count(n) > 1}
    assert not duplicated, f"feature names collide: {sorted(duplicated)}"
    return views


def workspace_catalog(ws: Workspace) -> tuple[View, ...]:
    """The feature catalog for the categories of this workspace's raw data."""
    from propensity.datagen.output import check_raw_files, read_manifest, read_table  # Arrow: not at CLI startup

    read_manifest(ws.raw_dir)  # a clear error when there is no raw data yet
    check_raw_files(ws.raw_dir)
    categories = read_table(ws.raw_dir, "categories", columns=["category"]).column("category").to_pylist()
    return build_catalog(categories)


def view_by_name(views: tuple[View, ...], name: str) -> View:
    """The view called ``name``; a clear error naming the known views otherwise."""
    for view in views:
        if view.name == name:
            return view
    raise BadInputError(f"unknown feature view {name!r}; known: {', '.join(v.name for v in views)}")
