"""Offline analytics: DuckDB views over a workspace, canned reports, result output."""
