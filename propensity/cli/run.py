"""``propensity run``: the whole pipeline, stage after stage, in one progress view; each stage works on what the
previous ones left in the workspace, so ``--from``/``--to`` run any stretch of it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn, get_args

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from inference.config import MAX_PSI, ScoreConfig
from propensity.cli import _needs as needs
from propensity.cli._common import RayAddressOption, WorkdirOption, console, fail, use_ray, writing_workspace
from propensity.cli._ray_output import explain, is_ray_failure
from propensity.cli.datagen import raw_config, write_raw
from propensity.cli.feast import materialize_args, run_feast
from propensity.config import Workspace
from propensity.datagen.config import SyntheticConfig
from propensity.features.catalog import FEATURE_SERVICE, ONLINE_PROFILE_VIEWS
from propensity.runs import new_run_id
from training.config import LabelConfig, TrainConfig

if TYPE_CHECKING:
    from inference.scoring import ScoringRun
    from propensity.datagen.output import ProgressCallback
    from propensity.features.pipeline import BuildReport
    from training.trainer import TrainingRun

Stage = Literal["data", "features", "apply", "materialize", "labels", "training-set", "train", "score", "analytics"]
STAGES: tuple[Stage, ...] = get_args(Stage)
_DATA = SyntheticConfig()


class StageError(RuntimeError):
    """A stage could not finish; the message says why and what to do."""


@dataclass
class PipelineRun:
    """One ``propensity run``: its options and what its stages produced."""

    ws: Workspace
    run_id: str
    source: str
    customers: int
    start: str
    end: str
    seed: int
    fresh: bool
    max_psi: float
    features: BuildReport | None = None
    training: TrainingRun | None = None
    scoring: ScoringRun | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def report_dir(self) -> Path:
        """Where the run's analytics and stage timings go."""
        return self.ws.reports_dir / f"run-{self.run_id}"


def run(
    ctx: typer.Context,
    workdir: WorkdirOption = None,
    source: Annotated[str, typer.Option(help="synthetic | completejourney.")] = "synthetic",
    customers: Annotated[int, typer.Option(help="Customers to generate (synthetic).")] = _DATA.customers,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (synthetic).")] = str(_DATA.start),
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD (synthetic).")] = str(_DATA.end),
    seed: Annotated[int, typer.Option(help="Random seed (synthetic).")] = _DATA.seed,
    fresh: Annotated[bool, typer.Option("--fresh", help="Regenerate the raw data even if present.")] = False,
    from_stage: Annotated[str, typer.Option("--from", help=f"First stage: {', '.join(STAGES)}.")] = STAGES[0],
    to_stage: Annotated[str, typer.Option("--to", help="Last stage.")] = STAGES[-1],
    max_psi: Annotated[float, typer.Option(help="Drift that blocks the push of scores (see `score`).")] = MAX_PSI,
    ray_address: RayAddressOption = None,
) -> None:
    """Run the pipeline: raw data, features, Feast registry, online store, labels, training set, a model per
    category, scores pushed to Feast, and an analytics summary."""
    import duckdb
    from feast.errors import FeastError

    from propensity.raysession import quiet_ray_data
    from propensity.storage import OutputExistsError

    chosen = _stretch(from_stage, to_stage)
    raw_config(source, customers=customers, start=start, end=end, seed=seed)  # refuse bad options before any work
    ws = writing_workspace(ctx, workdir)
    started = datetime.now(UTC)
    state = PipelineRun(ws, new_run_id(started), source, customers, start, end, seed, fresh, max_psi)
    log = use_ray(ctx, ws, ray_address, state.report_dir / "run.log")
    quiet_ray_data()
    expected = (StageError, ValueError, FileNotFoundError, FeastError, OutputExistsError, duckdb.Error, typer.Exit)
    with _stage_view() as view:
        tasks = {stage: view.add_task(stage, total=None, start=False, note="", mark=" ") for stage in chosen}
        for stage in chosen:
            task = tasks[stage]
            view.start_task(task)
            view.update(task, mark="[yellow]▶[/]")
            began = time.perf_counter()
            try:
                note = ACTIONS[stage](state, _updater(view, task))
            except Exception as error:
                if not isinstance(error, expected) and not is_ray_failure(error):
                    raise
                view.update(task, mark="[red]✗[/]", note="[red]failed[/]")
                view.stop()
                if isinstance(error, typer.Exit):
                    _fail(stage, None)  # already printed
                _fail(stage, str(error) if isinstance(error, expected) else explain(error, stage, log))
            state.seconds[stage] = round(time.perf_counter() - began, 1)
            done = view.tasks[task].total or 1
            view.update(task, mark="[green]✓[/]", note=note, total=done, completed=done)
            view.stop_task(task)
    _write_timings(state, started)
    _closing_summary(state, started)


def _stretch(first: str, last: str) -> list[Stage]:
    for name, option in ((first, "--from"), (last, "--to")):
        if name not in STAGES:
            fail(f"{option} {name!r} is not a stage; stages in order: {', '.join(STAGES)}")
    if STAGES.index(first) > STAGES.index(last):
        fail(f"--from {first} comes after --to {last}")
    return list(STAGES[STAGES.index(first) : STAGES.index(last) + 1])


def _stage_view() -> Progress:
    return Progress(
        TextColumn("{task.fields[mark]}"),
        TextColumn("{task.description}", table_column=Column(min_width=12, no_wrap=True)),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}", table_column=Column(overflow="fold")),
        console=console,
    )


def _updater(view: Progress, task: TaskID) -> ProgressCallback:
    def update(done: int, total: int) -> None:
        view.update(task, completed=done, total=total)

    return update


def _fail(stage: Stage, message: str | None) -> NoReturn:
    if message:
        console.print(f"[bold red]error:[/] {stage}: {escape(message)}", highlight=False, soft_wrap=True)
    console.print(f"fix it, then resume with `propensity run --from {stage}` (earlier stages' output is kept)")
    raise typer.Exit(2)


def _data(state: PipelineRun, progress: ProgressCallback) -> str:
    from propensity.datagen.output import read_manifest
    from propensity.storage import is_nonempty_dir

    ws = state.ws
    if state.fresh or not is_nonempty_dir(ws.raw_dir):
        write_raw(ws, state.source, customers=state.customers, start=state.start, end=state.end, seed=state.seed,
                  overwrite=state.fresh, progress=progress)  # fmt: skip
        kept = ""
    else:
        kept = " (kept; --fresh remakes)"
    manifest = read_manifest(ws.raw_dir)
    rows = manifest["rows"]
    return f"{manifest['source']['kind']}{kept}: {rows['customers']:,} customers, {rows['orders']:,} orders"


def _features(state: PipelineRun, progress: ProgressCallback) -> str:
    from propensity.features.pipeline import build_features

    state.features = report = build_features(state.ws, progress=progress)
    return f"{len(report.dates)} weekly snapshots of {len(report.rows)} views, {sum(report.rows.values()):,} rows"


def _apply(state: PipelineRun, progress: ProgressCallback) -> str:
    _feast(state.ws, ["apply"])
    return "entity, feature views and services registered"


def _materialize(state: PipelineRun, progress: ProgressCallback) -> str:
    _feast(state.ws, materialize_args(state.ws))
    return f"{len(ONLINE_PROFILE_VIEWS)} online views loaded"


def _labels(state: PipelineRun, progress: ProgressCallback) -> str:
    from training.labels import build_labels

    labels = build_labels(state.ws, LabelConfig())
    return f"{labels.rows:,} rows at {len(labels.cutoffs)} monthly cutoffs"


def _training_set(state: PipelineRun, progress: ProgressCallback) -> str:
    from propensity.storage import parquet_shape
    from training.trainer import write_workspace_training_set

    needs.labels(state.ws)
    needs.registry(state.ws)
    rows, columns = parquet_shape(write_workspace_training_set(state.ws, FEATURE_SERVICE, progress))
    return f"{rows:,} rows x {columns:,} columns"


def _train(state: PipelineRun, progress: ProgressCallback) -> str:
    from propensity.storage import is_nonempty_dir
    from training.plan import TrainingSetError
    from training.report import write_report
    from training.trainer import train_models

    path = state.ws.training_sets_dir / FEATURE_SERVICE
    if not is_nonempty_dir(path):
        raise StageError(
            f"no training set at {path}; run `propensity run --from training-set` (or `propensity training-set`)"
        )
    try:
        state.training = run = train_models(
            state.ws, TrainConfig(), lambda category, done, total: progress(done, total), training_set=path
        )
    except TrainingSetError as error:
        raise StageError(str(error)) from None
    write_report(run, state.ws.reports_dir / f"train-{run.run_id}")
    trained = [o.card.metrics["roc_auc"] for o in run.outcomes if o.card is not None]
    auc = f", median test AUC {median(trained):.3f}" if trained else ""
    return f"{len(trained)} models ({len(run.outcomes) - len(trained)} skipped){auc}"


def _score(state: PipelineRun, progress: ProgressCallback) -> str:
    from inference.score_store import ScoresLockedError
    from inference.scoring import ScoreError, score_customers
    from training.plan import TrainingSetError

    try:
        state.scoring = run = score_customers(state.ws, ScoreConfig(max_psi=state.max_psi))
    except (ScoreError, ScoresLockedError, TrainingSetError) as error:
        raise StageError(str(error)) from None
    where = "offline and online" if run.online else "offline"
    return f"{run.customers:,} customers x {len(run.models)} models as of {run.as_of}, pushed {where}"


def _analytics(state: PipelineRun, progress: ProgressCallback) -> str:
    from propensity.analytics import reports
    from propensity.analytics.output import write_result
    from propensity.analytics.views import QueryError, WorkspaceViews

    views = WorkspaceViews(state.ws)
    made = {
        "scores": lambda: reports.scores(views),
        "coverage": lambda: reports.coverage(views),
        "drift": lambda: reports.drift(views),
        "models": lambda: views.query("SELECT * FROM model_metrics WHERE stage = 'production' ORDER BY category"),
    }
    for done, (name, report) in enumerate(made.items()):
        progress(done, len(made))
        try:
            write_result(report(), "csv", out=state.report_dir / f"{name}.csv", console=console)
        except QueryError as error:
            raise StageError(f"{name} report: {error}") from None
    return f"{len(made)} reports in {state.report_dir}"


ACTIONS: dict[Stage, Callable[[PipelineRun, ProgressCallback], str]] = {
    "data": _data,
    "features": _features,
    "apply": _apply,
    "materialize": _materialize,
    "labels": _labels,
    "training-set": _training_set,
    "train": _train,
    "score": _score,
    "analytics": _analytics,
}


def _feast(ws: Workspace, args: list[str]) -> None:
    result = run_feast(ws, args, capture=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise StageError(f"`feast {args[0]}` failed (exit {result.returncode}):\n{tail}")


def _write_timings(state: PipelineRun, started: datetime) -> None:
    from propensity.storage import atomic_file

    record = {"run_id": state.run_id, "started_at": started.isoformat(), "stage_seconds": state.seconds}
    with atomic_file(state.report_dir / "stages.json") as sink:
        sink.write((json.dumps(record, indent=2) + "\n").encode())


def _closing_summary(state: PipelineRun, started: datetime) -> None:
    if state.training is not None:
        console.print(_models_table(state.training))
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    lines = [f"[bold green]done[/] in {minutes:.1f} min: workspace {state.ws.root}"]
    if state.features is not None:
        lines.append(f"  features: {sum(state.features.rows.values()):,} rows in {len(state.features.rows)} views")
    if state.scoring is not None:
        lines.append(f"  scores: {state.scoring.customers:,} customers in {state.scoring.path}")
    if state.training is not None:
        lines.append(f"  training report: {state.ws.reports_dir / f'train-{state.training.run_id}' / 'report.html'}")
    lines.append(f"  run report: {state.report_dir} (stage times, scores, coverage, drift, models as CSV; Ray's log)")
    lines.append("  explore: `propensity sql` (shell), `propensity report lift|coverage|drift|scores`")
    console.print("\n".join(lines), highlight=False)


def _models_table(run: TrainingRun) -> Table:
    table = Table("category", "model", "test AUC", "lift@10%", "stage", title=f"models of training run {run.run_id}")
    for o in run.outcomes:
        if o.card is not None:
            m = o.card.metrics
            stage = "production" if o.promoted else "candidate"
            table.add_row(o.category, f"v{o.card.version}", f"{m['roc_auc']:.3f}", f"{m['top_decile_lift']:.1f}", stage)
    skipped = [o.category for o in run.outcomes if o.card is None]
    if skipped:
        table.caption = f"{len(skipped)} categories skipped: {', '.join(skipped)} (reasons in the training report)"
    return table
