"""The README's Python example runs as written (against a fresh database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loopwise import Loopwise

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README has a Python example"
    monkeypatch.setenv("LOOPWISE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOOPWISE_DATABASE_URL", raising=False)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    lw, routed = namespace["lw"], namespace["routed"]
    assert isinstance(lw, Loopwise)
    try:
        assert isinstance(routed, list)
        assert routed[0].predicted_label == "spam"
        assert lw.stats("sms").labels >= 300
        assert (tmp_path / "loopwise.db").exists()
    finally:
        lw.close()
