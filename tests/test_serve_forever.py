"""Server.serve_forever(): a script serves until Ctrl-C or SIGTERM; a notebook is refused."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
import types

import pytest

import wsnb

SCRIPT = textwrap.dedent(
    """
    import asyncio, wsnb

    async def main():
        server = await wsnb.serve(wsnb.echo_with_prefix())
        print(server.url, flush=True)
        await server.serve_forever()
        print("stopped", server.state, flush=True)

    asyncio.run(main())
    """
)


async def run_script_until(sig: int) -> tuple[int, str, int | None]:
    """Start the script, talk to it, send ``sig``; return (exit code, output, client close code)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        url = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        async with wsnb.connect(url) as ws:
            await ws.send("hi")
            assert await ws.recv() == "Echo: hi"
            process.send_signal(sig)
            await asyncio.wait_for(ws.wait_closed(), 10)
            code = ws.close_code
        out, _ = await asyncio.wait_for(process.communicate(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), code


async def test_sigterm_stops_a_script_cleanly():
    """SIGTERM: clients get 1001, serve_forever returns, the script goes on and exits 0."""
    returncode, out, code = await run_script_until(signal.SIGTERM)
    assert (returncode, code) == (0, 1001)
    assert "stopped stopped" in out


async def test_ctrl_c_stops_a_script_with_1001_for_its_clients():
    """SIGINT (Ctrl-C): asyncio.run cancels main; the server still closes clients with 1001."""
    returncode, _, code = await run_script_until(signal.SIGINT)
    assert code == 1001
    assert returncode != 0  # KeyboardInterrupt, as any script interrupted by Ctrl-C


async def test_serve_forever_returns_when_the_server_is_stopped_elsewhere(echo_server):
    waiting = asyncio.create_task(echo_server.serve_forever())
    await asyncio.sleep(0.05)
    await echo_server.stop()
    await asyncio.wait_for(waiting, 5)


async def test_serve_forever_is_refused_in_a_notebook(echo_server, monkeypatch):
    """In a kernel, the cell would wait forever: a clear error instead, the server untouched."""
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    with pytest.raises(wsnb.WsnbError, match="already serves in the background"):
        await echo_server.serve_forever()
    assert echo_server.state == "serving"
