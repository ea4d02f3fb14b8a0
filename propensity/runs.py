"""Run ids: the UTC time a run started, to the second, and a short random suffix (``20261202T101500-1a2b3c``).
They name the runs of training, scoring and the pipeline, and their reports."""

from __future__ import annotations

import uuid
from datetime import datetime


def new_run_id(started: datetime) -> str:
    """The id of a run that started at ``started``: sorts by start time, unique among runs of the same second."""
    return f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
