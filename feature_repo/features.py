"""Feature views and services of propensity, generated from the feature catalog of the workspace in
$PROPENSITY_WORKDIR (its categories come from the raw `categories` table). Run `propensity features apply`."""

from propensity.features.definitions import Definitions, customer

_defs = Definitions.for_workspace()

customer_profile = _defs.view("customer_profile")
customer_rfm = _defs.view("customer_rfm")
customer_engagement = _defs.view("customer_engagement")
category_orders = _defs.view("category_orders")
category_units = _defs.view("category_units")
category_spend = _defs.view("category_spend")
category_recency = _defs.view("category_recency")
category_sessions = _defs.view("category_sessions")
category_page_views = _defs.view("category_page_views")
category_cart = _defs.view("category_cart")
category_email = _defs.view("category_email")
category_seasonal = _defs.view("category_seasonal")
customer_text_embedding = _defs.view("customer_text_embedding")

_views = [
    customer_profile, customer_rfm, customer_engagement, category_orders, category_units, category_spend,
    category_recency, category_sessions, category_page_views, category_cart, category_email, category_seasonal,
    customer_text_embedding,
]  # fmt: skip
propensity_v1 = _defs.training_service(_views)
online_profile = _defs.online_service(_views)
customer_propensity = _defs.scores_view()  # the models' scores, written by `propensity score`

__all__ = ["customer"]
