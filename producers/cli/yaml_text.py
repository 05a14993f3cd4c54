"""YAML for people: multi-line strings as block scalars (`|`), so long prompts stay editable.

PyYAML refuses block scalars for text with tabs, which prompts are full of, although YAML
allows tabs inside a block scalar's content; the dumper here lets tabs through. Where a block
scalar cannot hold a text exactly (a `\\r`, trailing spaces on a line) PyYAML falls back to a
quoted scalar, and the output is checked to load back to the same data: if it did not, the
plain safe dump is used instead.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.emitter import ScalarAnalysis


class _BlockDumper(yaml.SafeDumper):
    """A safe dumper that writes multi-line strings as literal block scalars."""

    def analyze_scalar(self, scalar: str) -> ScalarAnalysis:
        if "\n" not in scalar or "\t" not in scalar:
            return super().analyze_scalar(scalar)
        # Judge the text as if its tabs were letters; the emitter then writes them as they are.
        analysis = super().analyze_scalar(scalar.replace("\t", "x"))
        analysis.scalar = scalar
        return analysis


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _pair(dumper: yaml.SafeDumper, value: tuple[Any, ...]) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_BlockDumper.add_representer(str, _string)
# Tuples (offsets, spans) print on one line: `span: [24, 99]`.
_BlockDumper.add_representer(tuple, _pair)


def dump_yaml(data: Any) -> str:
    """`data` as YAML, keys in their order, Unicode as is, multi-line text as `|` blocks."""
    text = yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
    if yaml.safe_load(text) != yaml.safe_load(
        yaml.safe_dump(data)
    ):  # a text no block scalar holds exactly: play safe
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return text
