"""The behavioural simulation of one chunk of customers, week by week, vectorised over customers x categories.

Each customer has hidden traits (activity, taste over themes, churn time, email engagement, discount
sensitivity, spend level). Every week, for every category not already being shopped for, the customer starts to
*shop for* it (an "intent") with a hazard driven by the mechanisms documented in ``docs/DATA.md``:

    hazard = base[k] * season[w, k] * activity * taste_affinity[k] * (1 + promo sensitivity)
             * exp(recency + repeat cycle + frequency + related purchases + email clicks)

An intent lasts a few weeks: each week the customer browses the category, then buys it or gives up. Purchases,
browsing and email clicks feed back into the state, which is what makes a customer's history predictive of their
next purchases. The chunk's random stream depends only on (seed, chunk index), so output is deterministic for a
seed whatever the number of worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa

from propensity.datagen import catalog
from propensity.datagen.schema import conform

# ---- parameters of the mechanisms (quoted in docs/DATA.md) -------------------------------------------------
BURN_IN_WEEKS = 26  # simulated before `start` so existing customers arrive with a history
PRE_START_SIGNUP_SHARE = 0.5  # customers who signed up before `start` (within 3 years of it)
TASTE_CONCENTRATION = 0.4  # Dirichlet concentration of tastes over themes: most have one or two
TASTE_GAIN = 2.5  # how strongly a theme's fans favour its categories
RECENCY_GAIN, RECENCY_DAYS = 0.7, 45.0  # a recent purchase makes another in the category likelier
FREQUENCY_GAIN = 0.4  # log1p(past purchases in the category)
RELATED_GAIN, RELATED_DECAY = 0.9, 0.85  # boost to related categories after a purchase, decay per week
EMAIL_GAIN, EMAIL_DECAY = 1.2, 0.55  # boost after clicking an email about the category, decay per week
PROMO_GAIN = 3.0  # hazard x (1 + PROMO_GAIN * discount sensitivity * promo rate)
P_BUY, P_ABANDON, P_BROWSE = 0.45, 0.25, 0.85  # weekly, while an intent lasts
NOISE_BROWSE = 0.004  # weekly chance of an idle look at a category (no intent)
MEAN_LIFETIME_WEEKS = 80.0  # after churn a customer keeps 5% of their activity
CHURNED_ACTIVITY = 0.05
EMAIL_REACH = 0.6  # share of opted-in customers each weekly campaign is sent to
EMAIL_DISCOUNT_WEEKS = 2  # an email's discount code is valid this many weeks
ID_STRIDE = 10**9  # ids of chunk c are c * ID_STRIDE + 1, 2, ...

REGIONS = ("london", "south_east", "south_west", "midlands", "north", "scotland_wales_ni")
REGION_P = (0.18, 0.20, 0.12, 0.18, 0.22, 0.10)
CHANNELS = ("organic_search", "paid_search", "social", "referral", "affiliate", "direct")
CHANNEL_P = (0.30, 0.25, 0.18, 0.10, 0.07, 0.10)
CHANNEL_ACTIVITY = (1.0, 0.8, 0.85, 1.35, 0.9, 1.2)  # referred customers buy more, paid search less
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_P = (0.55, 0.35, 0.10)
TRAFFIC_SOURCES = ("organic_search", "paid_search", "direct", "social")
TRAFFIC_P = (0.35, 0.25, 0.30, 0.10)
# Share of activity by hour of day (UTC): quiet nights, a lunch bump and an evening peak.
HOUR_WEIGHTS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.5, 4, 5, 4.5, 4, 4, 4.5, 5, 6, 7.5, 8, 7, 5, 2.5])
HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
TIER_SPEND_SLOPE = np.array([-0.8, 0.0, 0.9])  # big spenders pick premium tiers


@dataclass(frozen=True)
class Calendar:
    """The simulated weeks and everything that is the same for all customers in a week."""

    start: date
    end: date
    seed: int
    n_weeks: int = field(init=False)
    season: np.ndarray = field(init=False, repr=False)  # (BURN_IN + n_weeks, K), row 0 = first burn-in week
    promo: np.ndarray = field(init=False, repr=False)  # (BURN_IN + n_weeks,) site-wide discount rate
    campaign_category: np.ndarray = field(init=False, repr=False)  # (n_weeks,) featured category index
    campaign_discount: np.ndarray = field(init=False, repr=False)  # (n_weeks,) discount in percent

    def __post_init__(self) -> None:
        n_weeks = -(-((self.end - self.start).days + 1) // 7)
        weeks = np.arange(-BURN_IN_WEEKS, n_weeks)
        mid_week = np.array([self.start + timedelta(days=int(7 * w) + 3) for w in weeks])
        day_of_year = np.array([d.timetuple().tm_yday for d in mid_week])
        season = catalog.seasonality(day_of_year)
        promo = np.select(
            [np.abs(day_of_year - 332) <= 4, day_of_year <= 14, np.abs(day_of_year - 190) <= 5],
            [0.25, 0.15, 0.10],
            0.0,
        )
        rng = np.random.default_rng([self.seed, 0xCA3])
        popularity = season[BURN_IN_WEEKS:] * np.array([c.weekly_intent for c in catalog.CATEGORIES])
        popularity /= popularity.sum(axis=1, keepdims=True)
        featured = np.array([rng.choice(len(catalog.CATEGORIES), p=p) for p in popularity])
        discount = np.where(promo[BURN_IN_WEEKS:] > 0, 100 * promo[BURN_IN_WEEKS:], 0.0)
        discount = np.where((discount == 0) & (rng.random(n_weeks) < 0.3), 10.0, discount)
        object.__setattr__(self, "n_weeks", n_weeks)
        object.__setattr__(self, "season", season)
        object.__setattr__(self, "promo", promo)
        object.__setattr__(self, "campaign_category", featured)
        object.__setattr__(self, "campaign_discount", discount)

    def epoch_seconds(self, week: np.ndarray, day: np.ndarray, second_of_day: np.ndarray) -> np.ndarray:
        """Seconds since 1970 (UTC) of a day and time within a simulated week."""
        origin = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp()
        return int(origin) + (week * 7 + day).astype(np.int64) * 86_400 + second_of_day.astype(np.int64)

    @property
    def end_epoch(self) -> int:
        """First second after the last simulated day."""
        last = self.end + timedelta(days=1)
        return int(datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp())


@dataclass
class _Events:
    """Cells recorded during the weekly loop, as parallel index arrays."""

    buys: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = field(default_factory=list)
    browses: list[tuple[np.ndarray, np.ndarray, int]] = field(default_factory=list)
    idle: list[tuple[np.ndarray, np.ndarray, int]] = field(default_factory=list)
    emails: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = field(default_factory=list)


class _Chunk:
    """One chunk of customers: their traits, the weekly loop, and the tables it produces."""

    def __init__(self, cal: Calendar, products: catalog.ProductCatalog, chunk_index: int, first_id: int, n: int):
        self.cal, self.products, self.chunk_index = cal, products, chunk_index
        self.rng = np.random.default_rng([cal.seed, chunk_index])
        self.customer_id = np.arange(first_id, first_id + n, dtype=np.int64)
        self._draw_traits(n)

    # ---- customers ---------------------------------------------------------------------------------------
    def _draw_traits(self, n: int) -> None:
        rng, n_weeks = self.rng, self.cal.n_weeks
        before = rng.random(n) < PRE_START_SIGNUP_SHARE
        # Signups before the start spread over three years; later ones grow over time (sqrt: rising density).
        self.signup_week = np.where(
            before,
            -rng.integers(1, 3 * 52 + 1, n),
            np.floor(n_weeks * np.sqrt(rng.random(n))).astype(np.int64).clip(0, n_weeks - 1),
        )
        self.signup_second = rng.integers(0, 7 * 86_400, n)
        self.region = rng.choice(len(REGIONS), n, p=REGION_P)
        self.channel = rng.choice(len(CHANNELS), n, p=CHANNEL_P)
        self.device = rng.choice(len(DEVICES), n, p=DEVICE_P)
        self.opt_in = rng.random(n) < 0.65
        self.birth_year = rng.integers(1950, 2006, n)
        self.birth_known = rng.random(n) > 0.05
        self.activity = rng.lognormal(-0.3, 0.9, n) * np.asarray(CHANNEL_ACTIVITY)[self.channel]
        self.taste = rng.dirichlet(np.full(len(catalog.THEMES), TASTE_CONCENTRATION), n)
        affinity = np.exp(TASTE_GAIN * self.taste @ catalog.theme_loadings())
        self.affinity = affinity / affinity.mean(axis=1, keepdims=True)
        self.churn_week = self.signup_week + 1 + rng.exponential(MEAN_LIFETIME_WEEKS, n).astype(np.int64)
        self.engagement = rng.beta(1.5, 4.0, n)
        self.sensitivity = rng.beta(1.2, 2.5, n)
        self.spend = rng.lognormal(0.0, 0.5, n)

    # ---- the weekly loop ---------------------------------------------------------------------------------
    def simulate(self) -> _Events:
        cal, rng = self.cal, self.rng
        n, k = self.affinity.shape
        base = np.array([c.weekly_intent for c in catalog.CATEGORIES])
        cycle = np.array([max(c.cycle_days, 1) for c in catalog.CATEGORIES], dtype=np.float64)
        cycle_gain = np.array([c.cycle_strength for c in catalog.CATEGORIES])
        cycle_width = 0.15 * cycle + 14.0
        related_pairs = np.argwhere(catalog.related_matrix() > 0)  # (source, target)
        affinity_share = self.affinity / self.affinity.max(axis=1, keepdims=True)
        idle_rate = NOISE_BROWSE * np.sqrt(self.affinity)

        intent = np.zeros((n, k), dtype=bool)
        last_buy = np.zeros((n, k))  # week of the last purchase, read only where count > 0
        count = np.zeros((n, k))
        related_boost = np.zeros((n, k))
        email_boost = np.zeros((n, k))
        coupon_until = np.full((n, k), -1, dtype=np.int64)
        coupon_rate = np.zeros((n, k))
        events = _Events()

        for row, week in enumerate(range(-BURN_IN_WEEKS, cal.n_weeks)):
            signed_up = self.signup_week < week
            alive = signed_up & (week < self.churn_week)
            activity = self.activity * np.where(alive, 1.0, np.where(signed_up, CHURNED_ACTIVITY, 0.0))
            history = related_boost + email_boost
            # Recency, cycle and frequency only touch cells with a past purchase: a few percent of them.
            cell = np.flatnonzero(count)
            col = cell % k
            days_since = (week - last_buy.ravel()[cell]) * 7.0
            history.ravel()[cell] += (
                RECENCY_GAIN * np.exp(-days_since / RECENCY_DAYS)
                + cycle_gain[col] * np.exp(-0.5 * ((days_since - cycle[col]) / cycle_width[col]) ** 2)
                + FREQUENCY_GAIN * np.log1p(count.ravel()[cell])
            )
            promo = 1.0 + PROMO_GAIN * self.sensitivity * cal.promo[row]
            hazard = base * cal.season[row] * (activity * promo)[:, None] * self.affinity * np.exp(history)
            intent |= rng.random((n, k), dtype=np.float32) < -np.expm1(-hazard)

            # Open intents are few: draw browse / buy / give-up only for them.
            active = np.flatnonzero(intent)
            draw = rng.random((3, active.size))
            bought = draw[1] < P_BUY
            buy_cells = active[bought]
            browse_cells = active[(draw[0] < P_BROWSE) & ~bought]
            intent.ravel()[active[bought | (draw[2] < P_ABANDON)]] = False
            idle = rng.random((n, k), dtype=np.float32) < idle_rate * (activity > 0)[:, None]
            idle.ravel()[active] = False

            buyer, bought_category = np.divmod(buy_cells, k)
            related_boost *= RELATED_DECAY
            for source, target in related_pairs:
                related_boost[buyer[bought_category == source], target] += RELATED_GAIN
            email_boost *= EMAIL_DECAY
            count.ravel()[buy_cells] += 1
            last_buy.ravel()[buy_cells] = week

            if week >= 0:
                site_promo = np.where(rng.random(buyer.size) < self.sensitivity[buyer], cal.promo[row], 0.0)
                coupon = np.where(
                    coupon_until[buyer, bought_category] >= week, coupon_rate[buyer, bought_category], 0.0
                )
                events.buys.append((buyer, bought_category, week, np.maximum(site_promo, coupon)))
                events.browses.append((*np.divmod(browse_cells, k), week))
                events.idle.append((*np.nonzero(idle), week))
                self._send_campaign(week, alive, affinity_share, email_boost, (coupon_until, coupon_rate), events)
        return events

    def _send_campaign(
        self,
        week: int,
        alive: np.ndarray,
        affinity_share: np.ndarray,
        email_boost: np.ndarray,
        coupons: tuple[np.ndarray, np.ndarray],
        events: _Events,
    ) -> None:
        """Send this week's campaign; a click boosts the featured category and may grant a coupon."""
        rng, featured = self.rng, self.cal.campaign_category[week]
        receivers = np.nonzero(alive & self.opt_in & (rng.random(alive.size) < EMAIL_REACH))[0]
        opened = rng.random(receivers.size) < self.engagement[receivers]
        clicked = opened & (rng.random(receivers.size) < 0.05 + 0.35 * affinity_share[receivers, featured])
        clickers = receivers[clicked]
        email_boost[clickers, featured] += EMAIL_GAIN
        if self.cal.campaign_discount[week] > 0:
            coupon_until, coupon_rate = coupons
            coupon_until[clickers, featured] = week + EMAIL_DISCOUNT_WEEKS
            coupon_rate[clickers, featured] = self.cal.campaign_discount[week] / 100
        events.emails.append((receivers, opened, clicked, week))

    # ---- tables ------------------------------------------------------------------------------------------
    def _ids(self, count: int) -> np.ndarray:
        return self.chunk_index * ID_STRIDE + np.arange(1, count + 1, dtype=np.int64)

    def _second_of_day(self, size: int) -> np.ndarray:
        return self.rng.choice(24, size, p=HOUR_P) * 3600 + self.rng.integers(0, 3600, size)

    def tables(self, events: _Events) -> dict[str, pa.Table]:
        """All raw tables of this chunk, conformed to the raw schema."""
        out = {"customers": self._customers()}
        orders, lines, checkout_views = self._orders(events)
        out["orders"], out["order_lines"] = orders, lines
        out["emails"], email_views = self._emails(events)
        out["sessions"], out["session_views"] = self._sessions(events, checkout_views, email_views)
        return {name: conform(table, name) for name, table in out.items()}

    def _customers(self) -> pa.Table:
        signup = self.cal.epoch_seconds(self.signup_week, np.zeros_like(self.signup_week), self.signup_second)
        return pa.table(
            {
                "customer_id": self.customer_id,
                "signup_at": _ts(signup),
                "region": np.asarray(REGIONS)[self.region],
                "acquisition_channel": np.asarray(CHANNELS)[self.channel],
                "preferred_device": np.asarray(DEVICES)[self.device],
                "email_opt_in": self.opt_in,
                "birth_year": pa.array(self.birth_year, mask=~self.birth_known, type=pa.int16()),
            }
        )

    def _orders(self, events: _Events) -> tuple[pa.Table, pa.Table, dict[str, np.ndarray]]:
        rng, cal, products = self.rng, self.cal, self.products
        i = np.concatenate([b[0] for b in events.buys])
        cat = np.concatenate([b[1] for b in events.buys])
        week = np.concatenate([np.full(b[0].size, b[2]) for b in events.buys])
        rate = np.concatenate([b[3] for b in events.buys])
        # One order per customer and week; some category purchases hold a second product.
        extra = rng.random(i.size) < 0.2
        i, cat, week, rate = (np.concatenate([a, a[extra]]) for a in (i, cat, week, rate))
        order_key, line_order = np.unique(i.astype(np.int64) * (cal.n_weeks + 1) + week, return_inverse=True)
        n_orders = order_key.size
        order_cust = order_key // (cal.n_weeks + 1)
        order_week = order_key % (cal.n_weeks + 1)
        order_at = cal.epoch_seconds(order_week, rng.integers(0, 7, n_orders), self._second_of_day(n_orders))
        in_range = order_at < cal.end_epoch

        product = self._pick_products(i, cat)
        quantity = 1 + rng.poisson(
            np.array([c.typical_quantity - 1 for c in catalog.CATEGORIES])[cat] * np.sqrt(self.spend[i])
        )
        unit_price = products.list_price[product]
        amount = np.round(quantity * unit_price, 2)
        discount = np.round(amount * rate, 2)

        sort = np.lexsort((cat, line_order))
        line_order, product, quantity, unit_price, amount, discount, cat = (
            a[sort] for a in (line_order, product, quantity, unit_price, amount, discount, cat)
        )
        keep = in_range[line_order]
        line_number = np.arange(line_order.size) - np.searchsorted(line_order, line_order)
        order_id = self._ids(n_orders)
        slugs = np.asarray(catalog.CATEGORY_SLUGS)
        lines = pa.table(
            {
                "order_id": order_id[line_order][keep],
                "line_number": (line_number + 1)[keep],
                "customer_id": self.customer_id[order_cust][line_order][keep],
                "ordered_at": _ts(order_at[line_order][keep]),
                "product_id": products.product_id[product][keep],
                "category": slugs[cat][keep],
                "quantity": quantity[keep],
                "unit_price": unit_price[keep],
                "amount": amount[keep],
                "discount": discount[keep],
                "net_amount": np.round(amount - discount, 2)[keep],
            }
        )
        order_amount = np.bincount(line_order, amount, n_orders)
        order_discount = np.bincount(line_order, discount, n_orders)
        app = (self.device[order_cust] == 0) & (rng.random(n_orders) < 0.5)
        orders = pa.table(
            {
                "order_id": order_id[in_range],
                "customer_id": self.customer_id[order_cust][in_range],
                "ordered_at": _ts(order_at[in_range]),
                "channel": np.where(app, "app", "web")[in_range],
                "n_lines": np.bincount(line_order, minlength=n_orders)[in_range],
                "amount": np.round(order_amount, 2)[in_range],
                "discount": np.round(order_discount, 2)[in_range],
                "net_amount": np.round(order_amount - order_discount, 2)[in_range],
            }
        )
        # The checkout session of each order views and adds to cart every category it bought.
        pair = np.unique(line_order * 1000 + cat)
        checkout = {
            "customer": order_cust[pair // 1000],
            "category": pair % 1000,
            "at": order_at[pair // 1000] - rng.integers(120, 1800, pair.size),
            "group": pair // 1000,
            "cart_adds": np.bincount(np.searchsorted(pair, line_order * 1000 + cat), minlength=pair.size),
        }
        keep_checkout = in_range[checkout["group"]]
        return orders, lines, {key: value[keep_checkout] for key, value in checkout.items()}

    def _pick_products(self, i: np.ndarray, cat: np.ndarray) -> np.ndarray:
        """A product per line: its theme follows the buyer's taste, its tier their spend level."""
        n_themes, n_tiers = len(catalog.THEMES), len(TIER_SPEND_SLOPE)
        theme_p = self.taste[i] + 0.02
        theme = _categorical(self.rng, theme_p / theme_p.sum(axis=1, keepdims=True))
        tier_w = np.exp(np.log(self.spend[i])[:, None] * TIER_SPEND_SLOPE)
        tier = _categorical(self.rng, tier_w / tier_w.sum(axis=1, keepdims=True))
        return (cat * n_themes + theme) * n_tiers + tier

    def _emails(self, events: _Events) -> tuple[pa.Table, dict[str, np.ndarray]]:
        rng, cal = self.rng, self.cal
        receivers = np.concatenate([e[0] for e in events.emails])
        opened = np.concatenate([e[1] for e in events.emails])
        clicked = np.concatenate([e[2] for e in events.emails])
        week = np.concatenate([np.full(e[0].size, e[3]) for e in events.emails])
        n = receivers.size
        sent = cal.epoch_seconds(week, np.ones(n, dtype=np.int64), 10 * 3600 + rng.integers(0, 1800, n))
        opened_at = sent + rng.exponential(6 * 3600, n).astype(np.int64)
        clicked_at = opened_at + 10 + rng.exponential(300, n).astype(np.int64)
        keep = sent < cal.end_epoch
        opened &= opened_at < cal.end_epoch
        clicked &= opened & (clicked_at < cal.end_epoch)
        category = cal.campaign_category[week]
        emails = pa.table(
            {
                "email_id": self._ids(n)[keep],
                "campaign_id": (week + 1)[keep],
                "customer_id": self.customer_id[receivers][keep],
                "sent_at": _ts(sent[keep]),
                "category": np.asarray(catalog.CATEGORY_SLUGS)[category][keep],
                "discount_pct": cal.campaign_discount[week][keep],
                "opened_at": _ts(opened_at[keep], mask=~opened[keep]),
                "clicked_at": _ts(clicked_at[keep], mask=~clicked[keep]),
            }
        )
        click = keep & clicked
        return emails, {"customer": receivers[click], "category": category[click], "at": clicked_at[click] + 20}

    def _sessions(self, events: _Events, checkout: dict, email: dict) -> tuple[pa.Table, pa.Table]:
        rng, cal = self.rng, self.cal

        def weekly(cells: list) -> dict[str, np.ndarray]:
            i = np.concatenate([c[0] for c in cells])
            week = np.concatenate([np.full(c[0].size, c[2]) for c in cells])
            at = cal.epoch_seconds(week, rng.integers(0, 7, i.size), self._second_of_day(i.size))
            return {"customer": i, "category": np.concatenate([c[1] for c in cells]), "at": at}

        browse, idle = weekly(events.browses), weekly(events.idle)
        kinds = (  # (cells, mean extra page views, cart-add rate per view, traffic source or None)
            (browse, 3.0, 0.12, None),
            (idle, 1.0, 0.03, None),
            (email, 2.0, 0.08, "email"),
            (checkout, 2.0, 0.0, "direct"),
        )
        customer, category, at, views, carts, source, group = [], [], [], [], [], [], []
        next_group = 0
        for cells, extra_views, cart_rate, fixed_source in kinds:
            size = cells["customer"].size
            pv = 1 + rng.poisson(extra_views, size)
            cart = cells.get("cart_adds", rng.binomial(pv, cart_rate))
            pv = np.maximum(pv, cart)  # a cart add needs a page view
            src = np.full(size, fixed_source) if fixed_source else rng.choice(TRAFFIC_SOURCES, size, p=TRAFFIC_P)
            grp = cells["group"] + next_group if "group" in cells else np.arange(next_group, next_group + size)
            next_group = int(grp.max(initial=next_group - 1)) + 1
            for acc, value in zip(
                (customer, category, at, views, carts, source, group),
                (cells["customer"], cells["category"], cells["at"], pv, cart, src, grp),
                strict=True,
            ):
                acc.append(value)
        customer, category, at, views, carts, source, group = (
            np.concatenate(a) for a in (customer, category, at, views, carts, source, group)
        )
        keep = at < cal.end_epoch
        customer, category, at, views, carts, source, group = (
            a[keep] for a in (customer, category, at, views, carts, source, group)
        )
        session_key, row_session = np.unique(group, return_inverse=True)
        n_sessions = session_key.size
        session_ids = self._ids(n_sessions)
        first_row = np.zeros(n_sessions, dtype=np.int64)
        first_row[row_session[::-1]] = np.arange(row_session.size)[::-1]
        started = at[first_row]
        session_views = pa.table(
            {
                "session_id": session_ids[row_session],
                "customer_id": self.customer_id[customer],
                "started_at": _ts(started[row_session]),
                "category": np.asarray(catalog.CATEGORY_SLUGS)[category],
                "page_views": views,
                "cart_adds": carts,
            }
        )
        total_views = np.bincount(row_session, views, n_sessions).astype(np.int64)
        own_device = rng.random(n_sessions) < 0.8
        device = np.where(own_device, self.device[customer[first_row]], rng.integers(0, len(DEVICES), n_sessions))
        sessions = pa.table(
            {
                "session_id": session_ids,
                "customer_id": self.customer_id[customer[first_row]],
                "started_at": _ts(started),
                "device": np.asarray(DEVICES)[device],
                "traffic_source": source[first_row],
                "duration_s": (total_views * rng.lognormal(3.5, 0.5, n_sessions)).astype(np.int64),
                "page_views": total_views,
                "cart_adds": np.bincount(row_session, carts, n_sessions).astype(np.int64),
            }
        )
        return sessions, session_views


def _categorical(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One draw per row of the probability matrix ``p``."""
    return (rng.random(p.shape[0])[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, p.shape[1] - 1)


def _ts(epoch_seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    micros = np.asarray(epoch_seconds, dtype=np.int64) * 1_000_000
    return pa.array(micros, type=pa.timestamp("us", tz="UTC"), mask=mask)


def simulate_chunk(
    cal: Calendar, products: catalog.ProductCatalog, chunk_index: int, first_id: int, n: int
) -> dict[str, pa.Table]:
    """Simulate ``n`` customers with ids ``first_id, first_id + 1, ...`` and return their raw tables."""
    chunk = _Chunk(cal, products, chunk_index, first_id, n)
    return chunk.tables(chunk.simulate())
