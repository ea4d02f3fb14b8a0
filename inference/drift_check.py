"""The drift check of a scoring run: every input feature's PSI against the distribution its model trained on.

Each production model carries the drift profile of its training split (:class:`propensity.drift.DriftProfile`,
shared by the models of one training run). While the scoring actors build each block's matrix, they count a
sample of its rows (:func:`inference.scorer.drift_sample`) into the bins of every training run's profile and
add the counts to one :class:`DriftCounter` actor, so the check costs a histogram per block and no second pass
over the features.
Before anything is published, :func:`drift_report` turns the totals into PSI per feature and training run, and
:func:`check_drift` blocks the run when any exceeds the threshold.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from inference.scorer import ScoringModel
from propensity.errors import ConflictError

REPORT_SCHEMA = pa.schema(
    [("training_run", pa.string()), ("categories", pa.string()), ("feature", pa.string()), ("psi", pa.float64())]
)


class DriftError(ConflictError):
    """Input features drifted past the threshold; nothing of the run is published."""


@ray.remote(num_cpus=0)
class DriftCounter:
    """Sums the bin counts the scoring actors send, per training run."""

    def __init__(self) -> None:
        self.totals: dict[str, list[np.ndarray]] = {}

    def add(self, run_id: str, counts: list[np.ndarray]) -> None:
        """Add one block's counts for the profile of training run ``run_id``."""
        if run_id in self.totals:
            self.totals[run_id] = [a + b for a, b in zip(self.totals[run_id], counts, strict=True)]
        else:
            self.totals[run_id] = counts

    def result(self) -> dict[str, list[np.ndarray]]:
        """The totals so far."""
        return self.totals


def drift_report(models: list[ScoringModel], totals: dict[str, list[np.ndarray]]) -> pa.Table:
    """PSI per training run and feature (matrix column), with the categories whose models it feeds, worst first."""
    rows: dict[str, list] = {"training_run": [], "categories": [], "feature": [], "psi": []}
    for run_id in sorted(totals):
        run_models = [m for m in models if m.run_id == run_id and m.profile is not None]
        categories = ",".join(m.category for m in run_models)
        for feature, psi in run_models[0].profile.psi(totals[run_id]).items():
            rows["training_run"].append(run_id)
            rows["categories"].append(categories)
            rows["feature"].append(feature)
            rows["psi"].append(psi)
    table = pa.table(rows, schema=REPORT_SCHEMA)
    return table.sort_by([("psi", "descending"), ("feature", "ascending")])


def check_drift(report: pa.Table, max_psi: float, where: Path) -> None:
    """Refuse the run when a feature's PSI exceeds ``max_psi`` (``inf``: never), naming the worst features."""
    over = report.filter(pc.greater(report.column("psi"), max_psi)) if math.isfinite(max_psi) else None
    if over is None or over.num_rows == 0:
        return
    shown = over.slice(0, 5).to_pylist()
    detail = "; ".join(f"{r['feature']} {r['psi']:.2f} (models: {r['categories']})" for r in shown)
    raise DriftError(
        f"input drift blocks the push: {over.num_rows} feature(s) have PSI above {max_psi:g} against their "
        f"training data, worst: {detail}; nothing was published. The full report is in {where}; check the "
        "feature pipeline, retrain, or rerun with a higher `max_psi` (inf: report only)"
    )
