"""Every offline dataset of a workspace as a named DuckDB view, behind a read-only query gate.

The views (only those whose data exists):

- ``raw_<table>``: the raw tables (``raw_orders``, ``raw_order_lines``, ...);
- ``<feature view>``: each feature view's offline data, every snapshot (``customer_rfm``, ``category_orders``, ...),
  including ``customer_propensity``, the published scores, one column per category;
- ``scores``: the same scores in long form (``customer_id``, ``scored_at``, ``category``, ``score``);
- ``labels``: the label rows; ``training_set_<service>``: each training set;
- ``model_metrics``: every registered model version with its stage and test metrics;
- ``score_drift``: the PSI report of every scoring run.

Read-only is a property of the engine, not only of a parser check. DuckDB reads the datasets through Arrow
datasets this module opens, and the connection itself has no file-system access at all
(``enable_external_access=false``: no ``COPY``, ``ATTACH``, ``read_csv('/etc/passwd')``, extension ``INSTALL`` or
``LOAD``), its settings are locked (``lock_configuration``: no ``SET``) and extensions are never installed or
loaded behind a query's back. On top of that only ``SELECT`` (including ``DESCRIBE``, ``SUMMARIZE``, ``PIVOT`` with
an ``IN`` list) and ``EXPLAIN`` of such a statement run, so a session's views cannot be changed either.

A statement stops at Ctrl-C or after the session's ``timeout`` (DuckDB's ``max_execution_time``); run it, and
read its result, under :meth:`WorkspaceViews.stoppable` to get a :class:`QueryError` then.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from propensity import duck
from propensity.config import Workspace
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.errors import BadInputError
from propensity.features.schemas import SCORES_VIEW
from training.registry import ModelRegistry

T = TypeVar("T")

READ_ONLY_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
SCORE_COLUMNS_NOT_CATEGORIES = ("customer_id", "event_timestamp", "created_at", "model_versions", "scoring_run")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# EXPLAIN [ANALYZE] [(options)] <statement>: DuckDB runs the statement under ANALYZE, so it is checked too
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?(?P<inner>.*)$", re.IGNORECASE | re.DOTALL)
ENGINE_SETTINGS = {  # set when the connection opens, before any view exists
    "enable_external_access": False,  # no file, network or extension access: Arrow feeds the views
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,  # no Python variable is a table
}


class QueryError(BadInputError):
    """A query that is not allowed or does not run; the message says why."""


class WorkspaceViews:
    """A DuckDB session (in memory, UTC) over one workspace's offline datasets; see the module docstring."""

    def __init__(self, ws: Workspace, timeout: float | None = None):
        self.ws = ws
        self.timeout = timeout  # seconds a statement may run, its results read included (None: no limit)
        milliseconds = max(1, round(timeout * 1000)) if timeout else 0
        self.con = duck.connect({**ENGINE_SETTINGS, "max_execution_time": milliseconds})
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
        self.con.execute("SET lock_configuration = true")  # from here on no setting changes

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
            _check_reads(statement)
        return statements

    def interruptible(self, work: Callable[[], T]) -> T:
        """``work()`` (a statement run and its result read), in a thread of its own so that Ctrl-C in this one
        always reaches it: DuckDB does not look at Python's signals while it reads a result."""
        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["value"] = work()
            except BaseException as error:
                outcome["error"] = error

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.1)
        except KeyboardInterrupt:
            self.con.interrupt()
            worker.join()
            raise
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["value"]  # type: ignore[return-value]

    @contextmanager
    def stoppable(self) -> Iterator[None]:
        """Turn a statement stopped in this block (its results read too) by Ctrl-C or by the session's timeout,
        or failing as it runs, into a :class:`QueryError`; the session stays usable."""
        try:
            yield
        except (duckdb.Error, RuntimeError, OSError, pa.ArrowException, KeyboardInterrupt) as error:
            text = str(error)
            if "maximum execution time" in text:
                raise QueryError(f"query stopped: it ran longer than `timeout` {self.timeout:g} s") from None
            if isinstance(error, KeyboardInterrupt | duckdb.InterruptException) or "nterrupt" in text:
                self.con.interrupt()
                raise QueryError("query stopped: interrupted (Ctrl-C)") from None
            if isinstance(error, duckdb.Error):  # the statement failed as it ran (a bad cast, a missing file, ...)
                raise QueryError(text) from None
            raise

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
        """Add view ``name`` over the Parquet files matching ``pattern`` (``<dir>/<dir glob>/<file glob>``), if any:
        an Arrow dataset of those files, their columns matched by name (a column a file lacks reads as null)."""
        files = sorted(pattern.parent.parent.glob(f"{pattern.parent.name}/{pattern.name}"))
        if not _NAME.match(name) or not files:
            return False
        schemas = []
        for file in files:
            try:
                schemas.append(pq.read_schema(file))
            except (OSError, pa.ArrowException) as error:
                raise QueryError(f"view {name} cannot read {file}: it is damaged ({error})") from None
        try:
            schema = pa.unify_schemas(schemas, promote_options="permissive")
        except pa.ArrowException as error:
            raise QueryError(f"view {name}: the files under {pattern.parent.parent} disagree ({error})") from None
        self.con.register(name, pads.dataset([str(f) for f in files], schema=schema, format="parquet"))
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


def _check_reads(statement: duckdb.Statement) -> None:
    """Refuse ``statement`` unless it only reads (an EXPLAIN only when the statement it explains only reads)."""
    kind = statement.type
    if kind == duckdb.StatementType.EXPLAIN:
        explained = _EXPLAIN.match(statement.query)
        try:
            inner = duckdb.extract_statements(explained["inner"]) if explained else []
        except duckdb.Error:
            inner = []
        if len(inner) != 1:
            shown = statement.query.strip()
            raise QueryError(f"cannot tell what {shown!r} explains; give EXPLAIN [ANALYZE] SELECT ...")
        _check_reads(inner[0])
        return
    if kind not in READ_ONLY_STATEMENTS:
        raise QueryError(
            f"{kind.name} is not allowed: analytics queries are read-only (SELECT, DESCRIBE, SUMMARIZE, EXPLAIN); "
            "use the pipeline's commands to change the workspace"
        )


def _subdirectories(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and _NAME.match(p.name)) if path.is_dir() else []
