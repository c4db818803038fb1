"""A real JupyterLab for tests: started from the test's venv on a free port, driven in Chromium.

Used by tests/test_jupyterlab.py. :func:`start_lab` runs ``python -m
jupyterlab`` with every Jupyter directory in a temporary folder (no user
settings, no workspace, nothing written to the home folder), waits until it
answers, and :meth:`Lab.stop` ends it. :class:`NotebookPage` runs cells by
index through JupyterLab's own commands (``expose_app_in_browser``) and reads
their outputs from the page, as a user sees them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from helpers import free_port
from playwright.async_api import Browser, Page

#: How long JupyterLab may take to answer, and a notebook to open (a busy 2-core machine).
START_TIMEOUT = 60.0


@dataclass
class Lab:
    """A running JupyterLab serving ``root``."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    root: Path
    log: Path

    def url(self, notebook: str) -> str:
        """The notebook alone in a fresh workspace (``reset``: no tab of an earlier test)."""
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?reset&token={self.token}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_lab(folder: Path, notebooks: dict[str, Path]) -> Lab:
    """JupyterLab on a free port of 127.0.0.1, serving copies of ``notebooks`` (name -> file)."""
    root = folder / "root"
    root.mkdir()
    for name, source in notebooks.items():
        shutil.copy(source, root / name)
    env = dict(os.environ)
    for variable, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ]:
        env[variable] = str(folder / sub)
    env.pop("JUPYTER_PATH", None)
    port, token = free_port(), secrets.token_hex(16)
    log = folder / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run cells by command
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    lab = Lab(process, port, token, root, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}: {log.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return lab
        except OSError:
            if time.monotonic() > deadline:
                lab.stop()
                raise RuntimeError(f"JupyterLab did not answer: {log.read_text()}") from None
            time.sleep(0.2)


#: The notebook panel under test, kept by :meth:`NotebookPage.open` (the shell's current
#: widget changes with focus and is briefly undefined while JupyterLab restores its layout).
_NOTEBOOK = "window.wsnbNotebook"


class NotebookPage:
    """One notebook open in JupyterLab, in a Chromium page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        """Uncaught JavaScript exceptions in the page."""
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    @classmethod
    async def open(cls, browser: Browser, lab: Lab, notebook: str) -> NotebookPage:
        """Open ``notebook`` and wait until its kernel is idle."""
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        opened = cls(page)
        await page.goto(lab.url(notebook))
        await page.wait_for_function(
            f"""() => {{ const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                const session = nb && nb.context && nb.context.path === {notebook!r}
                    && nb.sessionContext && nb.sessionContext.session;
                if (!(session && session.kernel && session.kernel.status === "idle")) return false;
                {_NOTEBOOK} = nb;
                return true; }}""",
            timeout=START_TIMEOUT * 1000,
        )
        return opened

    async def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no cell is running or queued."""
        await self.page.wait_for_function(
            f"""() => {{ const nb = {_NOTEBOOK};
                const busy = nb.content.widgets.some(cell => cell.model.type === "code"
                    && cell.node.querySelector(".jp-InputPrompt").textContent.includes("*"));
                return !busy && nb.sessionContext.session.kernel.status === "idle"; }}""",
            timeout=timeout * 1000,
        )

    async def run_cell(self, index: int, timeout: float = 60.0) -> str:
        """Run the cell at ``index`` (0-based, markdown counted), wait, return its output text."""
        await self.page.evaluate(
            f"""async index => {{ const nb = {_NOTEBOOK};
                nb.content.activeCellIndex = index;
                await window.jupyterapp.commands.execute("notebook:run-cell"); }}""",
            index,
        )
        await self.wait_idle(timeout)
        return await self.output(index)

    async def run_all(self, timeout: float = 90.0) -> None:
        await self.page.evaluate(
            'async () => { await window.jupyterapp.commands.execute("notebook:run-all-cells"); }'
        )
        await self.page.wait_for_timeout(200)
        await self.wait_idle(timeout)

    async def output(self, index: int) -> str:
        """The text of the cell's output area (textContent: innerText is empty off screen)."""
        text: str = await self.page.evaluate(
            f"""index => {{ const cell = {_NOTEBOOK}.content.widgets[index];
                const area = cell.node.querySelector(".jp-OutputArea");
                return area ? area.textContent : ""; }}""",
            index,
        )
        return text

    async def cell_count(self) -> int:
        count: int = await self.page.evaluate(f"{_NOTEBOOK}.content.widgets.length")
        return count

    async def error_outputs(self) -> list[str]:
        """Tracebacks and stderr shown in the notebook's outputs."""
        texts: list[str] = await self.page.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        ).all_text_contents()
        return texts
