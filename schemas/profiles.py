"""How the environment names connection profiles: a rule producers and workers share.

`OPENAI_<NAME>_API_KEY` defines profile `<name>` (lower case); `OPENAI_API_KEY` alone defines
`default`. Only the worker reads a key's value; producers need the names alone, to refuse a
job or a registry write for a profile no worker could serve.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from dotenv import dotenv_values

PROFILE_KEY = re.compile(r"^OPENAI_(?:(?P<name>[A-Z0-9][A-Z0-9_]*?)_)?API_KEY$")
# `default`'s settings are `OPENAI_BASE_URL` and so on: this spelling would define it with
# its `OPENAI_DEFAULT_*` settings silently ignored, so it defines nothing and is refused.
RESERVED_KEY = "OPENAI_DEFAULT_API_KEY"


def env_prefix(name: str) -> str:
    """`OPENAI_SRC_` for profile `src`, `OPENAI_` for `default`."""
    return "OPENAI_" if name == "default" else f"OPENAI_{name.upper()}_"


def environment(env_file: str | Path | None = ".env") -> dict[str, str]:
    """The process environment over `env_file`, as pydantic-settings layers them."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return {key.upper(): value for key, value in merged.items()}


def defined_profiles(variables: Iterable[str]) -> dict[str, str]:
    """Profile name → the variable that defines it, for every `…API_KEY` among `variables`."""
    found: dict[str, str] = {}
    for variable in variables:
        if variable.upper() == RESERVED_KEY:
            continue
        if match := PROFILE_KEY.match(variable.upper()):
            found[match["name"].lower() if match["name"] else "default"] = variable.upper()
    return found


def unknown_profile(name: str, defined: Iterable[str]) -> str:
    """The error for a profile nobody defined: which variable would define it."""
    known = ", ".join(sorted(defined)) or "none"
    return (
        f"unknown connection profile {name!r}: set {env_prefix(name)}API_KEY to define it "
        f"(profiles defined now: {known})"
    )
