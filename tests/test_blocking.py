"""wsnb.run: coroutines from synchronous code, in scripts and inside running loops.

nest-asyncio2 patches asyncio for the whole process, so everything that may
trigger it runs in a subprocess or a kernel, never in the test process.
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable

import pytest
from helpers import ROOT, run_script
from jupyter_client.manager import start_new_kernel


def test_run_without_a_loop_returns_the_result():
    """In a script with no running loop, wsnb.run(coro) is asyncio.run(coro)."""
    result = run_script(
        """
        import asyncio, sys
        import wsnb

        async def add(a, b):
            await asyncio.sleep(0)
            return a + b

        print(wsnb.run(add(1, 2)))
        with wsnb.serve_in_thread(wsnb.echo) as server:
            print(wsnb.run(wsnb.exchange(server, ["hi"])))
        print("patched:", "nest_asyncio2" in sys.modules)
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "3\n['hi']\npatched: False\n"


def test_run_from_sync_function_inside_running_loop():
    """A sync function called inside a running loop can wsnb.run() an exchange with its server."""
    result = run_script(
        """
        import asyncio
        import wsnb

        def fetch(server):                      # synchronous, cannot await
            return wsnb.run(wsnb.exchange(server, ["hi"]))

        def fail():
            async def boom():
                raise ValueError("from the coroutine")
            return wsnb.run(boom())

        async def main():
            server = await wsnb.serve(wsnb.echo)
            print(fetch(server))
            print(fetch(server))                # a second nested run works too
            try:
                fail()
            except ValueError as exc:
                print("raised:", exc)
            print(await wsnb.exchange(server, ["after"]))
            await server.stop()

        asyncio.run(main())
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "['hi']\n['hi']\nraised: from the coroutine\n['after']\n"


def test_import_does_not_patch_asyncio():
    """Merely importing wsnb leaves asyncio alone: nesting stays refused until wsnb.run needs it."""
    result = run_script(
        """
        import asyncio, sys
        original_run = asyncio.run
        original_run_until_complete = asyncio.BaseEventLoop.run_until_complete

        import wsnb

        assert asyncio.run is original_run
        assert asyncio.BaseEventLoop.run_until_complete is original_run_until_complete
        assert "nest_asyncio2" not in sys.modules

        async def main():
            coro = asyncio.sleep(0)
            try:
                asyncio.run(coro)
            except RuntimeError as exc:
                print("still refused:", "running event loop" in str(exc))
            finally:
                coro.close()

        asyncio.run(main())
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "still refused: True\n"


# The Jupyter case: a real kernel, with a cell queued behind the one that nests


def _poll(get: Callable[..., dict], timeout: float) -> dict | None:
    try:
        return get(timeout=timeout)
    except queue.Empty:
        return None


def _record_iopub(runs: dict[str, dict], idle: set[str], msg: dict) -> None:
    run = runs.get(msg["parent_header"].get("msg_id"))
    if run is None:
        return
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        run[content["name"]] += content["text"]
    elif kind == "error":
        run["errors"].append(f"{content['ename']}: {content['evalue']}")
    elif kind == "status" and content["execution_state"] == "idle":
        idle.add(msg["parent_header"]["msg_id"])


def _execute_and_collect(kc, cells: list[str], deadline: float) -> dict[str, dict]:
    """Send every cell at once, then gather each one's reply, stdout, stderr and errors."""
    runs = {
        kc.execute(code): {"stdout": "", "stderr": "", "errors": [], "reply": None}
        for code in cells
    }
    idle: set[str] = set()
    while len(idle) < len(runs) or any(r["reply"] is None for r in runs.values()):
        if time.monotonic() > deadline:
            raise AssertionError(f"kernel did not finish in time: {runs}")
        if (msg := _poll(kc.get_iopub_msg, 0.2)) is not None:
            _record_iopub(runs, idle, msg)
        msg = _poll(kc.get_shell_msg, 0.05)
        if msg is not None and msg["msg_type"] == "execute_reply":
            run = runs.get(msg["parent_header"].get("msg_id"))
            if run is not None:
                run["reply"] = msg["content"]
    return runs


@pytest.mark.timeout(60)
def test_run_in_a_kernel_with_a_queued_cell():
    """In Jupyter, wsnb.run in a cell works even while the next cell is already queued."""
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT), startup_timeout=40)
    try:
        deadline = time.monotonic() + 45
        [setup] = _execute_and_collect(
            kc,
            [
                "import asyncio, sys, wsnb\n"
                "print(sys.executable)\n"
                "server = await wsnb.serve(wsnb.echo)",
            ],
            deadline,
        ).values()
        assert setup["reply"]["status"] == "ok", setup
        assert setup["stdout"].strip() == sys.executable  # the kernel runs this venv's Python

        nested, queued = _execute_and_collect(
            kc,
            [
                "wsnb.run(asyncio.sleep(1)); print(wsnb.run(wsnb.exchange(server, ['hi'])))",
                "print('queued cell ran')",
            ],
            deadline,
        ).values()

        for run in (nested, queued):
            assert run["reply"]["status"] == "ok", run
            assert run["errors"] == [], run
            assert "cannot enter context" not in run["stderr"], run
            assert run["stderr"] == "", run
        assert nested["stdout"] == "['hi']\n"
        assert queued["stdout"] == "queued cell ran\n"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
