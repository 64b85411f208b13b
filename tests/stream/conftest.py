"""A real HTTP server on loopback (aiohttp; its static file handler honours Range with 206),
and one that ignores Range (answers 200 with the whole file), started and stopped per module."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from aiohttp import web


class LoopbackServer:
    """aiohttp serving ``root`` on 127.0.0.1 in a thread of its own; ``log`` records
    (method, path, Range header, status, body bytes) of every request."""

    def __init__(self, root: Path, honour_range: bool = True):
        self.root, self.honour_range = Path(root), honour_range
        self.log: list = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _app(self) -> web.Application:
        async def record(request, response):     # after the handler chose status and length
            size = response.content_length if response.content_length is not None else -1
            self.log.append((request.method, request.path, request.headers.get("Range"), response.status, size))

        app = web.Application()
        app.on_response_prepare.append(record)
        if self.honour_range:
            async def liar(request):                  # 206, but always the first 16 bytes
                data = (self.root / request.match_info["name"]).read_bytes()
                return web.Response(status=206, body=data[:16], headers={
                    "Content-Range": f"bytes 0-15/{len(data)}", "Content-Type": "application/octet-stream"})
            app.router.add_get("/liar/{name}", liar)
            app.router.add_static("/", self.root)
        else:
            async def whole(request):
                path = (self.root / request.match_info["name"]).resolve()
                if self.root.resolve() not in path.parents or not path.is_file():
                    raise web.HTTPNotFound()
                return web.Response(body=path.read_bytes(), content_type="application/octet-stream")
            app.router.add_get("/{name}", whole)
        return app

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self._app(), access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> "LoopbackServer":
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("loopback server did not start")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def bytes_sent(self) -> int:
        return sum(max(0, r[4]) for r in self.log)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    srv = LoopbackServer(root).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def served_no_range(tmp_path_factory):
    root = tmp_path_factory.mktemp("www_norange")
    srv = LoopbackServer(root, honour_range=False).start()
    yield srv
    srv.stop()
