"""propensity: feature-store-centric customer propensity modelling on Feast, DuckDB, Ray and XGBoost."""

import importlib.metadata

__version__ = importlib.metadata.version("propensity")
