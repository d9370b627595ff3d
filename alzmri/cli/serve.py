"""The ``serve`` command: a run behind an HTTP API and a web page (:mod:`alzmri.serve`; the ``serve`` extra)."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys

from alzmri.errors import MissingDependencyError, SettingsError

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


#: Host names that reach a loopback address: a server started on one answers to these (DNS rebinding aside).
LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, taken before the run is loaded, so a bad address costs one line, not
    the seconds of loading TensorFlow and the model.

    Raises:
        SettingsError: a port outside 1-65535, a host that does not resolve, or an address in use or not allowed.
    """
    if not 1 <= port <= 65535:
        raise SettingsError(f"--port must be between 1 and 65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as err:
        raise SettingsError(f"--host {host!r} is not an address of this machine ({err})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a port just freed is free
        sock.bind(address)
        sock.listen(2048)
    except OSError as err:
        sock.close()
        cause = "in use by another program" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
        raise SettingsError(f"cannot listen on {host}:{port} (--host, --port): {cause}") from None
    return sock


def served_hosts(host: str) -> list[str] | None:
    """The host names the server answers to: the one it listens on, and the loopback names for a loopback address;
    None (any) for all interfaces (0.0.0.0, ::), where any name may reach it."""
    if host in ("0.0.0.0", "::", ""):
        return None
    return [host, *LOOPBACK_NAMES] if host in LOOPBACK_NAMES or host.startswith("127.") else [host]


def serve(args: argparse.Namespace) -> int:
    """Check the key and the address, load the run once, then serve it with uvicorn until interrupted; a bad key,
    port or host, a missing or broken run fail at start with one line, and a missing FastAPI says which extra to
    install."""
    try:
        import uvicorn

        from alzmri.serve.app import check_api_key, create_app
    except ImportError as err:
        raise MissingDependencyError(f"`alzmri serve` needs FastAPI and uvicorn ({err.name} is missing): "
                                     "pip install -e .[serve]") from None
    key = args.api_key or os.environ.get(KEY_ENV) or None
    check_api_key(key)
    sock = bind(args.host, args.port)
    if served_hosts(args.host) is None and key is None:
        print(f"WARNING --host {args.host} without an API key: every machine that reaches this one can use the "
              f"server; set ${KEY_ENV}", file=sys.stderr, flush=True)
    limit_malloc_arenas()
    try:
        app = create_app(args.run, api_key=key, hosts=served_hosts(args.host))
        print(f"Serving run {app.state.run.path.name} on http://{args.host}:{args.port}/ (read once, now; API: "
              f"/openapi.json; API key {'required' if key else 'not required'})", flush=True)
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it stopped on: a clean stop
        pass
    finally:
        sock.close()
    return 0


def add_serve(sub) -> None:
    """The ``serve`` command's options."""
    p = sub.add_parser("serve", help="serve a run over HTTP: an API and a web page (not a diagnosis)")
    p.add_argument("run", help="the run folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", dest="api_key",
                   help=f"key that /model, /predict and /gradcam need in the X-API-Key header (/health, the page and "
                        f"/openapi.json stay open). Prefer ${KEY_ENV}: a key on the command line shows in `ps` to "
                        f"every user of this machine")
    p.set_defaults(func=serve)
