"""``propensity sql`` and ``propensity report``: formats, files, the shell, and refusals."""

from __future__ import annotations

import json
import os
import stat
import threading

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from propensity.analytics.views import WorkspaceViews
from propensity.cli import app
from tests.support.known import KnownWorkspace

QUERY = "SELECT customer_id, event_timestamp, stable, half_null FROM toy ORDER BY event_timestamp, customer_id"


def _invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_query_written_to_a_file_holds_every_row(known: KnownWorkspace, tmp_path, fmt: str) -> None:
    out = tmp_path / "exports" / f"result.{fmt}"
    result = _invoke("sql", QUERY, "--format", fmt, "--out", str(out))
    assert result.exit_code == 0, result.output
    expected = WorkspaceViews(known.ws).query(QUERY).to_arrow_table()
    if fmt == "parquet":
        assert pq.read_table(out).equals(expected)
    elif fmt == "csv":
        assert pcsv.read_csv(out).column("half_null").to_pylist() == expected.column("half_null").to_pylist()
    else:
        rows = json.loads(out.read_text())
        assert [r["customer_id"] for r in rows] == expected.column("customer_id").to_pylist()
        assert rows[0]["event_timestamp"] == expected.column("event_timestamp")[0].as_py().isoformat()
        assert [r["half_null"] for r in rows] == expected.column("half_null").to_pylist()
    assert list(out.parent.iterdir()) == [out]  # nothing left aside


def test_json_prints_an_array_of_objects_with_nan_as_null(known: KnownWorkspace) -> None:
    result = _invoke("sql", "SELECT 1 AS a, 'nan'::DOUBLE AS b, 'inf'::DOUBLE AS c", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"a": 1, "b": None, "c": None}]


def test_a_table_shows_the_first_rows_and_says_there_are_more(known: KnownWorkspace) -> None:
    result = _invoke("sql", "SELECT DISTINCT customer_id FROM toy ORDER BY customer_id DESC", "--max-rows", "3")
    assert result.exit_code == 0, result.output
    assert "99" in result.stdout and "97" in result.stdout and "first 3 rows" in result.stdout
    assert "96" not in result.stdout


def test_writing_into_the_workspace_is_refused(known: KnownWorkspace) -> None:
    target = known.ws.offline_dir / "toy" / "copy.csv"
    result = _invoke("sql", QUERY, "--format", "csv", "--out", str(target))
    assert result.exit_code == 2
    assert "inside the workspace's data" in result.output and not target.exists()
    result = _invoke("sql", "DELETE FROM toy")
    assert result.exit_code == 2 and "DELETE is not allowed" in result.output
    assert _invoke("sql", QUERY, "--format", "parquet").exit_code == 2  # binary to a terminal: needs --out


def test_the_shell_runs_piped_statements_and_reports_failures(known: KnownWorkspace) -> None:
    script = "SELECT count(*) AS n\n  FROM toy;\n.format csv\nSELECT 41 + 1 AS answer;\nDROP VIEW toy;\n.nope\n"
    result = _invoke("sql", input=script)
    assert result.exit_code == 1  # two failures: the DROP and the unknown command
    assert "200" in result.stdout and '"answer"\n42' in result.stdout
    assert "DROP is not allowed" in result.output and "unknown or incomplete command '.nope'" in result.output
    assert _invoke("sql", input=".tables\n.quit\nDROP VIEW toy;\n").exit_code == 0  # .quit stops reading


def test_reports_print_and_export(known: KnownWorkspace, tmp_path) -> None:
    result = _invoke("report", "lift", "--format", "json")
    assert result.exit_code == 0, result.output
    assert {r["category"] for r in json.loads(result.stdout)} == set(known.scores)
    out = known.ws.reports_dir / "drift.csv"  # reports/ is the one place in the workspace a report may go
    assert _invoke("report", "drift", "--view", "toy", "--format", "csv", "--out", str(out)).exit_code == 0
    assert pcsv.read_csv(out).num_rows == 4
    result = _invoke("report", "coverage", "--date", "2025-13-01")
    assert result.exit_code == 2 and "--date '2025-13-01' is not a date" in result.output
    result = _invoke("report", "scores", "--date", "2025-01-01")
    assert result.exit_code == 2 and "no scores were published for 2025-01-01" in result.output


def test_a_timeout_stops_a_runaway_query_with_a_one_line_error(known: KnownWorkspace) -> None:
    runaway = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"
    result = _invoke("sql", runaway, "--timeout", "0.5")
    assert result.exit_code == 2, result.output
    assert "error: query stopped: it ran longer than --timeout 0.5 s" in result.output
    result = _invoke("report", "scores", "--timeout", "30", "--format", "json")  # the reports take it too
    assert result.exit_code == 0, result.output


MARKUP = ["[/]", "[red]x[/red]", ":x:", "[bold]"]


def test_values_print_verbatim_never_as_markup(known: KnownWorkspace) -> None:
    columns = ", ".join(f"'{value}' AS \"{value}\"" for value in MARKUP)
    result = _invoke("sql", f"SELECT {columns}")
    assert result.exit_code == 0, result.output
    assert all(result.stdout.count(value) == 2 for value in MARKUP)  # in the header and in the cell
    assert "\u274c" not in result.stdout  # :x: is not an emoji
    result = _invoke("sql", input=f'SELECT {columns};\nSELECT * FROM "[/]";\n')
    assert result.exit_code == 1  # the shell survives both, the failing one reported as text
    assert all(value in result.stdout for value in MARKUP) and "name [/] does not exist" in result.output


def test_json_writes_big_integers_and_decimals_exactly(known: KnownWorkspace) -> None:
    query = (
        "SELECT 9007199254740993::HUGEINT AS big, 9007199254740993 AS bigint, "
        "12345678901234567.25::DECIMAL(38, 2) AS d, [0.1::DECIMAL(3, 1)] AS l, 'x' AS s"
    )
    result = _invoke("sql", query, "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"big": 9007199254740993,' in result.stdout and '"d": 12345678901234567.25,' in result.stdout
    row = json.loads(result.stdout, parse_float=str)[0]
    assert row == {
        "big": 9007199254740993,
        "bigint": 9007199254740993,
        "d": "12345678901234567.25",
        "l": ["0.1"],
        "s": "x",
    }


def test_out_streams_into_a_fifo_and_refuses_a_directory(known: KnownWorkspace, tmp_path) -> None:
    (tmp_path / "out").mkdir()
    fifo = tmp_path / "out" / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = _invoke("sql", "SELECT 41 + 1 AS answer", "--format", "csv", "--out", str(fifo))
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert received == [b'"answer"\n42\n'] and stat.S_ISFIFO(fifo.lstat().st_mode)  # written into, not replaced
    assert [p.name for p in fifo.parent.iterdir()] == ["pipe"]
    result = _invoke("sql", "SELECT 1", "--format", "csv", "--out", str(fifo.parent))
    assert result.exit_code == 2 and f"--out {fifo.parent} is a directory; give a file name" in result.output
