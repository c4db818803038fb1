"""The GitHub Actions workflow cannot run here: it is validated and read instead.

check-jsonschema validates it against GitHub's workflow schema (vendored in
the package, so offline); the tests then check that it runs what the
project's own CI runs and what the README tells users to run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "test.yml"


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def load() -> dict:
    workflow: dict = YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))
    return workflow


def test_the_workflow_is_valid_for_github() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_runs_lint_then_make_test_on_supported_pythons() -> None:
    job = load()["jobs"]["test"]
    assert runs(job)[-2:] == ["make lint", "make test"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    oldest = project["requires-python"].removeprefix(">=")
    assert oldest in job["strategy"]["matrix"]["python-version"]


def test_the_readme_shows_the_notebook_job_as_it_is() -> None:
    """Every command of the workflow's notebook job is in the README's CI snippet."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```yaml\n(.*?)```", readme, re.DOTALL)
    assert snippet is not None, "no yaml snippet in the README"
    for command in runs(load()["jobs"]["notebooks"]):
        assert f"- run: {command}" in snippet.group(1)


def test_the_check_extra_holds_what_check_needs() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    names = {re.split(r"[<>=\[ ]", req)[0] for req in extras["check"]}
    assert names == {"pytest", "nbval", "pytest-xdist"}
