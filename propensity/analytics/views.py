"""Every offline dataset of a workspace as a named DuckDB view, behind a read-only query gate.

The views (only those whose data exists):

- ``raw_<table>``: the raw tables (``raw_orders``, ``raw_order_lines``, ...);
- ``<feature view>``: each feature view's offline data, every snapshot (``customer_rfm``, ``category_orders``, ...),
  including ``customer_propensity``, the published scores, one column per category;
- ``scores``: the same scores in long form (``customer_id``, ``scored_at``, ``category``, ``score``);
- ``labels``: the label rows; ``training_set_<service>``: each training set;
- ``model_metrics``: every registered model version with its stage and test metrics;
- ``score_drift``: the PSI report of every scoring run.

Only ``SELECT`` (including ``DESCRIBE``, ``SUMMARIZE``, ``PIVOT`` with an ``IN`` list) and ``EXPLAIN`` statements
run: nothing an analytics query does can write a file or change a view.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa

from propensity.config import Workspace
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.features.schemas import SCORES_VIEW
from propensity.storage import sql_path
from training.registry import ModelRegistry

READ_ONLY_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
SCORE_COLUMNS_NOT_CATEGORIES = ("customer_id", "event_timestamp", "created_at", "model_versions", "scoring_run")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QueryError(ValueError):
    """A query that is not allowed or does not run; the message says why."""


class WorkspaceViews:
    """A DuckDB session (in memory, UTC) over one workspace's offline datasets; see the module docstring."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.views: dict[str, str] = {}  # name -> what it holds
        self.feature_views: list[str] = []
        self._add_raw_tables()
        self._add_feature_views()
        self._add_file_view("labels", ws.labels_dir / "labels.parquet", "label rows (`propensity labels`)")
        for directory in _subdirectories(ws.training_sets_dir):
            self._add_file_view(
                f"training_set_{directory.name}", directory / "*.parquet", f"training set `{directory.name}`"
            )
        self._add_model_metrics()
        self._add_file_view(
            "score_drift", ws.reports_dir / "score-*" / "drift.parquet", "PSI per input feature of each scoring run"
        )

    def query(self, sql: str) -> duckdb.DuckDBPyRelation:
        """The result of one read-only statement (lazy: nothing is fetched until read)."""
        statements = self.statements(sql)
        if len(statements) != 1:
            raise QueryError(f"give exactly one statement (got {len(statements)}); run several in the shell")
        try:
            return self.con.sql(statements[0].query)
        except duckdb.Error as error:
            raise QueryError(str(error)) from None

    def statements(self, sql: str) -> list[duckdb.Statement]:
        """The statements of ``sql``, refused unless every one only reads."""
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as error:
            raise QueryError(str(error)) from None
        for statement in statements:
            if statement.type not in READ_ONLY_STATEMENTS:
                kind = statement.type.name
                raise QueryError(
                    f"{kind} is not allowed: analytics queries are read-only (SELECT, DESCRIBE, SUMMARIZE, EXPLAIN); "
                    "use the pipeline's commands to change the workspace"
                )
        return statements

    def _add_raw_tables(self) -> None:
        for name in RAW_SCHEMAS:
            self._add_file_view(f"raw_{name}", self.ws.raw_dir / name / "*.parquet", f"raw table `{name}`")

    def _add_feature_views(self) -> None:
        for directory in _subdirectories(self.ws.offline_dir):
            # snapshot directories are named by month (features) or date (scores); staging ones start with "."
            if self._add_file_view(directory.name, directory / "[0-9]*" / "*.parquet", "feature view"):
                self.feature_views.append(directory.name)
        if SCORES_VIEW in self.views:
            self.con.execute(f"""
                CREATE VIEW scores AS
                SELECT customer_id, event_timestamp AS scored_at, category, score FROM (
                    UNPIVOT {SCORES_VIEW} ON COLUMNS(* EXCLUDE ({", ".join(SCORE_COLUMNS_NOT_CATEGORIES)}))
                    INTO NAME category VALUE score)""")
            self.views["scores"] = "published scores, one row per customer, date and category"

    def _add_file_view(self, name: str, pattern: Path, what: str) -> bool:
        """Add view ``name`` over the Parquet files matching ``pattern`` (``<dir>/<dir glob>/<file glob>``), if any."""
        if not _NAME.match(name) or not any(pattern.parent.parent.glob(f"{pattern.parent.name}/{pattern.name}")):
            return False
        try:
            self.con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{sql_path(pattern)}', union_by_name = true)"
            )
        except duckdb.Error as error:
            raise QueryError(f"view {name} cannot read {pattern}: {error}") from None
        self.views[name] = what
        return True

    def _add_model_metrics(self) -> None:
        rows = ModelRegistry(self.ws.models_dir).listing() if self.ws.models_dir.is_dir() else []
        if not rows:
            return
        flat = [{**{k: v for k, v in row.items() if k != "metrics"}, **row["metrics"]} for row in rows]
        table = pa.Table.from_pylist(flat)
        self.con.from_arrow(table).project("* REPLACE (created_at::TIMESTAMPTZ AS created_at)").create_view(
            "model_metrics"
        )
        self.views["model_metrics"] = "every model version: stage and test metrics"


def _subdirectories(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and _NAME.match(p.name)) if path.is_dir() else []
