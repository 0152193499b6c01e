"""The web app's routes (FastAPI): the page, the models and sliders it offers, a transfer, a
synthesizer render, and the results' files.

    GET  /                        the page (index.html; app.js and app.css under /page/)
    GET  /api/info                models, transfer fields, synth sliders, limits
    POST /api/transfer?model=violin&pitch_shift=0&...   body: the audio file's bytes
    POST /api/synth?voice=default&length_s=2&pitch=60&...
    GET  /api/results/{id}/audio.wav | figure.png

A transfer or synth answers ``{"id", "audio_url", "figure_url", "summary"}``; a bad request
answers 400 (413 for an upload over the limit) with ``{"error": message}``, which the page
shows. FastAPI is imported here only: the rest of the package runs without it.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations (Request),
# which are imported inside the functions that define the routes, at definition time.
import threading
from collections.abc import Callable
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING
from typing import Any

from ..validation import InputError
from ..validation import check_positive
from ..validation import check_positive_int
from .audio import decode_upload
from .catalog import ModelCatalog
from .store import MEDIA_TYPES
from .store import ResultStore
from .synth_work import render_synth
from .synth_work import synth_controls
from .synth_work import synth_values
from .transfer_work import TRANSFER_FIELDS
from .transfer_work import number_field
from .transfer_work import run_transfer
from .transfer_work import transfer_settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi import Request

__all__ = ["create_app", "UploadTooLarge", "LOCAL_HOSTS"]

#: The page's files and their media types (nothing else is served from the package).
PAGE_FILES = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
#: Host names the server answers to when bound to the loopback interface (a page on another
#: site cannot reach it by a DNS name that resolves to 127.0.0.1).
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: Everything comes from this server: no script, style or media from anywhere else.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' blob:",
    "X-Content-Type-Options": "nosniff",
}


class UploadTooLarge(InputError):
    """A request body over the server's limit (answered 413)."""


async def read_body(request: "Request", limit: int) -> bytes:
    """The request's body, refused (:class:`UploadTooLarge`) as soon as it passes ``limit``
    bytes: by its declared length before reading, else while streaming it."""
    declared = request.headers.get("content-length", "")
    too_large = UploadTooLarge(f"the upload is over this server's limit of {limit / 2**20:g} MiB")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _page_routes(app: "FastAPI") -> None:
    from fastapi import HTTPException  # noqa: PLC0415
    from fastapi.responses import Response  # noqa: PLC0415

    page = resources.files("torchddsp.app") / "page"

    @app.get("/")
    def index() -> Response:
        return Response((page / "index.html").read_bytes(), media_type=PAGE_FILES["index.html"])

    @app.get("/page/{name}")
    def page_file(name: str) -> Response:
        if name not in PAGE_FILES or name == "index.html":
            raise HTTPException(404)
        return Response((page / name).read_bytes(), media_type=PAGE_FILES[name])


def _answer(store: ResultStore, files: dict[str, bytes], summary: dict[str, Any]) -> dict[str, Any]:
    key = store.put(files)
    figure = f"/api/results/{key}/figure.png" if "figure.png" in files else None
    return {"id": key, "audio_url": f"/api/results/{key}/audio.wav", "figure_url": figure, "summary": summary}


def _api_routes(app: "FastAPI", catalog: ModelCatalog, store: ResultStore, limits: tuple[int, float]) -> None:
    from fastapi import HTTPException  # noqa: PLC0415
    from fastapi import Request  # noqa: PLC0415
    from fastapi.responses import Response  # noqa: PLC0415
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    max_bytes, max_duration_s = limits
    busy = threading.Lock()  # one render at a time: each uses every core, and memory stays bounded

    def exclusive(work: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with busy:
                return work()

        return run

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        limits_ = {"max_upload_bytes": max_bytes, "max_duration_s": max_duration_s}
        return {"models": catalog.names, "transfer_fields": TRANSFER_FIELDS, "synth": synth_controls(), **limits_}

    @app.post("/api/transfer")
    async def transfer(request: Request) -> dict[str, Any]:
        fields = dict(request.query_params)
        settings = transfer_settings(fields)  # bad fields fail before the upload is read
        loaded = catalog.get(fields.get("model", ""))
        audio, rate = decode_upload(await read_body(request, max_bytes), max_duration_s)
        files, summary = await run_in_threadpool(exclusive(lambda: run_transfer(audio, rate, loaded, **settings)))
        return _answer(store, files, {"model": fields["model"], **summary})

    @app.post("/api/synth")
    async def synth(request: Request) -> dict[str, Any]:
        fields = dict(request.query_params)
        voice = fields.get("voice", "default")
        values = synth_values(voice, fields)
        length_s = number_field(fields, "length_s", 2.0, 0.5, 4.0)
        files, summary = await run_in_threadpool(exclusive(lambda: render_synth(voice, values, length_s)))
        return _answer(store, files, {"voice": voice, **summary})

    @app.get("/api/results/{key}/{name}")
    def result_file(key: str, name: str) -> Response:
        data = store.get(key, name)
        if data is None:
            raise HTTPException(404, "no such result (results are kept for the latest renders only)")
        return Response(data, media_type=MEDIA_TYPES[name], headers={"Cache-Control": "no-store"})


def create_app(
    catalog: ModelCatalog,
    max_upload_bytes: int = 20 * 2**20,
    max_duration_s: float = 60.0,
    allowed_hosts: Sequence[str] = LOCAL_HOSTS,
    keep_results: int = 16,
) -> "FastAPI":
    """The web app: serve it with uvicorn (``torchddsp app`` does), or test it with FastAPI's
    ``TestClient``.

    Args:
        catalog: the models offered (:class:`~torchddsp.app.catalog.ModelCatalog`).
        max_upload_bytes: larger uploads are refused (413) without being read whole.
        max_duration_s: longer audio is refused (400) after decoding.
        allowed_hosts: Host headers answered (``["*"]``: any, for a server bound to a network).
        keep_results: results kept in memory for the page (the oldest are dropped).
    """
    from fastapi import FastAPI  # noqa: PLC0415  (the app extra)
    from fastapi import Request  # noqa: PLC0415
    from fastapi.responses import JSONResponse  # noqa: PLC0415
    from starlette.middleware.trustedhost import TrustedHostMiddleware  # noqa: PLC0415

    limits = (
        check_positive_int("max_upload_bytes", max_upload_bytes),
        check_positive("max_duration_s", max_duration_s),
    )
    app = FastAPI(title="torchddsp", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Any:
        response = await call_next(request)
        response.headers.update(_HEADERS)
        return response

    @app.exception_handler(InputError)
    async def input_error(request: Request, error: InputError) -> JSONResponse:  # noqa: ARG001
        return JSONResponse({"error": str(error)}, status_code=413 if isinstance(error, UploadTooLarge) else 400)

    _page_routes(app)
    _api_routes(app, catalog, ResultStore(keep_results), limits)
    return app
