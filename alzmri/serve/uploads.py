"""Reading uploaded slices: in memory, within limits, each refusal naming the file and the cause.

A request's multipart body is parsed as it streams in (python-multipart, the parser Starlette itself uses),
so a request over the limits is refused after at most one limit's worth of bytes, not once it has all
arrived; a body that arrives too slowly (under a minimum rate after a grace period, or not within a deadline) is
refused too, so a client trickling bytes holds nothing for long; and the bodies held at once share one budget.
Starlette's own form parsing is not used because it spools any file over 1 MB to a temporary file on disk; here
nothing is written to disk, and an upload's name is only ever echoed back, never used as a path.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from alzmri.data.pipeline import MAX_PIXELS, decode_slice
from alzmri.errors import ImageError, ServiceBusyError, UploadError

#: The multipart field the slices come in.
FIELD = "files"
MAX_FILE_BYTES = 20 * 2**20
MAX_FILES = 64
MAX_REQUEST_BYTES = 200 * 2**20
#: Bytes of request bodies the server holds at once, over all requests (four whole requests at the limit).
MAX_BODY_BUDGET = 4 * MAX_REQUEST_BYTES
#: A body must arrive at this rate (bytes a second) once its grace period is over, and whole within the deadline.
MIN_BODY_RATE = 64 * 2**10
BODY_GRACE_S = 5.0
BODY_DEADLINE_S = 120.0
#: Characters of an upload's name kept (it is only echoed back, in answers and figure titles).
MAX_NAME = 200
#: Content types accepted for a file part: any image, or none said (curl's default for unknown suffixes).
GENERIC_TYPES = {"", "application/octet-stream"}


@dataclass(frozen=True)
class Limits:
    """What one request may send, and how slowly (the defaults are the documented limits; tests pass smaller ones)."""

    max_file_bytes: int = MAX_FILE_BYTES
    max_files: int = MAX_FILES
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_pixels: int = MAX_PIXELS
    max_body_budget: int = MAX_BODY_BUDGET
    min_body_rate: float = MIN_BODY_RATE
    body_grace_s: float = BODY_GRACE_S
    body_deadline_s: float = BODY_DEADLINE_S

    def body_wait(self, started: float, received: int) -> float:
        """Seconds the next chunk of a body may still take, ``received`` bytes after it started at ``started``
        (``time.monotonic``): until it falls under the minimum rate, or the deadline, whichever comes first."""
        due = min(self.body_grace_s + received / self.min_body_rate, self.body_deadline_s)
        return started + due - time.monotonic()


class BodyBudget:
    """The bytes of request bodies the server holds at once, shared by all requests (one event loop: no lock).

    A request takes its body's bytes as they arrive and gives them back when it is done with them; a chunk that
    would pass the budget refuses its request (503, Retry-After), so memory for bodies stays bounded however many
    clients send at once, and a slow client holds only the little it has sent.
    """

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0

    @contextmanager
    def share(self):
        """A request's share: yields ``take(n)``, called per chunk; everything taken is given back on leaving.

        Raises:
            ServiceBusyError: a chunk would pass the budget (503).
        """
        taken = 0

        def take(n: int) -> None:
            nonlocal taken
            if self.used + n > self.limit:
                raise ServiceBusyError(f"the server is busy (over {self.limit / 2**20:g} MB of uploads arriving at "
                                       "once): try again shortly", 503)
            self.used, taken = self.used + n, taken + n

        try:
            yield take
        finally:
            self.used -= taken


@dataclass
class Upload:
    """One uploaded file: its name as sent (never a path), its declared content type and its bytes."""

    name: str
    content_type: str
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """python-multipart callbacks that collect the ``files`` parts in memory and enforce the limits."""

    def __init__(self, max_file_bytes: int, max_files: int):
        self.max_file_bytes, self.max_files = max_file_bytes, max_files
        self.uploads: list[Upload] = []
        self.current: Upload | None = None
        self.headers: dict[bytes, bytes] = {}
        self.field, self.value = b"", b""

    def callbacks(self) -> dict:
        """The callbacks for :class:`python_multipart.MultipartParser`."""
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data}

    def part_begin(self) -> None:
        self.current, self.headers = None, {}

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.field.lower()] = self.value
        self.field, self.value = b"", b""

    def headers_finished(self) -> None:
        """A part's headers are in: a ``files`` part starts an upload (other fields are ignored)."""
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if options.get(b"name", b"").decode("utf-8", "replace") != FIELD:
            return
        name = options.get(b"filename", b"").decode("utf-8", "replace")[:MAX_NAME] or f"upload {len(self.uploads) + 1}"
        if len(self.uploads) >= self.max_files:
            raise UploadError(f"too many files: at most {self.max_files} slices a request", 413, name)
        content_type = parse_options_header(self.headers.get(b"content-type", b""))[0].decode("latin-1").lower()
        self.current = Upload(name, content_type)
        self.uploads.append(self.current)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current is None:
            return
        self.current.data += data[start:end]
        if len(self.current.data) > self.max_file_bytes:
            raise UploadError(f"file over {self.max_file_bytes / 2**20:g} MB", 413, self.current.name)


def multipart_boundary(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` request; an UploadError (415) for any other body."""
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise UploadError(f"expected a multipart/form-data upload with the slices in the field '{FIELD}', got "
                          f"{(kind or b'no content type').decode('latin-1')!r}", 415)
    return options[b"boundary"]


async def read_uploads(request, limits: Limits = Limits(), take: Callable[[int], None] = lambda n: None
                       ) -> list[Upload]:
    """The files of a multipart request's ``files`` field, read in memory as the body streams in.

    Args:
        request: the Starlette request.
        limits: most bytes a file and the whole body may have, most files, how slowly the body may arrive.
        take: called with each chunk's size before it is kept (:meth:`BodyBudget.share`).

    Returns:
        The uploads, in the order sent.

    Raises:
        UploadError: not multipart (415), over a limit (413), too slow (408), malformed (400) or no files (400).
        ServiceBusyError: ``take`` refused a chunk (503).
    """
    from python_multipart import MultipartParser
    from python_multipart.exceptions import MultipartParseError

    boundary = multipart_boundary(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length", "")
    too_big = UploadError(f"request over {limits.max_request_bytes / 2**20:g} MB", 413)
    if declared.isdigit() and int(declared) > limits.max_request_bytes:
        raise too_big
    collector = _Collector(limits.max_file_bytes, limits.max_files)
    parser = MultipartParser(boundary, collector.callbacks())
    received, started, chunks = 0, time.monotonic(), request.stream()
    try:
        while (chunk := await _next_chunk(chunks, limits.body_wait(started, received), limits)) is not None:
            received += len(chunk)
            if received > limits.max_request_bytes:
                raise too_big
            take(len(chunk))
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as err:
        raise UploadError(f"malformed multipart body ({err})", 400) from None
    if not collector.uploads:
        raise UploadError(f"no files: send one or more slices in the multipart field '{FIELD}'", 400)
    return collector.uploads


async def _next_chunk(chunks, wait_s: float, limits: Limits) -> bytes | None:
    """The body's next chunk within ``wait_s`` seconds; None at its end.

    Raises:
        UploadError: none came in time (408): the body is under the minimum rate or past the deadline.
    """
    try:
        return await asyncio.wait_for(anext(chunks), max(wait_s, 0.0))
    except StopAsyncIteration:
        return None
    except asyncio.TimeoutError:
        raise UploadError(f"the body arrived too slowly (a body must arrive at {limits.min_body_rate / 2**10:g} KB/s "
                          f"after its first {limits.body_grace_s:g} s, and whole within {limits.body_deadline_s:g} s)",
                          408) from None


def decode_upload(upload: Upload, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """One upload as uint8 RGB (H, W, 3), decoded from memory by :func:`alzmri.data.pipeline.decode_slice` (the
    path ``alzmri predict`` reads files by: the same formats, limits and answers).

    Args:
        upload: the file as received.
        max_pixels: most pixels it may decode to.

    Returns:
        The slice, its longest side at most :data:`alzmri.data.pipeline.REDUCE_TO`.

    Raises:
        UploadError: a content type that is not an image's (415), or the refusal of :func:`decode_slice` with its
            status (400, 413, 415, 422); each names the file.
    """
    if not (upload.content_type.startswith("image/") or upload.content_type in GENERIC_TYPES):
        raise UploadError(f"content type {upload.content_type!r} is not an image's", 415, upload.name)
    try:
        return decode_slice(upload.data, upload.name, max_pixels)  # no copy of the body
    except ImageError as err:
        raise UploadError(err.reason, err.status, upload.name) from None
