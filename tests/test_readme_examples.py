"""The README's example of switching tasks between ``learn()`` calls runs as printed (with tiny budgets)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(after: str) -> str:
    """The first ```python block after the line that starts with ``after``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    return text[start:].split("```python\n", 1)[1].split("```", 1)[0]


def test_switching_tasks_between_learn_calls(tmp_path: Path) -> None:
    code = readme_block("Switching tasks between `learn()` calls")
    tiny = {
        "model.learn(30_000)": "model.learn(64)",
        "env, seed=0)": "env, seed=0, n_steps=16, batch_size=32)",
        "n_episodes=5": "n_episodes=1",
    }
    for old, new in tiny.items():
        assert old in code, f"the README example changed: update {old!r} here"
        code = code.replace(old, new)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"after task {k}" for k in range(3)], done.stdout
