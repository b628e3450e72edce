"""Writing landing files from an importer: atomically, and not at all when the bytes are already there.

Why "not at all": the loader skips a file it has loaded with the same checksum, but a rewritten
file changes its modification time and makes every later run look at it again; an import of the
same export must leave the landing folder exactly as it was.
"""

from __future__ import annotations

from pathlib import Path


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (temp file + rename); False when the file already holds exactly these bytes."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")  # hidden: the loader never reads a half-written file
    tmp.write_bytes(data)
    tmp.replace(path)
    return True
