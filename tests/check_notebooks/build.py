"""Write the fixture notebooks of tests/test_check*.py: one per shape ``wsnb check`` reports.

Each notebook is what a user would have: code and the outputs stored from
a run in Jupyter (written here by hand, so that the tests own them). Run
``python tests/check_notebooks/build.py`` after changing one.

The folders: ``failing/`` holds one notebook per failure shape, all checked
in one run; ``passing/`` holds notebooks that must pass; ``store/`` holds
notebooks for ``--store``; ``sanitize/`` needs the user's rules beside it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import v4

HERE = Path(__file__).parent
#: Where notebook() writes: this folder, or another one (tests compare the two).
TARGET = {"root": HERE}


def out(text: str, name: str = "stdout") -> dict:
    return v4.new_output("stream", name=name, text=text)


def result(text: str, count: int) -> dict:
    return v4.new_output("execute_result", data={"text/plain": text}, execution_count=count)


def notebook(path: str, *cells: tuple[str, str, list] | str) -> None:
    """Cells are markdown strings or ``("code", source, outputs)``; counts run 1, 2, ..."""
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    count = 0
    for cell in cells:
        if isinstance(cell, str):
            nb.cells.append(v4.new_markdown_cell(cell))
            continue
        _, source, outputs = cell
        count += 1
        nb.cells.append(v4.new_code_cell(source, execution_count=count, outputs=outputs))
    for n, made in enumerate(nb.cells):
        made.id = f"cell-{n + 1}"  # not random: build.py writes the same bytes every time
    target = TARGET["root"] / path
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))


def failing() -> None:
    notebook(
        "failing/hang_on_await.ipynb",
        "# A client waits for a message the server never sends",
        (
            "code",
            "import wsnb\n\nasync def silent(ws):\n    await ws.wait_closed()\n\n"
            "server = await wsnb.serve(silent)",
            [],
        ),
        "The server never sends, so this cell waits forever:",
        ("code", "async with wsnb.connect(server) as ws:\n    message = await ws.recv()", []),
        ("code", 'print("after the hang")', [out("after the hang\n")]),
        ("code", "await wsnb.stop_all()", [result("1", 4)]),
    )
    notebook(
        "failing/thread_dies.ipynb",
        "# A server in a thread, on websockets' legacy API",
        (
            "code",
            "import threading\nimport warnings\n\n"
            "warnings.simplefilter('ignore', DeprecationWarning)\n"
            "from websockets.legacy.server import serve\n\n"
            "async def echo(ws, path=None):\n    async for message in ws:\n"
            "        await ws.send(message)\n\n"
            "def run_server():\n"
            "    server = serve(echo, '127.0.0.1', 0)  # needs a loop in this thread\n\n"
            "thread = threading.Thread(target=run_server, daemon=True)\nthread.start()",
            [],
        ),
        (
            "code",
            'print("the server is running, or so it seems")',
            [out("the server is running, or so it seems\n")],
        ),
    )
    notebook(
        "failing/task_raises.ipynb",
        "# A polling task that fails while the notebook holds it",
        (
            "code",
            "import asyncio\n\nprices = []\n\nasync def poll():\n    for n in range(3):\n"
            "        await asyncio.sleep(0.01)\n        prices.append(100 + n)\n"
            '    raise ConnectionError("the feed went away")\n\n'
            "poller = asyncio.create_task(poll())",
            [],
        ),
        ("code", "await asyncio.sleep(0.2)\nprint(prices)", [out("[100, 101, 102]\n")]),
    )
    notebook(
        "failing/handler_raises.ipynb",
        "# A connection handler that raises",
        (
            "code",
            "import asyncio\nimport json\nimport wsnb\n\nasync def prices(ws):\n"
            "    async for message in ws:\n        request = json.loads(message)\n"
            '        await ws.send(json.dumps({"symbol": request["symbol"], "price": 101.5}))\n\n'
            "server = await wsnb.serve(prices)",
            [],
        ),
        (
            "code",
            "async with wsnb.connect(server) as ws:\n"
            '    await ws.send(json.dumps({"ticker": "ACME"}))  # the handler wants "symbol"\n'
            "    try:\n        print(await asyncio.wait_for(ws.recv(), 2))\n"
            "    except Exception as exc:\n        print(type(exc).__name__)",
            [out("ConnectionClosedError\n")],
        ),
        ("code", "await wsnb.stop_all()", [result("1", 3)]),
    )
    notebook(
        "failing/asyncio_run.ipynb",
        "# A client from a script, pasted into a cell",
        (
            "code",
            "import asyncio\nimport wsnb\n\nasync def main():\n"
            "    server = await wsnb.serve(wsnb.echo)\n"
            '    print(await wsnb.exchange(server, ["hi"]))\n    await server.stop()\n\n'
            "asyncio.run(main())",
            [out("['hi']\n")],
        ),
    )
    notebook(
        "failing/leaked_server.ipynb",
        "# Two servers, never stopped",
        (
            "code",
            "import wsnb\nfrom websockets.asyncio.server import serve\n\n"
            'server = await wsnb.serve(wsnb.echo, name="echo")\n'
            'raw = await serve(wsnb.echo, "127.0.0.1", 0)\nprint("two servers")',
            [out("two servers\n")],
        ),
    )
    notebook(
        "failing/course_notes.ipynb",
        "# Course notes: a helper module, then a server that serves forever",
        ("code", "from course_helpers import banner", []),
        (
            "code",
            "from websockets.asyncio.server import serve\n\nasync def echo(ws):\n"
            "    async for message in ws:\n        await ws.send(message)\n\n"
            'async with serve(echo, "127.0.0.1", 0) as server:\n    await server.serve_forever()',
            [],
        ),
        ("code", 'print("never reached")', [out("never reached\n")]),
    )
    notebook(
        "failing/blocking_client.ipynb",
        "# The blocking client against a server on the kernel's own loop",
        ("code", "import wsnb\n\nserver = await wsnb.serve(wsnb.echo)", []),
        (
            "code",
            "from websockets.sync.client import connect\n\n"
            "with connect(server.url, open_timeout=None) as ws:  # waits for the loop: forever\n"
            "    ws.send('hi')",
            [],
        ),
        ("code", "await wsnb.stop_all()", [result("1", 3)]),
    )
    notebook(
        "failing/kernel_dies.ipynb",
        "# A cell that takes the kernel down",
        ("code", "import os\n\nos._exit(3)", []),
        ("code", "print('after')", [out("after\n")]),
    )
    notebook(
        "failing/stderr_appears.ipynb",
        "# A cell whose stderr was not stored",
        (
            "code",
            "import sys\n\nprint('ready')\nprint('careful: using a fixed port', file=sys.stderr)",
            [out("ready\n")],
        ),
    )


def passing() -> None:
    notebook(
        "passing/random_values.ipynb",
        "# Values that differ on every run, which the shipped rules sanitize",
        (
            "code",
            "import datetime\nimport time\nimport wsnb\n\nserver = await wsnb.serve(wsnb.echo)\n"
            "print(server.port)\nprint(server.url)\nprint(('127.0.0.1', server.port))\nserver.port",
            [out("51344\nws://127.0.0.1:51344\n('127.0.0.1', 51344)\n"), result("51344", 1)],
        ),
        (
            "code",
            "print(time.time())\nprint(datetime.datetime.now())\ndatetime.datetime.now()",
            [
                out("1764748205.4183521\n2026-12-03 06:10:05.418411\n"),
                result("datetime.datetime(2026, 12, 3, 6, 10, 5, 418437)", 2),
            ],
        ),
        (
            "code",
            "start = time.perf_counter()\nawait wsnb.exchange(server, ['x'])\n"
            "print(f'round trip in {time.perf_counter() - start:.4f} s')\n"
            "print(f'took {time.perf_counter() - start:.3f}s')",
            [out("round trip in 0.0021 s\ntook 0.002s\n")],
        ),
        (
            "code",
            "import warnings\nimport websockets\n\nwith warnings.catch_warnings():\n"
            "    warnings.simplefilter('always')\n"
            "    warnings.warn_explicit('an old API', DeprecationWarning, websockets.__file__, 0)",
            [
                out(
                    "/home/someone/.venv/lib/python3.12/site-packages/websockets/__init__.py:0: "
                    "DeprecationWarning: an old API\n",
                    "stderr",
                )
            ],
        ),
        ("code", "await wsnb.stop_all()", [result("1", 5)]),
    )


def markers() -> None:
    notebook(
        "passing/markers.ipynb",
        "# nbval's markers, as users write them",
        (
            "code",
            "# NBVAL_RAISES_EXCEPTION\nraise ValueError('taught on purpose')",
            [v4.new_output("error", ename="ValueError", evalue="taught on purpose", traceback=[])],
        ),
        (
            "code",
            "# NBVAL_IGNORE_OUTPUT\nimport random\n\nprint(random.random())",
            [out("0.123\n")],
        ),
        ("code", "# NBVAL_SKIP\nwhile True:\n    pass", []),
        ("code", "print('the skipped cell did not run')", [out("the skipped cell did not run\n")]),
    )


def store() -> None:
    notebook(
        "store/error_cell.ipynb",
        "# A notebook whose second cell raises",
        ("code", "import wsnb\n\nserver = await wsnb.serve(wsnb.echo)\nprint(server.url)", []),
        ("code", "1 / 0", []),
        ("code", "print(await wsnb.exchange(server, ['after']))", []),
        ("code", "await wsnb.stop_all()", []),
    )


def sanitize() -> None:
    notebook(
        "sanitize/token.ipynb",
        "# A session token: random, and only the user knows its shape",
        (
            "code",
            "import secrets\n\nprint('token:', secrets.token_hex(8))",
            [out("token: 5f2a9c0d4e1b7a36\n")],
        ),
    )
    (TARGET["root"] / "sanitize" / "tokens.cfg").write_text(
        "# The user's own rule, applied after wsnb's\n[tokens]\nregex: token: [0-9a-f]{16}\n"
        "replace: token: TOKEN\n",
        encoding="utf-8",
    )


def build(root: Path = HERE) -> None:
    """Write every fixture under ``root``."""
    TARGET["root"] = root
    for make in (failing, passing, markers, store, sanitize):
        make()


if __name__ == "__main__":
    build()
