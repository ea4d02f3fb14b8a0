"""The offline store's mirror in tests: what the object store holds, what it must hold, and files replaced as
the builds replace them."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

from propensity.offline_mirror import MANIFEST


def remote_tree(uri: str) -> dict[str, bytes]:
    """Every object under ``uri`` and its bytes."""
    fs, root = pafs.FileSystem.from_uri(uri)
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return {
        info.path[len(root) + 1 :]: fs.open_input_stream(info.path).read()
        for info in found
        if info.type == pafs.FileType.File
    }


def published(uri: str) -> dict[str, bytes]:
    """The mirrored files under ``uri`` and their bytes (the manifest aside)."""
    return {name: data for name, data in remote_tree(uri).items() if name != MANIFEST}


def local_tree(offline: Path) -> dict[str, bytes]:
    """What the object store must hold for ``offline``: its files outside hidden ones."""
    return {
        path.relative_to(offline).as_posix(): path.read_bytes()
        for path in offline.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(offline).parts)
    }


def rewrite(path: Path, data: bytes) -> None:
    """Replace a file as the builds do: written aside, renamed over it."""
    aside = path.with_name(f".{path.name}.tmp")
    aside.write_bytes(data)
    aside.rename(path)
