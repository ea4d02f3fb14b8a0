"""Customer features: the catalog, the DuckDB pipelines that build the offline store, and their Feast definitions."""
