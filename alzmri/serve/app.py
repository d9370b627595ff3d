"""The FastAPI application: routes, the API key, and every refusal as one JSON line.

Routes: ``GET /health`` (open), ``GET /`` (the page, open), ``GET /openapi.json`` (the API's description, open),
``GET /model``, ``POST /predict`` and ``POST /gradcam`` (the API key where one is set). FastAPI's ``/docs`` and
``/redoc`` pages are not served: they load their scripts and fonts from a CDN, blank offline and third-party code on
a page where a key is typed. Everything the run answers with is read once, by :func:`create_app`
(:class:`alzmri.serve.answers.Served`); its model is used only by the micro-batcher's worker thread
(:mod:`alzmri.serve.batching`). A refused request gets ``{"error": ..., "file": ...}`` (the file is the upload's
name as sent, or null) with a 4xx status; a busy server 503 (queue full) or 504 (time limit), with Retry-After.
"""

from __future__ import annotations

import asyncio
import hmac
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from alzmri import __version__
from alzmri.data.pipeline import model_inputs
from alzmri.errors import ServiceBusyError, SettingsError, UploadError
from alzmri.models.provenance import DISCLAIMER
from alzmri.serve import answers
from alzmri.serve.batching import MicroBatcher
from alzmri.serve.uploads import FIELD, MAX_FILE_BYTES, MAX_FILES, MAX_REQUEST_BYTES, BodyBudget, Limits, \
    decode_upload, read_uploads

KEY_HEADER = "X-API-Key"
#: The OpenAPI description of the upload body (the body is parsed by :func:`alzmri.serve.uploads.read_uploads`).
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": [FIELD],
    "properties": {FIELD: {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}
REFUSALS = {status: {"description": what} for status, what in (
    (400, "empty file, no files, malformed body, unknown class"), (401, "missing or wrong API key"),
    (413, f"file over {MAX_FILE_BYTES // 2**20} MB, over {MAX_FILES} files or {MAX_REQUEST_BYTES // 2**20} MB, "
          "decompression bomb, an image not shaped like a slice"),
    (408, "the body arrived too slowly"),
    (415, "not an image, or a content type that is not an image's"),
    (422, "truncated or corrupt image, several pages or frames"),
    (503, "queue full, or too many bodies arriving at once (Retry-After)"), (504, "time limit passed (Retry-After)"))}


def error(status: int, message: str, file: str | None = None, headers: dict | None = None) -> JSONResponse:
    """A refusal: ``{"error", "file"}`` with its status."""
    return JSONResponse({"error": message, "file": file}, status_code=status, headers=headers)


def check_api_key(key: str | None) -> None:
    """Refuse, before anything is loaded, an API key no client could send.

    HTTP header values are Latin-1 bytes and browsers send only ASCII ones, and a header's outer spaces are dropped,
    so a key with other characters, control characters or outer spaces could never be given.

    Raises:
        SettingsError: such a key, naming where keys come from.
    """
    if key and not (key.isascii() and key.isprintable() and key == key.strip()):
        raise SettingsError("--api-key (or $ALZMRI_API_KEY) must be printable ASCII without outer spaces: a client "
                            "sends it in an HTTP header, where other characters cannot be given")


class SameOrigin:
    """ASGI middleware that serves only the host names it was started for and refuses cross-origin requests.

    A page on another site may not use the server through a visitor's browser: a ``Host`` header not among
    ``hosts`` (a DNS-rebinding name pointing at 127.0.0.1) gets 400, and a request whose ``Origin`` is not the
    server's own (a form or script on another site posting to it) 403, before any work.

    Args:
        app: the application.
        hosts: the host names served (without port); None serves any.
    """

    def __init__(self, app, hosts: list[str] | None):
        self.app, self.hosts = app, None if hosts is None else {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in (b"host", b"origin")}
        host = headers.get("host", "")
        if self.hosts is not None and urlsplit(f"//{host}").hostname not in self.hosts:
            return await error(400, f"host {host!r} is not served here")(scope, receive, send)
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return await error(403, f"cross-origin request from {origin!r} refused")(scope, receive, send)
        return await self.app(scope, receive, send)


def key_check(expected: str | None):
    """A dependency that lets a request through only with ``expected`` in its ``X-API-Key`` header (compared in
    constant time); anything else is 401 without a hint. With no key set, every request goes through."""
    header = APIKeyHeader(name=KEY_HEADER, auto_error=False)

    def check(given: str | None = Depends(header)) -> None:
        if expected is not None and not hmac.compare_digest((given or "").encode(), expected.encode()):
            raise HTTPException(401, "unauthorized")

    return check


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal as ``{"error", "file"}``: uploads, a busy server, HTTP errors, bad query parameters."""

    @app.exception_handler(UploadError)
    async def refused_upload(request: Request, err: UploadError) -> JSONResponse:
        # a body cut short leaves the rest of it on the connection: close it rather than wait for the rest
        return error(err.status, str(err), err.file, {"Connection": "close"} if err.status in (408, 413) else None)

    @app.exception_handler(ServiceBusyError)
    async def busy(request: Request, err: ServiceBusyError) -> JSONResponse:
        return error(err.status, str(err), headers={"Retry-After": str(err.retry_after)})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return error(err.status_code, str(err.detail), headers=getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        return error(500, f"internal error ({type(err).__name__}); the server goes on serving")

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, err: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in err.errors())
        return error(422, f"bad request parameter ({where})")


def page() -> str:
    """The web page (``page.html``, shipped with the package)."""
    return resources.files("alzmri.serve").joinpath("page.html").read_text(encoding="utf-8")


#: Requests decoded at once; the others wait with their bodies read, so memory holds at most this many requests'
#: full-size slices. A client still sending holds no slot: the bodies are bounded by their own budget
#: (:class:`alzmri.serve.uploads.BodyBudget`) and each body by its deadline and minimum rate.
DECODE_SLOTS = 4
#: Full-size pixels a request holds decoded before they are shrunk to the model's input together (a brain's 32
#: slices are about 1.2 M; a slice at :data:`alzmri.data.pipeline.REDUCE_TO` a side about 1 M).
DECODED_PIXELS = 16 * 2**20


async def _decoded(request: Request, image_size: int, limits: Limits, slots: asyncio.Semaphore, budget: BodyBudget,
                   one_slice: bool = False) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """A request's uploads read (within the body budget and deadline), then decoded off the event loop while one
    decoding slot is held.

    Decoded slices are shrunk to the model's input together once they hold :data:`DECODED_PIXELS`, so a request
    holds about that many full-size pixels at a time (the slice itself is kept only with ``one_slice``, for
    Grad-CAM's figure; it is at most :data:`alzmri.data.pipeline.REDUCE_TO` pixels a side).

    Returns:
        The uploads' names, the slice (``one_slice``; else none) and the slices as the model takes them.

    Raises:
        UploadError: an upload is refused (:func:`alzmri.serve.uploads.decode_upload`), the body is too slow (408),
            or ``one_slice`` and the request holds another number of files.
        ServiceBusyError: the bodies arriving at once are over their budget (503).
    """
    with budget.share() as take:
        uploads = await read_uploads(request, limits, take)
        if one_slice and len(uploads) != 1:
            raise UploadError(f"send one slice to /gradcam, got {len(uploads)}", 400)

        def decode() -> tuple[list[np.ndarray], np.ndarray]:
            kept, pending, images = [], [], []
            for upload in uploads:
                pending.append(decode_upload(upload, limits.max_pixels))
                kept += pending[-1:] if one_slice else []
                if sum(p.shape[0] * p.shape[1] for p in pending) >= DECODED_PIXELS:
                    images.append(model_inputs(pending, image_size))
                    pending = []
            images += [model_inputs(pending, image_size)] if pending else []
            return kept, np.concatenate(images)

        async with slots:
            slices, images = await run_in_threadpool(decode)
    return [u.name for u in uploads], slices, images


def create_app(run_dir: str | Path, api_key: str | None = None, max_batch: int = 32, max_wait_s: float = 0.005,
               queue_size: int = 64, timeout_s: float = 30.0, limits: Limits = Limits(),
               hosts: list[str] | None = None) -> FastAPI:
    """The server of one run: everything it answers with read once, its micro-batcher started and warmed up.

    Args:
        run_dir: the run folder.
        api_key: the key every API route needs in ``X-API-Key``; None (or empty): no key.
        max_batch: slices the worker gathers into one forward pass.
        max_wait_s: how long it waits for more requests after the first.
        queue_size: requests that may wait; one more gets 503.
        timeout_s: each request's time limit (504 past it).
        limits: what one request may upload, and how slowly (:class:`alzmri.serve.uploads.Limits`).
        hosts: the host names it answers to (:class:`SameOrigin`); None: any (the test client's).

    Returns:
        The FastAPI application (``app.state.served``, ``app.state.run``, ``app.state.batcher``).

    Raises:
        SettingsError: an API key no client could send (:func:`check_api_key`), before the run is read.
        RunError: the run is missing or broken, or its input check unreadable (one line each).
    """
    check_api_key(api_key)
    served = answers.load_served(run_dir)
    batcher = MicroBatcher(answers.batch_forward(served), max_batch, max_wait_s, queue_size, timeout_s)
    batcher.submit(np.zeros((1, served.run.image_size, served.run.image_size, 3), np.float32)).result()  # traced

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.stop()

    app = FastAPI(title="alzmri", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=f"Alzheimer's MRI slice classification with run {served.run.path.name}. {DISCLAIMER}")
    app.state.served, app.state.run, app.state.batcher = served, served.run, batcher
    _add_error_handlers(app)
    _add_routes(app, served, batcher, limits, Depends(key_check(api_key or None)), bool(api_key))
    app.add_middleware(SameOrigin, hosts=hosts)
    return app


def _add_routes(app: FastAPI, served: answers.Served, batcher: MicroBatcher, limits: Limits, keyed,
                key_required: bool) -> None:
    """The routes of :func:`create_app`: /health, /, /model, /predict, /gradcam."""
    slots, budget, size = asyncio.Semaphore(DECODE_SLOTS), BodyBudget(limits.max_body_budget), served.run.image_size

    @app.get("/health", summary="Whether the server is up, which run it serves (read when), whether a key is needed")
    def health() -> dict:
        return {"status": "ok", "run": served.provenance.run, "loaded": served.loaded, "api_key_required": key_required}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page()

    @app.get("/model", dependencies=[keyed], responses={401: REFUSALS[401]},
             summary="The run: classes, image size, backbone, training data, protocol, test metrics, model card")
    def model() -> dict:
        return served.model

    @app.post("/predict", dependencies=[keyed], openapi_extra=UPLOAD_BODY, responses=REFUSALS,
              response_model=answers.PredictAnswer,
              summary="Class probabilities of each slice, and of all of them as one subject (not a diagnosis)")
    async def predict(request: Request, per_slice_only: bool = Query(
            False, description="answer each slice alone: no combined subject answer")) -> dict:
        names, _, images = await _decoded(request, size, limits, slots, budget)
        rows = await batcher.result(batcher.submit(images))
        return await run_in_threadpool(answers.prediction_answer, served, names, rows, per_slice_only)

    @app.post("/gradcam", dependencies=[keyed], openapi_extra=UPLOAD_BODY, response_class=Response,
              responses={200: {"content": {"image/png": {}}}, **REFUSALS},
              summary="A PNG: one slice at its own shape beside its Grad-CAM overlay, with a colour bar")
    async def gradcam(request: Request, class_: str | None = Query(
            None, alias="class", description="class to explain (default: the predicted one)")) -> Response:
        from alzmri.explain.gradcam import gradcam as explain

        wanted = answers.explained_class(class_)
        names, slices, images = await _decoded(request, size, limits, slots, budget, one_slice=True)
        classes = None if wanted is None else np.array([wanted])

        def explained():
            return batcher.forward(images), *explain(served.run.model, images, classes)

        rows, maps, chosen = await batcher.result(batcher.submit_call(explained))
        scores = answers.input_scores(served, rows)
        unlike = None if scores is None else not bool(scores.in_distribution[0])
        png = await run_in_threadpool(answers.gradcam_png, served, names[0], slices[0], maps, int(chosen[0]), unlike)
        return Response(png, media_type="image/png")
