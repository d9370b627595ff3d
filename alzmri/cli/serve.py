"""The ``serve`` command: a run behind an HTTP API and a web page (:mod:`alzmri.serve`; the ``serve`` extra)."""

from __future__ import annotations

import argparse
import os

from alzmri.errors import MissingDependencyError

#: Where the key comes from when ``--api-key`` is not given.
KEY_ENV = "ALZMRI_API_KEY"


#: glibc's ``mallopt`` parameter for the number of memory arenas.
M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's memory arenas for this process; True where it took effect (glibc), False elsewhere.

    glibc gives threads that allocate at once arenas of their own, up to eight per core, and keeps what they
    grew: under 16 clients sending 32-slice requests (benchmarks/serve.py) the server's memory kept growing with
    the default and stayed nearly flat with two arenas, at the same speed. ``mallopt`` sets at run time what
    ``MALLOC_ARENA_MAX`` sets at a process's start.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows): its allocator's own defaults stand
        return False


def serve(args: argparse.Namespace) -> int:
    """Load the run once, then serve it with uvicorn until interrupted; a missing or broken run fails at start
    with :func:`alzmri.models.runs.load_run`'s one line, and a missing FastAPI says which extra to install."""
    try:
        import uvicorn

        from alzmri.serve.app import create_app
    except ImportError as err:
        raise MissingDependencyError(f"`alzmri serve` needs FastAPI and uvicorn ({err.name} is missing): "
                                     "pip install -e .[serve]") from None
    limit_malloc_arenas()
    app = create_app(args.run, api_key=args.api_key or os.environ.get(KEY_ENV) or None)
    print(f"Serving run {app.state.run.path.name} on http://{args.host}:{args.port}/ (API: /docs; "
          f"API key {'required' if args.api_key or os.environ.get(KEY_ENV) else 'not required'})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_serve(sub) -> None:
    """The ``serve`` command's options."""
    p = sub.add_parser("serve", help="serve a run over HTTP: an API and a web page (not a diagnosis)")
    p.add_argument("run", help="the run folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", dest="api_key",
                   help=f"key that /model, /predict and /gradcam need in the X-API-Key header (/health, the page and "
                        f"/docs stay open; default: ${KEY_ENV}; none: all open)")
    p.set_defaults(func=serve)
