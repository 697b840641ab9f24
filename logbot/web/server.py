"""``logbot web``: the pages of :mod:`logbot.web.site` over twisted.web.

One leaf resource answers every path: it decodes the request, runs
:meth:`Archive.handle` in a thread pool (database reads never run on the reactor thread)
and writes the page with the security headers. Static files (CSS, JS) are served from the
package's ``static`` folder.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python import log
from twisted.python.failure import Failure
from twisted.web import resource, server

from logbot.web.common import Page, page_headers
from logbot.web.site import Archive

T = TypeVar("T")
Runner = Callable[[Callable[[], T]], "Deferred[T]"]

_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _static_files() -> dict[str, tuple[bytes, str]]:
    out = {}
    for item in resources.files("logbot.web").joinpath("static").iterdir():
        for ext, ctype in _STATIC_TYPES.items():
            if item.name.endswith(ext):
                out[item.name] = (item.read_bytes(), ctype)
    return out


class ArchiveResource(resource.Resource):
    """Every path of the site; ``run`` runs a blocking call off the reactor thread."""

    isLeaf = True

    def __init__(self, archive: Archive, run: Runner[Page]) -> None:
        resource.Resource.__init__(self)  # type: ignore[no-untyped-call]
        self.archive = archive
        self.run = run
        self.static = _static_files()

    def render_HEAD(self, request: Any) -> Any:
        return self.render_GET(request)

    def render_GET(self, request: Any) -> Any:
        try:
            segments = [s.decode("utf-8") for s in request.postpath]
            raw: dict[bytes, list[bytes]] = request.args or {}
            args = {k.decode("utf-8"): v[-1].decode("utf-8") for k, v in raw.items() if v}
        except UnicodeDecodeError:
            return self._write(request, self._plain(400, "The address is not valid UTF-8."))
        if len(segments) == 2 and segments[0] == "static":
            found = self.static.get(segments[1])
            if found is None:
                return self._write(request, self._plain(404, "There is no such file."))
            page = Page(found[0], found[1], cacheable=True)
            return self._write(request, page)
        headers = {
            name: value
            for name in ("if-none-match", "if-modified-since")
            if (value := _header(request, name)) is not None
        }
        d = self.run(lambda: self.archive.handle(segments, args, headers))

        def failed(failure: Failure) -> Page:
            log.err(failure, "logbot web: a page failed")  # type: ignore[no-untyped-call]
            return self._plain(500, "Something went wrong on the server.")

        d.addErrback(failed)
        d.addCallback(lambda page: self._finish(request, page))
        return server.NOT_DONE_YET

    def _plain(self, status: int, message: str) -> Page:
        return Page((message + "\n").encode(), "text/plain; charset=utf-8", status)

    def _finish(self, request: Any, page: Page) -> None:
        if getattr(request, "_disconnected", False):
            return
        request.write(self._write(request, page))
        request.finish()

    def _write(self, request: Any, page: Page) -> bytes:
        request.setResponseCode(page.status)
        for name, value in page_headers(page).items():
            request.setHeader(name, value)
        if page.status == 304:
            return b""
        request.setHeader("Content-Length", str(len(page.body)))
        return b"" if request.method == b"HEAD" else page.body


def _header(request: Any, name: str) -> str | None:
    value: bytes | str | None = request.getHeader(name)
    if value is None:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else value


__all__ = ["ArchiveResource", "Runner"]
