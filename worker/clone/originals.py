"""A directory of original files (`--originals DIR`): where a clone finds bytes OpenAI keeps.

A source file matches an original by name and size, or by its id in seed 004's
`gpt_id.json` (path → file id, the cache teams kept next to their files). Candidates are
hashed: several files sharing a name and size but not their bytes are ambiguous, and none of
them is used.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from worker.blobs.base import Hasher, read_path

MANIFEST = "gpt_id.json"


class OriginalsError(ValueError):
    """The originals directory or its manifest is unusable; the message says why."""


@dataclass(frozen=True)
class OriginalMatch:
    """An original that carries a source file's bytes (its hash already checked)."""

    path: Path
    sha256: str


@dataclass(frozen=True)
class NoMatch:
    """Why no original carries a file's bytes."""

    reason: str


class OriginalsDirectory:
    """The files under `root`, indexed by (name, size) and by the manifest's file ids."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise OriginalsError(f"--originals {root}: no such directory")
        self.root = root
        self._by_name_size: dict[tuple[str, int], list[Path]] | None = None
        self._by_file_id: dict[str, Path] = {}

    async def match(self, file_id: str, filename: str, size: int) -> OriginalMatch | NoMatch:
        """The original holding these bytes, or why there is none."""
        if self._by_name_size is None:
            await asyncio.to_thread(self._index)
        assert self._by_name_size is not None
        named = self._by_file_id.get(file_id)
        if named is not None:
            if named.stat().st_size != size:
                return NoMatch(
                    f"{MANIFEST} maps {file_id} to {named}, which is {named.stat().st_size} "
                    f"bytes, not {size}"
                )
            return OriginalMatch(named, await _sha256(named))
        candidates = self._by_name_size.get((filename, size), [])
        if not candidates:
            return NoMatch(f"no file named {filename!r} of {size} bytes under {self.root}")
        hashes = {path: await _sha256(path) for path in candidates}
        if len(set(hashes.values())) > 1:
            listed = ", ".join(str(p.relative_to(self.root)) for p in candidates)
            return NoMatch(
                f"{len(candidates)} files named {filename!r} of {size} bytes differ ({listed}): "
                f"keep one, or name the right one for {file_id} in {MANIFEST}"
            )
        return OriginalMatch(candidates[0], hashes[candidates[0]])

    async def named(self, file_id: str) -> Path | None:
        """The path `gpt_id.json` maps to `file_id`, or None."""
        if self._by_name_size is None:
            await asyncio.to_thread(self._index)
        return self._by_file_id.get(file_id)

    def _index(self) -> None:
        by_name_size: dict[tuple[str, int], list[Path]] = defaultdict(list)
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and path.name != MANIFEST:
                by_name_size[(path.name, path.stat().st_size)].append(path)
        manifest = self.root / MANIFEST
        if manifest.is_file():
            self._by_file_id = self._read_manifest(manifest)
        self._by_name_size = dict(by_name_size)

    def _read_manifest(self, manifest: Path) -> dict[str, Path]:
        try:
            entries = json.loads(manifest.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise OriginalsError(f"{manifest}: not JSON ({error}); fix or delete it") from None
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
        ):
            raise OriginalsError(
                f"{manifest}: expected an object of path → file id strings; fix or delete it"
            )
        by_id: dict[str, Path] = {}
        for relative, file_id in entries.items():
            path = (self.root / relative).resolve()
            if path.is_file() and path.is_relative_to(self.root.resolve()):
                by_id[file_id] = path
        return by_id


async def _sha256(path: Path) -> str:
    hasher = Hasher()
    async for piece in read_path(path):
        hasher.update(piece)
    return hasher.ref().sha256
