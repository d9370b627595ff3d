"""Reading uploaded slices: in memory, within limits, each refusal naming the file and the cause.

A request's multipart body is parsed as it streams in (python-multipart, the parser Starlette itself uses),
so a request over the limits is refused after at most one limit's worth of bytes, not once it has all
arrived. Starlette's own form parsing is not used because it spools any file over 1 MB to a temporary
file on disk; here nothing is written to disk, and an upload's name is only ever echoed back, never used
as a path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from alzmri.data.datasets import to_8bit
from alzmri.errors import UploadError

#: The multipart field the slices come in.
FIELD = "files"
MAX_FILE_BYTES = 20 * 2**20
MAX_FILES = 64
MAX_REQUEST_BYTES = 200 * 2**20
#: Pixels an upload may decode to: a slice is a few hundred pixels a side; more is refused as a decompression
#: bomb before it is decoded (Pillow's own limit, ``Image.MAX_IMAGE_PIXELS``, is 89 M pixels and only warns).
MAX_PIXELS = 4096 * 4096
#: Characters of an upload's name kept (it is only echoed back, in answers and figure titles).
MAX_NAME = 200
#: Content types accepted for a file part: any image, or none said (curl's default for unknown suffixes).
GENERIC_TYPES = {"", "application/octet-stream"}


@dataclass(frozen=True)
class Limits:
    """What one request may send (the defaults are the documented limits; tests pass smaller ones)."""

    max_file_bytes: int = MAX_FILE_BYTES
    max_files: int = MAX_FILES
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_pixels: int = MAX_PIXELS


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


async def read_uploads(request, limits: Limits = Limits()) -> list[Upload]:
    """The files of a multipart request's ``files`` field, read in memory as the body streams in.

    Args:
        request: the Starlette request.
        limits: most bytes a file and the whole body may have, most files.

    Returns:
        The uploads, in the order sent.

    Raises:
        UploadError: not multipart (415), over a limit (413), malformed (400) or no files (400).
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
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limits.max_request_bytes:
                raise too_big
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as err:
        raise UploadError(f"malformed multipart body ({err})", 400) from None
    if not collector.uploads:
        raise UploadError(f"no files: send one or more slices in the multipart field '{FIELD}'", 400)
    return collector.uploads


def decode_upload(upload: Upload, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """One upload as uint8 RGB (H, W, 3), fully decoded in memory and checked.

    Args:
        upload: the file as received.
        max_pixels: most pixels it may decode to.

    Returns:
        The slice at its own size (the model's resize comes later, the same as training's).

    Raises:
        UploadError: a content type that is not an image's (415), an empty file (400), a decompression bomb (413),
            not an image (415), or truncated or corrupt (422); each names the file.
    """
    if not (upload.content_type.startswith("image/") or upload.content_type in GENERIC_TYPES):
        raise UploadError(f"content type {upload.content_type!r} is not an image's", 415, upload.name)
    if not upload.data:
        raise UploadError("empty file (0 bytes)", 400, upload.name)
    try:
        with Image.open(io.BytesIO(upload.data)) as im:
            if im.width * im.height > max_pixels:
                raise UploadError(f"{im.width}x{im.height} pixels: over {max_pixels:,}, refused as a decompression "
                                  "bomb", 413, upload.name)
            im.load()
            return np.asarray(to_8bit(im).convert("RGB"))
    except UploadError:
        raise
    except UnidentifiedImageError:
        raise UploadError("not an image (Pillow cannot identify it)", 415, upload.name) from None
    except Image.DecompressionBombError as err:
        raise UploadError(f"refused as a decompression bomb ({err})", 413, upload.name) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise UploadError(f"truncated or corrupt image ({err})", 422, upload.name) from None

