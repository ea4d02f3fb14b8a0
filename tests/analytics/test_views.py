"""The workspace's datasets as DuckDB views, and the read-only gate in front of them."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.dataset as pads
import pytest
from rich.console import Console

from propensity.analytics.views import QueryError, WorkspaceViews
from propensity.cli.shell import Shell
from propensity.datagen.schema import RAW_SCHEMAS
from propensity.features.schemas import SCORES_VIEW
from tests.support.known import SCORED_AT, KnownWorkspace

RUNAWAY = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"  # 10^12 rows


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_every_dataset_present_is_a_view_with_all_its_rows(known: KnownWorkspace) -> None:
    views = WorkspaceViews(known.ws)
    expected = {f"raw_{name}": known.ws.raw_dir / name for name in RAW_SCHEMAS}
    expected |= {"toy": known.ws.offline_dir / "toy", SCORES_VIEW: known.ws.offline_dir / SCORES_VIEW}
    assert set(views.views) == {*expected, "scores"}  # nothing else exists yet: no labels, models or runs
    assert views.feature_views == [SCORES_VIEW, "toy"]
    for name, path in expected.items():
        assert views.query(f"SELECT count(*) FROM {name}").fetchall()[0][0] == pads.dataset(path).count_rows()


def test_scores_are_the_published_scores_one_row_per_category(known: KnownWorkspace) -> None:
    rows = WorkspaceViews(known.ws).query("SELECT * FROM scores").to_arrow_table().to_pylist()
    assert {r["scored_at"].date() for r in rows} == {SCORED_AT}
    got = {(r["category"], r["customer_id"]): r["score"] for r in rows}
    expected = {(category, c): s for category, scores in known.scores.items() for c, s in scores.items()}
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1) TO '{root}/offline/toy/leak.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 999 AS customer_id) TO '{file}' (FORMAT parquet)",
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
        "EXPLAIN (FORMAT json) DROP VIEW toy",
        "/* hidden */ EXPLAIN ANALYZE DROP VIEW toy",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO toy SELECT * FROM toy",
        "DROP VIEW toy",
        "ATTACH '{root}/offline/x.duckdb' AS x",
        "EXPORT DATABASE '{root}/offline/export'",
        "SET threads = 1",
        "PRAGMA database_list",
        "CALL pragma_version()",
        "INSTALL httpfs",
        "LOAD parquet",
        "SELECT 1; DROP VIEW toy",
    ],
)
def test_only_reading_statements_run_and_nothing_changes(known: KnownWorkspace, statement: str) -> None:
    views = WorkspaceViews(known.ws)
    before = _files(known.ws.root)
    file = next((known.ws.offline_dir / "toy").rglob("*.parquet"))
    with pytest.raises(QueryError, match=r"is not allowed: analytics queries are read-only|cannot tell what"):
        views.query(statement.format(root=known.ws.root, file=file))
    assert _files(known.ws.root) == before
    rows = sum(table.num_rows for table in known.snapshots.values())
    assert views.query("SELECT count(*) FROM toy").fetchall()[0][0] == rows  # the view is still there


def test_reading_statements_of_every_kind_run(known: KnownWorkspace) -> None:
    views = WorkspaceViews(known.ws)
    assert views.query("DESCRIBE toy").fetchall()[0][0] == "customer_id"
    assert len(views.query("SUMMARIZE toy").fetchall()) == next(iter(known.snapshots.values())).num_columns
    assert views.query("EXPLAIN SELECT * FROM toy").fetchall()
    with pytest.raises(QueryError, match="exactly one statement"):
        views.query("SELECT 1; SELECT 2")
    with pytest.raises(QueryError, match="does not exist"):
        views.query("SELECT * FROM nope")


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 999 AS customer_id) TO '{file}' (FORMAT parquet)",
        "EXPLAIN ANALYZE COPY (SELECT 999 AS customer_id) TO '{file}' (FORMAT parquet)",
        "COPY toy TO '{root}/reports/leak.csv'",
        "ATTACH '{root}/x.duckdb' AS x",
        "SET threads = 1",
        "SET lock_configuration = false",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_parquet('{file}')",  # only the views read, not a statement naming a file
    ],
)
def test_the_engine_itself_refuses_files_settings_and_extensions(known: KnownWorkspace, statement: str) -> None:
    """Past the statement gate (straight on the connection) DuckDB still cannot touch a file or a setting."""
    views = WorkspaceViews(known.ws)
    file = next((known.ws.offline_dir / "toy").rglob("*.parquet"))
    before = _files(known.ws.root)
    with pytest.raises(duckdb.Error, match=r"disabled|locked"):
        views.con.execute(statement.format(root=known.ws.root, file=file))
    assert _files(known.ws.root) == before
    with pytest.raises(QueryError):  # and the gate in front of it refuses them all too
        views.query(statement.format(root=known.ws.root, file=file))


def test_a_timeout_stops_a_runaway_query_and_the_session_goes_on(known: KnownWorkspace) -> None:
    views = WorkspaceViews(known.ws, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(QueryError, match=r"ran longer than `timeout` 0\.5 s"), views.stoppable():
        views.query(RUNAWAY).fetchall()
    assert time.monotonic() - start < 30
    assert views.query("SELECT count(*) FROM toy").fetchall()[0][0] > 0


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Python's Ctrl-C handler on SIGINT, also where the suite runs as a background job (SIGINT ignored, so
    Python installs none)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_stops_a_runaway_statement_in_the_shell(known: KnownWorkspace) -> None:
    out, errors = io.StringIO(), io.StringIO()
    views = WorkspaceViews(known.ws, timeout=120)  # a backstop: a lost signal fails the test, not hangs it
    shell = Shell(views, Console(file=out), Console(file=errors, width=200))
    stopped = threading.Event()

    def press_ctrl_c() -> None:  # until the shell says it stopped (on a loaded machine the query starts late)
        while not stopped.wait(2.0) and "query stopped" not in errors.getvalue():
            os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    start = time.monotonic()
    try:
        assert shell.run(io.StringIO(f"{RUNAWAY};\nSELECT 41 + 1 AS answer;\n")) == 1
    finally:
        stopped.set()
        presser.join()
    assert time.monotonic() - start < 30
    assert "query stopped: interrupted (Ctrl-C)" in errors.getvalue() and "42" in out.getvalue()


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_before_the_statement_starts_still_stops_it(known: KnownWorkspace) -> None:
    views = WorkspaceViews(known.ws, timeout=60)  # a lost interrupt leaves the statement running this long
    begun = threading.Event()

    def late_statement() -> list:
        begun.set()
        time.sleep(1.0)  # Ctrl-C lands here, before DuckDB runs anything
        return views.query(RUNAWAY).fetchall()

    def press_ctrl_c() -> None:
        begun.wait()
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    start = time.monotonic()
    try:
        with pytest.raises(QueryError, match="interrupted"), views.stoppable():
            views.interruptible(late_statement)
    finally:
        presser.join()
    assert time.monotonic() - start < 30
    assert views.query("SELECT 41 + 1").fetchall() == [(42,)]
