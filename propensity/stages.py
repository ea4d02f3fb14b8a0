"""The pipeline's stages, one object each: what it needs from earlier stages, what it writes, and a ``run`` that
takes the workspace and typed options, reports through :class:`~propensity.progress.Progress` and raises the
project's errors (:mod:`propensity.errors`). Each single-stage command and ``propensity run`` call the same
stage. The heavy libraries are imported when a stage runs, so the command line starts fast."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from inference.config import ScoreConfig
from propensity import needs
from propensity.config import Workspace
from propensity.datagen.config import CompleteJourneyConfig, SyntheticConfig
from propensity.errors import BadInputError
from propensity.features.catalog import ONLINE_PROFILE_VIEWS
from propensity.features.config import BuildConfig
from propensity.progress import Progress
from training.config import LabelConfig, TrainConfig, TrainingSetRequest

if TYPE_CHECKING:
    from inference.scoring import ScoringRun
    from propensity.features.pipeline import BuildReport
    from training.labels import LabelReport
    from training.trainer import TrainingRun

Options = TypeVar("Options")
Result = TypeVar("Result")
SOURCES = ("synthetic", "completejourney")


class Stage(ABC, Generic[Options, Result]):
    """One step of the pipeline."""

    name: ClassVar[str]
    writes: ClassVar[str]  # what it makes, in words
    uses_ray: ClassVar[bool] = False

    def check(self, ws: Workspace, options: Options) -> None:
        """Refuse, before any work starts, when what the stage reads is not there yet
        (:class:`~propensity.errors.NotThereYetError` naming the command that makes it)."""

    @abstractmethod
    def run(self, ws: Workspace, options: Options, progress: Progress) -> Result:
        """Do the stage's work on ``ws`` (after :meth:`check`)."""


# --- data ---------------------------------------------------------------------------------------------------


def source_config(
    source: str, *, customers: int, start: str | date, end: str | date, seed: int, categories: int = 24
) -> SyntheticConfig | CompleteJourneyConfig:
    """The generator settings of ``source`` (pydantic's ``ValidationError`` on a bad value)."""
    if source not in SOURCES:
        raise BadInputError(f"unknown source {source!r}; choose one of: {', '.join(SOURCES)}")
    if source == "synthetic":
        return SyntheticConfig(customers=customers, start=start, end=end, seed=seed)
    return CompleteJourneyConfig(categories=categories)


@dataclass(frozen=True)
class RawOptions:
    """What raw data to write: ``keep`` leaves raw tables already there as they are, ``overwrite`` replaces them
    (without either, existing tables are refused); ``workers`` generator processes, 0 for one per core."""

    config: SyntheticConfig | CompleteJourneyConfig = field(default_factory=SyntheticConfig)
    overwrite: bool = False
    keep: bool = False
    workers: int = 0

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise BadInputError(f"`workers` must be >= 0 (got {self.workers})")


@dataclass(frozen=True)
class RawData:
    """The raw tables: rows per table, and whether they were kept rather than written."""

    source: str
    rows: dict[str, int]
    kept: bool


class Data(Stage[RawOptions, RawData]):
    """Write the raw tables of the retailer (generated, or the Complete Journey data)."""

    name = "data"
    writes = "raw tables"

    def check(self, ws: Workspace, options: RawOptions) -> None:
        from propensity.storage import ensure_writable

        if not self._keeps(ws, options):
            ensure_writable(ws.raw_dir, overwrite=options.overwrite)  # refuses raw tables there without overwrite

    def run(self, ws: Workspace, options: RawOptions, progress: Progress) -> RawData:
        from propensity.datagen.output import read_manifest

        kept = self._keeps(ws, options)
        if not kept:
            self._generate(ws, options, progress)
        manifest = read_manifest(ws.raw_dir)
        return RawData(manifest["source"]["kind"], manifest["rows"], kept)

    @staticmethod
    def _keeps(ws: Workspace, options: RawOptions) -> bool:
        from propensity.storage import is_nonempty_dir

        return options.keep and is_nonempty_dir(ws.raw_dir)

    @staticmethod
    def _generate(ws: Workspace, options: RawOptions, progress: Progress) -> None:
        from propensity.datagen.completejourney import load_completejourney
        from propensity.datagen.synthetic import generate_synthetic

        config, overwrite = options.config, options.overwrite
        if isinstance(config, SyntheticConfig):
            workers = options.workers or None
            generate_synthetic(config, ws.raw_dir, overwrite=overwrite, workers=workers, progress=progress)
        else:
            load_completejourney(config, ws.raw_dir, overwrite=overwrite, progress=progress)


# --- features -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildOptions:
    """A build of every snapshot over the history (from the month of ``since`` on), or of the one ``as_of`` date."""

    as_of: date | None = None
    since: date | None = None
    config: BuildConfig = field(default_factory=BuildConfig)


class Features(Stage[BuildOptions, "BuildReport"]):
    """Compute feature snapshots into the offline store (product text embeddings on Ray)."""

    name = "features"
    writes = "offline store"
    uses_ray = True

    def check(self, ws: Workspace, options: BuildOptions) -> None:
        from propensity.features.catalog import workspace_catalog

        needs.raw(ws)
        workspace_catalog(ws)  # the raw categories make valid views

    def run(self, ws: Workspace, options: BuildOptions, progress: Progress) -> BuildReport:
        from propensity.features.pipeline import build_features

        return build_features(ws, as_of=options.as_of, since=options.since, config=options.config, progress=progress)


@dataclass(frozen=True)
class FeastOptions:
    """How Feast's CLI runs: its output on the terminal (``echo``) or kept for the error."""

    echo: bool = False
    incremental: bool = False  # materialize: only what is new since the last materialization


@dataclass(frozen=True)
class FeastDone:
    """What Feast's CLI was run with."""

    args: list[str]
    views: int


class Apply(Stage[FeastOptions, FeastDone]):
    """Register the entity, feature views and services with Feast (`feast apply`)."""

    name = "apply"
    writes = "Feast registry"

    def check(self, ws: Workspace, options: FeastOptions) -> None:
        from propensity.features.catalog import workspace_catalog

        needs.raw(ws)
        workspace_catalog(ws)  # the definitions are built from the raw categories

    def run(self, ws: Workspace, options: FeastOptions, progress: Progress) -> FeastDone:
        from propensity.features.feast_cli import feast_command

        feast_command(ws, ["apply"], echo=options.echo)
        return FeastDone(["apply"], 0)


class Materialize(Stage[FeastOptions, FeastDone]):
    """Load the latest values of the online feature views into the online store (`feast materialize`); the
    scores reach it when the score stage pushes them."""

    name = "materialize"
    writes = "online store"

    def check(self, ws: Workspace, options: FeastOptions) -> None:
        from propensity.features.offline_store import OfflineStore

        needs.raw(ws)
        needs.offline(ws, ONLINE_PROFILE_VIEWS)
        needs.registry(ws)
        OfflineStore(ws).check_views(ONLINE_PROFILE_VIEWS)

    def run(self, ws: Workspace, options: FeastOptions, progress: Progress) -> FeastDone:
        from propensity.features.feast_cli import feast_command, materialize_args
        from propensity.features.offline_store import OfflineStore

        OfflineStore(ws).ready(ONLINE_PROFILE_VIEWS)  # Feast reads the object-store copy, when there is one
        args = materialize_args(ws, incremental=options.incremental)
        feast_command(ws, args, echo=options.echo)
        return FeastDone(args, len(ONLINE_PROFILE_VIEWS))


# --- training -----------------------------------------------------------------------------------------------


class Labels(Stage[LabelConfig, "LabelReport"]):
    """Label every eligible customer at each cutoff: did they buy in each category within the horizon?"""

    name = "labels"
    writes = "label rows"

    def check(self, ws: Workspace, options: LabelConfig) -> None:
        needs.raw(ws)

    def run(self, ws: Workspace, options: LabelConfig, progress: Progress) -> LabelReport:
        from training.labels import build_labels

        return build_labels(ws, options)


@dataclass(frozen=True)
class TrainingSet:
    """A written training set."""

    path: Path
    rows: int
    columns: int


class JoinTrainingSet(Stage[TrainingSetRequest, TrainingSet]):
    """Join the label rows point-in-time to the features of a feature service, on Ray, into Parquet."""

    name = "training-set"
    writes = "training set"
    uses_ray = True

    def check(self, ws: Workspace, options: TrainingSetRequest) -> None:
        if options.labels is None:
            needs.labels(ws)
        elif not options.labels.exists():
            raise BadInputError(f"no label rows at {options.labels}; run `propensity labels` first or pass `labels`")
        if options.repo is None:
            needs.registry(ws)

    def run(self, ws: Workspace, options: TrainingSetRequest, progress: Progress) -> TrainingSet:
        from propensity.storage import parquet_shape
        from training.joining import join_training_set

        path = join_training_set(ws, options, progress)
        return TrainingSet(path, *parquet_shape(path))


@dataclass(frozen=True)
class TrainOptions:
    """What to train; ``training_set``, when given, must exist (else the stage joins one, or reuses the
    workspace's when it is current)."""

    config: TrainConfig = field(default_factory=TrainConfig)
    training_set: Path | None = None


@dataclass(frozen=True)
class Trained:
    """A training run and its report."""

    run: TrainingRun
    report: Path


class Train(Stage[TrainOptions, Trained]):
    """Train one XGBoost model per category, register them, promote the winners, write the run's report."""

    name = "train"
    writes = "models"
    uses_ray = True

    def check(self, ws: Workspace, options: TrainOptions) -> None:
        if options.training_set is not None:  # the stage just before makes it
            needs.training_set(options.training_set)
        needs.labels(ws)
        needs.registry(ws)

    def run(self, ws: Workspace, options: TrainOptions, progress: Progress) -> Trained:
        from training.report import write_report
        from training.trainer import train_models

        run = train_models(ws, options.config, progress, training_set=options.training_set)
        return Trained(run, write_report(run, ws.reports_dir / f"train-{run.run_id}"))


# --- inference and analytics --------------------------------------------------------------------------------


class Score(Stage[ScoreConfig, "ScoringRun"]):
    """Score every eligible customer with each category's production model and publish the scores to Feast."""

    name = "score"
    writes = "scores"
    uses_ray = True

    def check(self, ws: Workspace, options: ScoreConfig) -> None:
        needs.registry(ws)

    def run(self, ws: Workspace, options: ScoreConfig, progress: Progress) -> ScoringRun:
        from inference.scoring import score_customers

        return score_customers(ws, options)


@dataclass(frozen=True)
class ReportOptions:
    """Where the reports go."""

    directory: Path


@dataclass(frozen=True)
class Reports:
    """The reports written, as CSV files."""

    paths: list[Path]


class Analytics(Stage[ReportOptions, Reports]):
    """Write the canned reports of the latest scores, feature coverage, drift and the production models."""

    name = "analytics"
    writes = "reports"
    REPORTS = ("scores", "coverage", "drift", "models")

    def run(self, ws: Workspace, options: ReportOptions, progress: Progress) -> Reports:
        from propensity.analytics import reports
        from propensity.analytics.output import write_result
        from propensity.analytics.views import QueryError, WorkspaceViews

        views = WorkspaceViews(ws)
        made = {
            "scores": lambda: reports.scores(views),
            "coverage": lambda: reports.coverage(views),
            "drift": lambda: reports.drift(views),
            "models": lambda: views.query("SELECT * FROM model_metrics WHERE stage = 'production' ORDER BY category"),
        }
        paths = []
        for done, (name, report) in enumerate(made.items()):
            progress(done, len(made))
            paths.append(options.directory / f"{name}.csv")
            try:
                write_result(report(), "csv", out=paths[-1])
            except QueryError as error:
                raise QueryError(f"{name} report: {error}") from None
        return Reports(paths)


STAGES: tuple[Stage, ...] = (
    Data(),
    Features(),
    Apply(),
    Materialize(),
    Labels(),
    JoinTrainingSet(),
    Train(),
    Score(),
    Analytics(),
)
