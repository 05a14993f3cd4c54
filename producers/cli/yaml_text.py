"""YAML for people: multi-line strings as block scalars (`|`), so long prompts stay editable.

PyYAML falls back to a quoted scalar by itself where a block scalar cannot hold the text
exactly (a `\\r`, trailing spaces on a line): the output always loads back to the same data.
"""

from __future__ import annotations

from typing import Any

import yaml


class _BlockDumper(yaml.SafeDumper):
    """A safe dumper that writes multi-line strings as literal block scalars."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _string)


def dump_yaml(data: Any) -> str:
    """`data` as YAML, keys in their order, Unicode as is, multi-line text as `|` blocks."""
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
