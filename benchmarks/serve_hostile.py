"""`alzmri serve` under hostile clients: the server's peak memory, and whether it stays up and answers (loopback only).

Starts `python -m alzmri serve RUN` on a free 127.0.0.1 port, sends --warm normal requests and reads its resident
memory (RSS), then runs each hostile case while sampling its RSS every 10 ms (the peak is the highest sample,
beside the kernel's own high-water mark, VmHWM):
(1) strip: --clients concurrent clients, each sending --strip-requests requests of four 16,000,000 x 1 PNGs
    (15 KB each; before the sides were checked one such request took about 6 GB in the resize);
(2) gradcam: 16 concurrent /gradcam calls of a 4096 x 4096 PNG (16 KB);
(3) slow: --slow clients sending a multipart body one byte a second, while normal requests are sent one after
    another for --slow-seconds; every normal request must be answered and every slow body cut off (408).
Each case records the peak RSS, its growth over the warm server, the answers' status codes and whether the
server is still up; normal requests are sent after each case (all must answer 200).

Usage: python benchmarks/serve_hostile.py [--run RUN] [--clients 4] [--slow 16] [--out docs/results]

Writes docs/results/serve_hostile.json.
"""

from __future__ import annotations

import argparse
import io
import signal
import socket
import tempfile
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from results import add_out_option, write_results
from serve import free_port, slice_bytes, smoke_run, start_server

STRIP = (16_000_000, 1)
SQUARE = (4096, 4096)
#: The memory bound the docs state: the server's peak under every case here, over its RSS once warm.
GROWTH_GOAL_MIB = 512


def parse_args() -> argparse.Namespace:
    """The command line: the run to serve and the sizes of each hostile case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="run folder to serve (default: a smoke-preset run trained in a temp folder)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients sending strips (default 4)")
    parser.add_argument("--strip-requests", dest="strip_requests", type=int, default=4,
                        help="requests of four strip PNGs each client sends (default 4)")
    parser.add_argument("--slow", type=int, default=16, help="clients trickling one byte a second (default 16)")
    parser.add_argument("--slow-seconds", dest="slow_seconds", type=float, default=12.0,
                        help="how long normal requests are sent beside the slow clients (default 12)")
    parser.add_argument("--warm", type=int, default=40, help="normal requests before the first reading (default 40)")
    add_out_option(parser)
    warnings.simplefilter("ignore")
    return parser.parse_args()


def png(size: tuple[int, int]) -> bytes:
    """A black PNG of ``size`` (width, height): a few KB, whatever its sides."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", size, 90).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


class PeakMemory:
    """The highest RSS of a process sampled every 10 ms while the ``with`` block runs, in MiB."""

    def __init__(self, pid: int):
        import psutil

        self.process, self.peak, self._stop = psutil.Process(pid), 0.0, threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss / 2**20)
            except Exception:  # noqa: BLE001 -- the process died: the case says so
                return
            time.sleep(0.01)


def high_water_mib(pid: int) -> float | None:
    """The kernel's peak RSS of the process since it started (VmHWM), in MiB; None off Linux."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def post(url: str, route: str, files: list[tuple[str, bytes, str]], timeout: float = 120) -> int | str:
    """One request's status code, or the client error's name."""
    import httpx

    try:
        return httpx.post(f"{url}{route}", files=[("files", f) for f in files], timeout=timeout).status_code
    except httpx.HTTPError as err:
        return type(err).__name__


def normal_requests(url: str, slices: list[tuple[str, bytes]], count: int) -> list:
    """``count`` ordinary one-slice ``/predict`` requests, one after another; their answers."""
    return [post(url, "/predict", [(name, body, "image/jpeg")]) for name, body in (slices * count)[:count]]


def concurrent(url: str, route: str, files: list, clients: int, each: int) -> list:
    """``clients`` clients posting ``files`` to ``route`` ``each`` times, all at once; their answers."""
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda _: post(url, route, files), range(clients * each)))


def trickle(port: int, seconds: float, statuses: list) -> None:
    """A multipart body sent one byte a second until the server answers or closes, or ``seconds`` pass."""
    head = (b'--b\r\nContent-Disposition: form-data; name="files"; filename="slow.jpg"\r\n'
            b'Content-Type: image/jpeg\r\n\r\n')
    request = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
               b"Content-Length: 100000\r\n\r\n" + head)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.settimeout(1.0)
        while time.monotonic() - start < seconds:
            try:
                answer = sock.recv(200)
                statuses.append(int(answer.split()[1]) if answer else "closed")
                return
            except socket.timeout:
                pass
            try:
                sock.sendall(b"x")
            except OSError:
                statuses.append("closed")
                return
    statuses.append("still sending")


def slow_case(url: str, port: int, slices, clients: int, seconds: float) -> dict:
    """``clients`` bodies trickled a byte a second while normal requests go on: their statuses and the normal ones'."""
    statuses: list = []
    threads = [threading.Thread(target=trickle, args=(port, seconds, statuses)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # every slow client has sent its head
    answered, latencies, end = [], [], time.monotonic() + seconds - 1.0
    while time.monotonic() < end:
        start = time.perf_counter()
        answered += normal_requests(url, slices, 1)
        latencies.append(time.perf_counter() - start)
    for thread in threads:
        thread.join()
    return {"normal": dict(Counter(map(str, answered))), "normal_latency_max_s": round(max(latencies), 3),
            "slow": dict(Counter(map(str, statuses)))}


def measure(server, name: str, case, warm_mib: float, url: str, slices) -> dict:
    """Run one case under the RSS sampler; its peak, growth, answers and whether the server still answers."""
    print(f"{name} ...", flush=True)
    with PeakMemory(server.pid) as memory:
        answers = case()
    after = normal_requests(url, slices, 4) if server.poll() is None else []
    result = {"peak_rss_mib": round(memory.peak, 1), "growth_mib": round(memory.peak - warm_mib, 1),
              "answers": answers if isinstance(answers, dict) else dict(Counter(map(str, answers))),
              "still_up": server.poll() is None and after == [200] * 4}
    print(f"  {result}", flush=True)
    return result


def main() -> None:
    """Serve a run, measure its memory under each hostile case, write docs/results/serve_hostile.json."""
    args = parse_args()
    import psutil

    from alzmri.timing import machine

    with tempfile.TemporaryDirectory(prefix="alzmri-hostile-bench-") as tmp:
        run_dir = Path(args.run) if args.run else smoke_run(Path(tmp))
        slices = slice_bytes(None, Path(tmp))[:8]
        port = free_port()
        server = start_server(run_dir, port)
        url = f"http://127.0.0.1:{port}"
        print(f"serving {run_dir.name} on {url}\nmachine: {machine()}", flush=True)
        try:
            warm_answers = normal_requests(url, slices, args.warm)
            warm_mib = psutil.Process(server.pid).memory_info().rss / 2**20
            strip, square = png(STRIP), png(SQUARE)
            cases = {
                "strip": lambda: concurrent(url, "/predict", [(f"strip{i}.png", strip, "image/png") for i in range(4)],
                                            args.clients, args.strip_requests),
                "gradcam_4096": lambda: concurrent(url, "/gradcam", [("big.png", square, "image/png")], 16, 1),
                "slow": lambda: slow_case(url, port, slices, args.slow, args.slow_seconds)}
            results = {name: measure(server, name, case, warm_mib, url, slices) for name, case in cases.items()}
            high_water = high_water_mib(server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
    peak = max(r["peak_rss_mib"] for r in results.values())
    write_results("serve_hostile", {
        "run": run_dir.name, "warm_up": {"requests": args.warm, "answers": dict(Counter(map(str, warm_answers))),
                                         "rss_mib": round(warm_mib, 1)},
        "strip_png": {"size": list(STRIP), "bytes": len(strip), "files_per_request": 4, "clients": args.clients,
                      "requests_per_client": args.strip_requests},
        "gradcam_png": {"size": list(SQUARE), "bytes": len(square), "clients": 16},
        "slow_clients": {"clients": args.slow, "bytes_per_second": 1, "seconds": args.slow_seconds},
        "cases": results, "peak_rss_mib": peak, "high_water_rss_mib": high_water,
        "growth_mib": {"value": round(peak - warm_mib, 1), "goal": f"< {GROWTH_GOAL_MIB}",
                       "met": peak - warm_mib < GROWTH_GOAL_MIB},
        "all_up": all(r["still_up"] for r in results.values())}, args.out)


if __name__ == "__main__":
    main()
