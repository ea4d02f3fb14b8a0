"""What the offline store published, so a reader notices a month or file that went missing.

Each month a build commits holds ``_manifest.json`` listing its data files, staged with them and renamed into
place in the same rename; each view's dataset holds ``_manifest.json`` listing its published months, updated after
every commit. Checking costs a directory listing per month, no file is read. Readers skip both files: they glob
``*.parquet``, and Arrow datasets ignore names starting with ``_``.
"""

from __future__ import annotations

import json
from pathlib import Path

from propensity.storage import DamagedFileError, atomic_file

MANIFEST = "_manifest.json"


class MissingDataError(DamagedFileError):
    """A month or file that the offline store published is gone."""


def record_month(month_dir: Path) -> None:
    """List the data files of a staged month in its manifest (committed with the month)."""
    files = sorted(p.name for p in month_dir.glob("*.parquet"))
    (month_dir / MANIFEST).write_text(json.dumps({"files": files}) + "\n")


def record_months(view_dir: Path, months: list[str]) -> None:
    """Add ``months``, just committed, to the view's list of published months."""
    published = sorted(set(_read(view_dir / MANIFEST, "months")) | set(months))
    with atomic_file(view_dir / MANIFEST) as sink:
        sink.write((json.dumps({"months": published}) + "\n").encode())


def check_published(view_dir: Path, *, fix: str) -> None:
    """Refuse a view whose published months or files are missing, naming the view, the months and ``fix``."""
    gone: list[str] = []
    for month in _read(view_dir / MANIFEST, "months"):
        month_dir = view_dir / month
        if not month_dir.is_dir():
            gone.append(f"month {month}")
            continue
        present = {p.name for p in month_dir.iterdir()}
        lost = [name for name in _read(month_dir / MANIFEST, "files") if name not in present]
        if lost:
            gone.append(f"{len(lost)} file(s) of month {month} ({', '.join(lost[:3])})")
    if gone:
        raise MissingDataError(
            f"offline view {view_dir.name!r} in {view_dir.parent} is missing {'; '.join(gone)}: {fix}"
        )


def _read(path: Path, key: str) -> list[str]:
    """The list ``key`` of a manifest; empty when there is none (data written before manifests existed)."""
    try:
        return json.loads(path.read_text())[key]
    except FileNotFoundError:
        return []
