"""Training: labels, point-in-time correct training sets on Ray, and per-category XGBoost models."""
