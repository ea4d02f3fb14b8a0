"""Bad input to every command: wrong types, out-of-range and non-finite numbers, unknown or hostile names,
impossible dates. Each is refused with a one-line message saying what is wrong, before anything is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from propensity.cli import app
from propensity.config import WORKDIR_ENV, Workspace
from propensity.datagen.raw_views import connect_raw
from propensity.features.embedding import MAX_DESCRIPTION_BYTES
from propensity.features.pipeline import raw_anomalies
from tests.support.workspaces import copy_workspace

runner = CliRunner()
HOSTILE = "x'; DROP TABLE raw_orders; --"


@pytest.fixture(scope="module")
def ws(small_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of the small workspace (raw data, features, labels, registry; no models)."""
    return copy_workspace(small_workspace, tmp_path_factory.mktemp("bad") / "ws")


def _snapshot(root: Path) -> dict[Path, int]:
    """Every data file of the workspace with its mtime (a command's own log in reports/logs is not data: a
    refused command that had started Ray keeps Ray's messages there)."""
    logs = root / "reports" / "logs"
    return {
        p: p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".lock") and not p.is_relative_to(logs)
    }


def _refused(ws: Workspace, args: list[str], message: str) -> None:
    before = _snapshot(ws.root)
    result = runner.invoke(app, [*args, "--workdir", str(ws.root)])
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert "Traceback" not in result.output
    assert message in output, output
    assert _snapshot(ws.root) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["datagen", "--customers", "0"], "customers: Input should be greater than or equal to 1 (got 0)"),
        (["datagen", "--customers", "many"], "Invalid value for '--customers'"),
        (["datagen", "--customers", "99999999999999999999"], "customers: Input should be less than or equal to"),
        (["datagen", "--start", "2000-01-01", "--end", "2200-01-01"], "more than 3,660 days after start"),
        (["datagen", "--start", "2025-13-01"], "month value is outside expected range"),
        (["datagen", "--end", "2023-01-01"], "must be after start"),
        (["datagen", "--source", HOSTILE], f"unknown source {HOSTILE!r}"),
        (["run", "--customers", "-5", "--to", "data"], "customers: Input should be greater than or equal to 1"),
        (["run", "--from", HOSTILE], "is not a stage"),
        (["features", "build", "--as-of", "2025-02-30"], "day is out of range for month"),
        (["features", "build", "--as-of", "1999-01-01"], "--as-of 1999-01-01 is before the data"),
        (["features", "build", "--cadence-days", "0"], "--cadence-days: Input should be greater than or equal to 1"),
        (["features", "build", "--buckets", "100000"], "--buckets: Input should be less than or equal to 4096"),
        (["features", "build", "--since", "2025-01-01", "--as-of", "2025-03-03"], "--as-of and --since exclude each"),
        (["features", "build", "--since", "2031-01-01"], "--since 2031-01-01 is after the last snapshot date"),
        (["features", "build", "--workers", "0"], "--workers: Input should be greater than or equal to 1"),
        (["features", "build", "--task-memory-gib", "0.1"], "--task-memory-gib: Input should be greater than or equal"),
        (["features", "build", "--task-memory-gib", "nan"], "--task-memory-gib: Input should be"),
        (["features", "build", "--task-memory-gib", "1000"], "--task-memory-gib 1000 is more than any Ray node"),
        (["labels", "--horizon-days", "0"], "--horizon-days: Input should be greater than or equal to 1"),
        (["labels", "--cadence", HOSTILE], "--cadence: use `monthly`, `weekly` or a number of days"),
        (["training-set", "--feature-service", HOSTILE], f'unknown feature service "{HOSTILE}"'),
        (["training-set", "--labels", "/no/such/labels.parquet"], "no label rows at /no/such/labels.parquet"),
        (["training-set", "--batch-rows", "0"], "--batch-rows must be at least 1, got 0"),
        (["train", "--categories", "../../etc"], "unknown category ../../etc"),
        (["train", "--categories", f"photo_books,{HOSTILE}"], f"unknown category {HOSTILE}"),
        (["train", "--strategy", "fastest"], "'fastest' is not one of"),
        (["score", "--as-of", "2025-03-01T00:00"], "is not a date"),
        (["score", "--max-psi", "nan"], "--max-psi: Input should be greater than 0 (got nan)"),
        (["score", "--max-psi", "-1"], "--max-psi: Input should be greater than 0"),
        (["score", "--workers", "0"], "--workers: Input should be greater than or equal to 1"),
        (["sql", f"SELECT 1; {HOSTILE.split(';')[1]}"], "DROP is not allowed"),
        (["sql", "COPY raw_orders TO 'x.csv'"], "COPY is not allowed"),
        (["sql", "SELECT * FROM nothing_here"], "Table with name nothing_here does not exist"),
        (["sql", "SELECT 1", "--format", "xml"], "'xml' is not one of"),
        (["report", "drift", "--view", HOSTILE], f'no feature view "{HOSTILE}" in the offline store'),
        (["report", "coverage", "--date", "yesterday"], "--date 'yesterday' is not a date"),
        (["report", "lift", "--horizon-days", "-3"], "Invalid value for '--horizon-days'"),
    ],
)
def test_bad_options_are_refused_before_any_work(ws: Workspace, args: list[str], message: str) -> None:
    _refused(ws, args, message)


def test_scoring_without_models_says_what_to_run(ws: Workspace) -> None:
    _refused(ws, ["score", "--categories", HOSTILE], "no production model")


@pytest.fixture
def raw_only(ws: Workspace, tmp_path: Path) -> Workspace:
    """A workspace holding only a copy of the raw data (to be spoilt by the test)."""
    copy = Workspace.resolve(tmp_path / "raw_only")
    shutil.copytree(ws.raw_dir, copy.raw_dir)
    return copy


@pytest.mark.parametrize("name", ["men's shoes", "a/b", "DROP TABLE x", "x;--", "Ünïcode"])
def test_a_category_name_that_is_not_an_identifier_is_refused(raw_only: Workspace, name: str) -> None:
    path = raw_only.raw_dir / "categories" / "part-00000.parquet"
    table = pq.read_table(path)
    names = table.column("category").to_pylist()
    names[0] = name
    pq.write_table(table.set_column(table.schema.get_field_index("category"), "category", pa.array(names)), path)
    _refused(raw_only, ["features", "build"], f"category {name!r} is not a valid identifier")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e300])
def test_non_finite_or_absurd_raw_amounts_are_refused(raw_only: Workspace, value: float) -> None:
    path = sorted((raw_only.raw_dir / "orders").glob("*.parquet"))[0]
    table = pq.read_table(path)
    amounts = table.column("amount").to_pylist()
    amounts[0] = value
    pq.write_table(table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(amounts)), path)
    _refused(raw_only, ["features", "build"], "raw table 'orders' has values that are NaN, infinite or beyond")


@pytest.mark.parametrize("year", [2200, 1970])
def test_raw_dates_out_of_range_are_refused(raw_only: Workspace, year: int) -> None:
    path = sorted((raw_only.raw_dir / "orders").glob("*.parquet"))[0]
    table = pq.read_table(path)
    stamps = table.column("ordered_at").to_pylist()
    stamps[0] = stamps[0].replace(year=year)
    column = pa.array(stamps, type=table.schema.field("ordered_at").type)
    pq.write_table(table.set_column(table.schema.get_field_index("ordered_at"), "ordered_at", column), path)
    _refused(raw_only, ["features", "build"], "raw table 'orders' has timestamps outside 1990-01-01 .. ")
    _refused(raw_only, ["features", "build"], "('ordered_at': 1 row(s))")


def test_an_empty_raw_table_directory_is_refused(raw_only: Workspace) -> None:
    for file in (raw_only.raw_dir / "sessions").iterdir():
        file.unlink()
    _refused(raw_only, ["features", "build"], f"raw table 'sessions' in {raw_only.raw_dir / 'sessions'} has no Parquet")


@pytest.mark.parametrize("command", [["datagen", "--customers", "10"], ["features", "build"], ["sql", "SELECT 1"]])
def test_a_workdir_that_is_a_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    file = tmp_path / "not-a-dir"
    file.write_text("x")
    by_option = runner.invoke(app, [*command, "--workdir", str(file)])
    monkeypatch.setenv(WORKDIR_ENV, str(file))
    by_env = runner.invoke(app, command)
    for result in (by_option, by_env):
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert f"the workspace {file} (--workdir or $PROPENSITY_WORKDIR) is not a directory" in " ".join(
            result.output.split()
        )
    assert file.read_text() == "x"


def test_null_customers_repeated_orders_and_negative_amounts_are_counted(raw_only: Workspace) -> None:
    before = raw_anomalies(connect_raw(raw_only))
    path = sorted((raw_only.raw_dir / "orders").glob("*.parquet"))[0]
    table = pq.read_table(path)
    customers, orders, amounts = (table.column(c).to_pylist() for c in ("customer_id", "order_id", "amount"))
    customers[0], orders[2], amounts[3] = None, orders[1], -abs(amounts[3]) - 1
    for name, values in (("customer_id", customers), ("order_id", orders), ("amount", amounts)):
        column = pa.array(values, type=table.schema.field(name).type)
        table = table.set_column(table.schema.get_field_index(name), name, column)
    pq.write_table(table, path)

    after = raw_anomalies(connect_raw(raw_only))
    grown = {kind: n - before.get(kind, 0) for kind, n in after.items()}
    assert grown == {
        "orders: rows without customer_id": 1,
        "orders: extra rows of a repeated order_id": 1,
        "orders: negative amount": 1,
    }


def test_a_description_beyond_the_embedding_bound_is_refused(raw_only: Workspace) -> None:
    path = raw_only.raw_dir / "products" / "part-00000.parquet"
    table = pq.read_table(path)
    descriptions = table.column("description").to_pylist()
    descriptions[1] = "é" * (MAX_DESCRIPTION_BYTES // 2 + 1)  # two bytes each in UTF-8: one byte too many
    pq.write_table(
        table.set_column(table.schema.get_field_index("description"), "description", pa.array(descriptions)), path
    )
    product = table.column("product_id")[1].as_py()
    _refused(raw_only, ["features", "build"], f"longer than {MAX_DESCRIPTION_BYTES:,} bytes (product_id {product})")


@pytest.mark.parametrize(
    "command",
    [
        ["datagen", "--customers", "0"],
        ["datagen", "--workers", "-1"],
        ["features", "build", "--as-of", "2025-13-01"],
        ["labels", "--cadence", "yearly"],
        ["train", "--workers", "0"],
        ["score", "--as-of", "tomorrow"],
    ],
)
def test_a_writer_with_bad_options_creates_no_workspace(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "new-workspace"
    result = runner.invoke(app, [*command, "--workdir", str(missing)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert not missing.exists()
