"""docs/configuration.md stays in step with the schema."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from pywats_actors.config import NodeConfig
from pywats_actors.config._decode import ConfigDecoder

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def _sections() -> dict[str, type[msgspec.Struct]]:
    hints = {f.name: f.type for f in msgspec.structs.fields(NodeConfig)}
    sections: dict[str, type[msgspec.Struct]] = {}
    for name, annotation in hints.items():
        if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
            sections[name] = annotation
    sections["watch"] = hints["watch"].__args__[0]
    sections["schedule"] = hints["schedule"].__args__[0]
    return sections


class TestConfigurationDoc:
    def test_every_key_has_a_reference_row(self) -> None:
        """Each section's table in the reference lists exactly the schema's keys."""
        text = DOC.read_text()
        for name, cls in _sections().items():
            heading = re.search(rf"^### `\[{{1,2}}{name}\]{{1,2}}`.*$", text, re.MULTILINE)
            assert heading, f"no reference section for [{name}]"
            body = text[heading.end() :].split("\n### ", 1)[0].split("\n## ", 1)[0]
            documented = re.findall(r"^\| `(\w+)` \|", body, re.MULTILINE)
            assert documented == [f.encode_name for f in msgspec.structs.fields(cls)], name

    def test_complete_example_uses_every_key_and_decodes(self) -> None:
        """The complete example sets every key and is accepted by the schema."""
        text = DOC.read_text()
        example = text.split("## A complete example", 1)[1].split("```toml\n", 1)[1]
        example = example.split("```", 1)[0]
        decoder = ConfigDecoder()
        values, syntax = decoder.parse(example.encode())
        assert syntax is None
        assert values is not None
        assert isinstance(decoder.convert(values), NodeConfig)
        for name, cls in _sections().items():
            table = values[name][0] if name in ("watch", "schedule") else values[name]
            assert set(table) == {f.encode_name for f in msgspec.structs.fields(cls)}, name
