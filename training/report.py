"""The HTML report of a training run: one self-contained page (plots inlined) with a table across categories and
a section per category."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2

from training.trainer import TrainingRun

SUMMARY_METRICS = ("roc_auc", "pr_auc", "log_loss", "calibration_error", "top_decile_lift", "base_rate", "positives")

_TEMPLATE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Training run {{ run.run_id }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: 0.2em 0.7em; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } .skipped { color: #a60; }
section { margin-top: 2.5em; } img { margin: 0.3em; border: 1px solid #eee; }
</style></head><body>
<h1>Training run {{ run.run_id }}</h1>
<p>Feature service <b>{{ run.feature_service }}</b>;
{{ run.outcomes | length }} categories in {{ "%.0f" | format(run.seconds) }} s.
Rows: {% for name, n in run.rows.items() %}{{ name }} {{ "{:,}".format(n) }}{{ ", " if not loop.last }}{% endfor %}.</p>
<p>Cutoffs: train {{ split.train | join(", ") }}; validation (early stopping) {{ split.validation | join(", ") }};
test (metrics and promotion) {{ split.test | join(", ") }}{% if split.dropped %}; left out so that no label window
overlaps a later split: {{ split.dropped | join(", ") }}{% endif %}.</p>
<table><tr><th>category</th><th>version</th><th>stage</th>
{% for m in metrics %}<th>{{ m }}</th>{% endfor %}<th>note</th></tr>
{% for o in run.outcomes %}<tr>
<td><a href="#{{ o.category }}">{{ o.category }}</a></td>
{% if o.card %}<td class="num">v{{ o.card.version }}</td><td>{{ "production" if o.promoted else "candidate" }}</td>
{% for m in metrics %}<td class="num">{{ "%.4g" | format(o.card.metrics[m]) }}</td>{% endfor %}
{% else %}<td></td><td class="skipped">skipped</td>{% for m in metrics %}<td></td>{% endfor %}{% endif %}
<td{% if not o.card %} class="skipped"{% endif %}>{{ o.note }}</td></tr>
{% endfor %}</table>
{% for o in run.outcomes %}<section id="{{ o.category }}"><h2>{{ o.category }}</h2>
{% if o.card %}<p>Version v{{ o.card.version }}, {{ o.card.rounds }} boosting rounds, positive weight
{{ "%.2f" | format(o.card.positive_weight) }}. {{ o.note }}.</p>
<table>{% for name, value in o.card.metrics.items() %}
<tr><td>{{ name }}</td><td class="num">{{ "%.4g" | format(value) }}</td></tr>{% endfor %}</table>
<details><summary>Top features by total gain</summary><table>
{% for name, gain in o.card.top_features %}
<tr><td>{{ name }}</td><td class="num">{{ "%.4g" | format(gain) }}</td></tr>{% endfor %}
</table></details>
{% for name, data in images[o.category].items() %}
<img alt="{{ name }}" src="data:image/png;base64,{{ data }}">{% endfor %}
{% else %}<p class="skipped">Skipped: {{ o.note }}.</p>{% endif %}</section>
{% endfor %}</body></html>
""")


def write_report(run: TrainingRun, directory: Path) -> Path:
    """Write ``report.html`` for ``run`` into ``directory`` (created) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    images = {o.category: {k: base64.b64encode(v).decode() for k, v in o.plots.items()} for o in run.outcomes}
    html = _TEMPLATE.render(run=run, split=run.split.describe(), metrics=SUMMARY_METRICS, images=images)
    path = directory / "report.html"
    aside = directory / ".report.html.tmp"
    aside.write_text(html)
    aside.replace(path)
    return path
