"""propensity: feature-store-centric customer propensity modelling on Feast, DuckDB, Ray and XGBoost."""

__version__ = "0.1.0"
