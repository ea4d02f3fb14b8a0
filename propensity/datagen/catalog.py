"""The product catalog of the fictional retailer: categories, hidden themes, seasons and affinities.

Every behavioural parameter of the simulation that is specific to a category lives here, in one table, so
``docs/DATA.md`` can quote it and a new category is one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Hidden customer tastes. Product descriptions use each theme's words, so text embeddings reflect them.
THEMES: dict[str, tuple[str, ...]] = {
    "family": ("family moments", "grandparents", "reunions", "family portraits", "everyday memories"),
    "travel": ("travel adventures", "beaches", "city breaks", "road trips", "mountain hikes"),
    "pets": ("your dog", "your cat", "pet portraits", "paw prints", "furry friends"),
    "wedding": ("your wedding day", "the happy couple", "engagement photos", "anniversaries", "vows"),
    "baby": ("your newborn", "baby's first year", "little ones", "first steps", "nursery"),
    "sports": ("match day", "team colours", "the finish line", "your club", "training sessions"),
    "nature": ("wildlife", "forests", "flowers in bloom", "sunsets", "landscapes"),
    "art": ("modern art", "bold typography", "illustrations", "abstract shapes", "minimalist design"),
}
THEME_NAMES = tuple(THEMES)

# Seasonal events: (peak day of year, width in days). A category's demand is multiplied by
# 1 + sum(strength * exp(-0.5 * (distance to peak / width)^2)).
SEASONAL_EVENTS: dict[str, tuple[int, int]] = {
    "holiday": (350, 18),  # mid December
    "valentine": (42, 6),
    "mothers_day": (128, 7),
    "fathers_day": (167, 7),
    "summer": (228, 20),  # after the holidays: photo books of the trip
    "back_to_school": (240, 10),
    "wedding_season": (170, 40),
}


@dataclass(frozen=True)
class Category:
    """One product category and its behavioural parameters in the simulation."""

    slug: str
    name: str
    department: str
    noun: str  # what a product of this category is called in a description
    base_price: float
    weekly_intent: float  # base weekly chance of starting to shop for the category
    typical_quantity: float  # mean units per order line
    cycle_days: int  # repeat-purchase cycle (0: no cycle)
    cycle_strength: float  # log-boost of the intent hazard at the cycle peak
    seasons: tuple[tuple[str, float], ...]  # (event, strength)
    themes: tuple[str, ...]  # themes whose fans favour this category
    related: tuple[str, ...]  # categories whose purchase makes this one more likely soon after


CATEGORIES: tuple[Category, ...] = (
    Category("photo_books", "Photo books", "books", "layflat photo book", 45, 0.0030, 1.1, 180, 0.8,
             (("summer", 2.0), ("holiday", 1.0)), ("travel", "family", "wedding", "baby"),
             ("photo_prints", "wedding_invitations", "birth_announcements")),
    Category("greeting_cards", "Greeting cards", "cards", "folded greeting card", 3.5, 0.0040, 12, 365, 1.2,
             (("holiday", 5.0), ("valentine", 1.5), ("mothers_day", 1.5)), ("family", "baby", "wedding"),
             ("party_invitations", "christmas_ornaments", "gift_wrap")),
    Category("wall_calendars", "Wall calendars", "calendars", "wall calendar", 25, 0.0020, 1.4, 365, 1.5,
             (("holiday", 6.0),), ("family", "pets", "nature", "travel"), ("desk_calendars", "photo_books")),
    Category("desk_calendars", "Desk calendars", "calendars", "desk calendar", 18, 0.0012, 1.3, 365, 1.3,
             (("holiday", 5.0),), ("family", "art", "pets"), ("wall_calendars",)),
    Category("canvas_prints", "Canvas prints", "wall_art", "stretched canvas print", 60, 0.0016, 1.0, 240, 0.5,
             (("holiday", 0.8),), ("art", "nature", "travel", "wedding"), ("framed_prints", "metal_prints")),
    Category("framed_prints", "Framed prints", "wall_art", "framed print", 40, 0.0015, 1.1, 240, 0.5,
             (("holiday", 0.8), ("mothers_day", 0.8)), ("art", "family", "wedding"),
             ("canvas_prints", "posters")),
    Category("metal_prints", "Metal prints", "wall_art", "aluminium metal print", 70, 0.0008, 1.0, 0, 0.0,
             (("holiday", 0.5),), ("art", "travel", "nature"), ("canvas_prints",)),
    Category("posters", "Posters", "wall_art", "matte poster", 20, 0.0014, 1.3, 0, 0.0,
             (("back_to_school", 0.8),), ("art", "sports"), ("framed_prints",)),
    Category("photo_prints", "Photo prints", "prints", "set of glossy photo prints", 12, 0.0035, 2.5, 45, 0.7,
             (("summer", 1.2), ("holiday", 0.6)), ("travel", "family", "baby"), ("photo_books",)),
    Category("mugs", "Mugs", "photo_gifts", "ceramic photo mug", 15, 0.0022, 1.4, 0, 0.0,
             (("mothers_day", 1.5), ("fathers_day", 1.5), ("holiday", 1.5)), ("pets", "family", "sports"),
             ("t_shirts", "mouse_pads")),
    Category("phone_cases", "Phone cases", "accessories", "slim phone case", 25, 0.0016, 1.0, 300, 0.6,
             (("holiday", 0.6),), ("pets", "art", "sports"), ("keyrings",)),
    Category("jigsaw_puzzles", "Jigsaw puzzles", "photo_gifts", "1000-piece photo jigsaw puzzle", 28, 0.0010,
             1.0, 0, 0.0, (("holiday", 2.0),), ("family", "nature", "pets"), ("wall_calendars",)),
    Category("cushions", "Cushions", "home", "printed cushion", 30, 0.0011, 1.2, 0, 0.0,
             (("mothers_day", 0.8), ("holiday", 0.8)), ("pets", "family"), ("blankets",)),
    Category("blankets", "Blankets", "home", "fleece photo blanket", 50, 0.0008, 1.0, 0, 0.0,
             (("holiday", 1.5),), ("baby", "pets", "family"), ("cushions", "birth_announcements")),
    Category("t_shirts", "T-shirts", "apparel", "cotton t-shirt", 22, 0.0015, 1.8, 0, 0.0,
             (("fathers_day", 1.2),), ("sports", "art"), ("mugs", "tote_bags")),
    Category("tote_bags", "Tote bags", "apparel", "canvas tote bag", 18, 0.0009, 1.2, 0, 0.0,
             (("summer", 0.6),), ("art", "nature", "travel"), ("t_shirts", "water_bottles")),
    Category("wedding_invitations", "Wedding invitations", "cards", "set of wedding invitations", 90, 0.0005,
             1.0, 0, 0.0, (("wedding_season", 1.5),), ("wedding",), ("acrylic_blocks",)),
    Category("birth_announcements", "Birth announcements", "cards", "set of birth announcement cards", 60,
             0.0005, 1.0, 0, 0.0, (), ("baby",), ("party_invitations",)),
    Category("party_invitations", "Party invitations", "cards", "set of party invitations", 30, 0.0009, 1.0, 365,
             0.8, (), ("baby", "family"), ("greeting_cards", "birth_announcements")),
    Category("christmas_ornaments", "Christmas ornaments", "seasonal", "photo bauble ornament", 14, 0.0010, 2.2,
             365, 1.2, (("holiday", 9.0),), ("family", "baby", "pets"), ("greeting_cards", "gift_wrap")),
    Category("gift_wrap", "Gift wrap", "seasonal", "roll of personalised gift wrap", 10, 0.0009, 2.0, 365, 0.8,
             (("holiday", 6.0),), ("family", "art"), ("christmas_ornaments", "greeting_cards")),
    Category("stickers", "Stickers", "stationery", "sheet of photo stickers", 6, 0.0015, 3.0, 90, 0.5,
             (("back_to_school", 1.5),), ("art", "pets", "baby"), ("notebooks",)),
    Category("notebooks", "Notebooks", "stationery", "hardcover notebook", 15, 0.0013, 1.5, 0, 0.0,
             (("back_to_school", 2.5),), ("art", "nature", "travel"), ("stickers",)),
    Category("magnets", "Magnets", "photo_gifts", "set of photo fridge magnets", 8, 0.0012, 2.0, 0, 0.0,
             (("summer", 0.8),), ("travel", "pets", "family"), ("photo_prints",)),
    Category("keyrings", "Keyrings", "accessories", "photo keyring", 9, 0.0010, 1.5, 0, 0.0,
             (("fathers_day", 0.8), ("valentine", 1.0)), ("pets", "travel", "wedding"), ("phone_cases",)),
    Category("water_bottles", "Water bottles", "accessories", "insulated water bottle", 20, 0.0010, 1.1, 0, 0.0,
             (("summer", 1.0), ("back_to_school", 0.8)), ("sports", "nature"), ("tote_bags",)),
    Category("mouse_pads", "Mouse pads", "accessories", "photo mouse pad", 12, 0.0008, 1.1, 0, 0.0,
             (("back_to_school", 1.0),), ("sports", "art", "pets"), ("mugs",)),
    Category("acrylic_blocks", "Acrylic photo blocks", "photo_gifts", "acrylic photo block", 35, 0.0007, 1.0, 0,
             0.0, (("valentine", 1.5), ("mothers_day", 0.8)), ("wedding", "family", "baby"), ("photo_books",)),
)  # fmt: skip

CATEGORY_SLUGS = tuple(c.slug for c in CATEGORIES)

_TIERS = (("Classic", 0.8), ("Signature", 1.0), ("Premium", 1.35))
_FINISHES = ("matte finish", "glossy finish", "soft-touch finish", "eco-friendly materials", "gift-ready packaging")


@dataclass(frozen=True)
class ProductCatalog:
    """The products as columns; ``theme`` is hidden from the raw tables and shows only in descriptions."""

    product_id: np.ndarray
    category_index: np.ndarray
    theme_index: np.ndarray
    name: list[str]
    description: list[str]
    list_price: np.ndarray


def build_products(seed: int) -> ProductCatalog:
    """One product per category, theme and tier (``len(CATEGORIES) * len(THEMES) * 3``), deterministic."""
    rng = np.random.default_rng([seed, 0xCA7A])
    cat_idx, theme_idx, names, descriptions, prices = [], [], [], [], []
    for k, category in enumerate(CATEGORIES):
        for t, (theme, words) in enumerate(THEMES.items()):
            for tier, tier_factor in _TIERS:
                picked = rng.choice(len(words), size=2, replace=False)
                finish = _FINISHES[int(rng.integers(len(_FINISHES)))]
                cat_idx.append(k)
                theme_idx.append(t)
                names.append(f"{tier} {theme} {category.noun}".title())
                descriptions.append(
                    f"{tier} personalised {category.noun} celebrating {words[picked[0]]} and {words[picked[1]]}, "
                    f"with {finish}."
                )
                prices.append(round(category.base_price * tier_factor * float(rng.lognormal(0.0, 0.12)), 2))
    n = len(cat_idx)
    return ProductCatalog(
        product_id=np.arange(1, n + 1, dtype=np.int64),
        category_index=np.asarray(cat_idx, dtype=np.int32),
        theme_index=np.asarray(theme_idx, dtype=np.int32),
        name=names,
        description=descriptions,
        list_price=np.asarray(prices, dtype=np.float64),
    )


def theme_loadings() -> np.ndarray:
    """(themes x categories) matrix: 1 where a theme's fans favour a category, else 0."""
    loadings = np.zeros((len(THEMES), len(CATEGORIES)))
    for k, category in enumerate(CATEGORIES):
        for theme in category.themes:
            loadings[THEME_NAMES.index(theme), k] = 1.0
    return loadings


def related_matrix() -> np.ndarray:
    """(categories x categories) matrix R: R[j, k] = 1 when buying j makes k more likely soon after."""
    related = np.zeros((len(CATEGORIES), len(CATEGORIES)))
    for k, category in enumerate(CATEGORIES):
        for other in category.related:
            related[CATEGORY_SLUGS.index(other), k] = 1.0
    return related


def seasonality(day_of_year: np.ndarray) -> np.ndarray:
    """(days x categories) demand multipliers for the given days of year (1 = no seasonal effect)."""
    day = np.asarray(day_of_year, dtype=np.float64)[:, None]
    out = np.ones((day.shape[0], len(CATEGORIES)))
    for k, category in enumerate(CATEGORIES):
        for event, strength in category.seasons:
            peak, width = SEASONAL_EVENTS[event]
            distance = np.abs(day[:, 0] - peak)
            distance = np.minimum(distance, 365.0 - distance)  # the year wraps around
            out[:, k] += strength * np.exp(-0.5 * (distance / width) ** 2)
    return out
