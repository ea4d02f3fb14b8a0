"""``propensity run``: the whole pipeline, stage after stage (:mod:`propensity.stages`), in one progress view;
each stage works on what the previous ones left in the workspace, so ``--from``/``--to`` run any stretch of it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from inference.config import MAX_PSI, ScoreConfig
from propensity.cli._common import (
    RayAddressOption,
    RayFailures,
    WorkdirOption,
    console,
    settings,
    use_ray,
    writing_workspace,
)
from propensity.config import Workspace
from propensity.datagen.config import SyntheticConfig
from propensity.errors import BadInputError, PropensityError
from propensity.features.catalog import FEATURE_SERVICE
from propensity.progress import Progress as ProgressCallback
from propensity.runs import new_run_id
from propensity.stages import (
    STAGES,
    BuildOptions,
    FeastOptions,
    RawData,
    RawOptions,
    ReportOptions,
    Stage,
    Trained,
    TrainingSet,
    TrainOptions,
    source_config,
)
from training.config import LabelConfig, TrainingSetRequest

if TYPE_CHECKING:
    from inference.scoring import ScoringRun
    from propensity.features.pipeline import BuildReport
    from training.trainer import TrainingRun

NAMES = tuple(stage.name for stage in STAGES)
_DATA = SyntheticConfig()


class StageFailedError(PropensityError):
    """A stage of ``propensity run`` failed; the message says which, why, and where to resume."""

    def __init__(self, stage: str, error: PropensityError):
        super().__init__(
            f"{stage}: {error}\nfix it, then resume with `propensity run --from {stage}` (earlier stages' output is "
            "kept)"
        )
        self.exit_code = error.exit_code


@dataclass
class PipelineRun:
    """One ``propensity run``: its options per stage and what its stages produced."""

    ws: Workspace
    run_id: str
    options: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
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
    from_stage: Annotated[str, typer.Option("--from", help=f"First stage: {', '.join(NAMES)}.")] = NAMES[0],
    to_stage: Annotated[str, typer.Option("--to", help="Last stage.")] = NAMES[-1],
    max_psi: Annotated[float, typer.Option(help="Drift that blocks the push of scores (see `score`).")] = MAX_PSI,
    ray_address: RayAddressOption = None,
) -> None:
    """Run the pipeline: raw data, features, Feast registry, online store, labels, training set, a model per
    category, scores pushed to Feast, and an analytics summary."""
    from propensity.raysession import quiet_ray_data

    chosen = _stretch(from_stage, to_stage)
    with settings():  # refuse bad options before any work
        config = source_config(source, customers=customers, start=start, end=end, seed=seed)
        scoring = ScoreConfig(max_psi=max_psi)
    ws = writing_workspace(ctx, workdir)
    started = datetime.now(UTC)
    state = PipelineRun(ws, new_run_id(started), {})
    state.options = _stage_options(state, RawOptions(config, overwrite=fresh, keep=not fresh), scoring)
    log = use_ray(ctx, ws, ray_address, state.report_dir / "run.log")
    quiet_ray_data()
    with _stage_view() as view:
        tasks = {stage.name: view.add_task(stage.name, total=None, start=False, note="", mark=" ") for stage in chosen}
        for stage in chosen:
            task = tasks[stage.name]
            view.start_task(task)
            view.update(task, mark="[yellow]▶[/]")
            began = time.perf_counter()
            try:
                with RayFailures(stage.name, log):
                    options = state.options[stage.name]
                    stage.check(ws, options)
                    state.results[stage.name] = result = stage.run(ws, options, _updater(view, task))
            except PropensityError as error:
                view.update(task, mark="[red]✗[/]", note="[red]failed[/]")
                view.stop()
                raise StageFailedError(stage.name, error) from error
            state.seconds[stage.name] = round(time.perf_counter() - began, 1)
            done = view.tasks[task].total or 1
            view.update(task, mark="[green]✓[/]", note=SUMMARIES[stage.name](result), total=done, completed=done)
            view.stop_task(task)
    _write_timings(state, started)
    _closing_summary(state, started)


def _stage_options(state: PipelineRun, data: RawOptions, scoring: ScoreConfig) -> dict[str, Any]:
    """Each stage's options in a run: the defaults, but for the raw data and the scores' drift limit."""
    return {
        "data": data,
        "features": BuildOptions(),
        "apply": FeastOptions(),
        "materialize": FeastOptions(),
        "labels": LabelConfig(),
        "training-set": TrainingSetRequest(),
        "train": TrainOptions(training_set=state.ws.training_sets_dir / FEATURE_SERVICE),
        "score": scoring,
        "analytics": ReportOptions(state.report_dir),
    }


def _stretch(first: str, last: str) -> list[Stage]:
    for name, option in ((first, "--from"), (last, "--to")):
        if name not in NAMES:
            raise BadInputError(f"{option} {name!r} is not a stage; stages in order: {', '.join(NAMES)}")
    if NAMES.index(first) > NAMES.index(last):
        raise BadInputError(f"--from {first} comes after --to {last}")
    return list(STAGES[NAMES.index(first) : NAMES.index(last) + 1])


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


def _data(raw: RawData) -> str:
    kept = " (kept; --fresh remakes)" if raw.kept else ""
    return f"{raw.source}{kept}: {raw.rows['customers']:,} customers, {raw.rows['orders']:,} orders"


def _features(report: BuildReport) -> str:
    return f"{len(report.dates)} weekly snapshots of {len(report.rows)} views, {sum(report.rows.values()):,} rows"


def _training_set(made: TrainingSet) -> str:
    return f"{made.rows:,} rows x {made.columns:,} columns"


def _train(trained: Trained) -> str:
    run = trained.run
    aucs = [o.card.metrics["roc_auc"] for o in run.outcomes if o.card is not None]
    auc = f", median test AUC {median(aucs):.3f}" if aucs else ""
    return f"{len(aucs)} models ({len(run.outcomes) - len(aucs)} skipped){auc}"


def _score(run: ScoringRun) -> str:
    where = "offline and online" if run.online else "offline"
    return f"{run.customers:,} customers x {len(run.models)} models as of {run.as_of}, pushed {where}"


SUMMARIES: dict[str, Callable[[Any], str]] = {  # one line per stage's result, in the run's view
    "data": _data,
    "features": _features,
    "apply": lambda done: "entity, feature views and services registered",
    "materialize": lambda done: f"{done.views} online views loaded",
    "labels": lambda labels: f"{labels.rows:,} rows at {len(labels.cutoffs)} monthly cutoffs",
    "training-set": _training_set,
    "train": _train,
    "score": _score,
    "analytics": lambda reports: f"{len(reports.paths)} reports in {reports.paths[0].parent}",
}


def _write_timings(state: PipelineRun, started: datetime) -> None:
    from propensity.storage import atomic_file

    record = {"run_id": state.run_id, "started_at": started.isoformat(), "stage_seconds": state.seconds}
    with atomic_file(state.report_dir / "stages.json") as sink:
        sink.write((json.dumps(record, indent=2) + "\n").encode())


def _closing_summary(state: PipelineRun, started: datetime) -> None:
    features, trained, scoring = (state.results.get(name) for name in ("features", "train", "score"))
    if trained is not None:
        console.print(_models_table(trained.run))
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    lines = [f"[bold green]done[/] in {minutes:.1f} min: workspace {state.ws.root}"]
    if features is not None:
        lines.append(f"  features: {sum(features.rows.values()):,} rows in {len(features.rows)} views")
    if scoring is not None:
        lines.append(f"  scores: {scoring.customers:,} customers in {scoring.path}")
    if trained is not None:
        lines.append(f"  training report: {trained.report}")
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
