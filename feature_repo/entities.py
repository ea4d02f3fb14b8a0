"""Entities of the propensity feature store."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.INT64,
    description="A customer of the retailer, keyed by customer_id from the raw customers table.",
    tags={"owner": "propensity"},
)
