"""The one progress protocol: long work reports ``progress(done, total)`` as it goes."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called with the units of work done so far and the total."""

    def __call__(self, done: int, total: int) -> None: ...
