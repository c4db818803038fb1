"""The notebooks as tests, beyond what nbval checks on its own.

nbval (configured in pyproject.toml) runs every notebook once, strictly. These
tests prove that configuration can fail, and that running a whole notebook
twice in one kernel, as a learner re-running cells does, is harmless.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def run_nbval(notebook: Path) -> subprocess.CompletedProcess[str]:
    """Run nbval on one notebook with the project's own pytest configuration."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(ROOT),
            "-p",
            "no:xdist",
            "-q",
            str(notebook),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def first_deterministic_output(nb: dict) -> dict:
    """The first stored stream output, a text that must reproduce exactly."""
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream" and output["name"] == "stdout":
                return output
    raise AssertionError("no stdout output stored")


def test_strict_nbval_fails_on_a_changed_stored_output(tmp_path: Path) -> None:
    """A stored output that no longer reproduces fails the run (strict mode, not lax)."""
    source = ROOT / "notebooks" / "01_echo.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    output = first_deterministic_output(nb)
    original = "".join(output["text"])
    output["text"] = [
        original.replace("bytes", "BYTES", 1) if "bytes" in original else original + "changed\n"
    ]
    changed = tmp_path / "01_echo_changed.ipynb"
    changed.write_text(json.dumps(nb), encoding="utf-8")

    result = run_nbval(changed)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout
    assert "BYTES" in result.stdout or "changed" in result.stdout


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_twice_in_one_kernel(notebook: Path) -> None:
    """Every cell finishes without error or stderr, top to bottom, and again."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(notebook.parent))
    problems: list[str] = []
    try:
        for run in (1, 2):
            for index, source in enumerate(cells, 1):

                def collect(msg: dict, where: str = f"run {run}, cell {index}") -> None:
                    kind, content = msg["msg_type"], msg["content"]
                    if kind == "error":
                        problems.append(f"{where}: {content['ename']}: {content['evalue']}")
                    elif kind == "stream" and content["name"] == "stderr":
                        problems.append(f"{where}: stderr: {content['text']}")

                reply = kc.execute_interactive(source, output_hook=collect, timeout=120)
                if reply["content"]["status"] != "ok":
                    problems.append(f"run {run}, cell {index}: status {reply['content']['status']}")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert problems == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_with_its_outputs(notebook: Path) -> None:
    """Strict nbval compares stored outputs: a notebook saved without them would test nothing."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    unexecuted = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert unexecuted == [], f"code cells stored without running: {unexecuted}"
    assert sum(1 for c in code if c["outputs"]) >= len(code) // 2
