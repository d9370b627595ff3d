"""`alzmri serve` under load: throughput against the bare model, latency, memory, errors (loopback only).

Starts `python -m alzmri serve RUN` on a free 127.0.0.1 port, then:
(1) warm-up: --warm requests (default 100), then the server's resident memory (RSS);
(2) --rounds rounds (default 3), each timing the bare forward pass (`compiled_forward`, the one prediction uses,
    batches of 32) over the benchmark's slices in this process, then --clients concurrent clients (default 16)
    sending --per-request slices a request (default 1; 32 is one brain), until --requests requests (default
    2,000, warm-up included) have been sent; throughput ratio server / bare in slices per second per round (goal
    >= 0.7), p50/p95 latency of every timed request;
(3) the server's RSS after all requests against after the warm-up (goal: < 50 MiB growth), and the errors
    (goal: none).

The slices are real-size (176 x 208 JPEGs, the source set's size): synthetic slices resized, or the images of
--data (a folder of real slices). The run is --run, or a smoke-preset run trained in a temporary folder
(about a minute). Each client waits at most --timeout s for an answer; the whole run is bounded by the request
count.

Usage: python benchmarks/serve.py [--run RUN] [--data DIR] [--clients 16] [--requests 2000] [--per-request 1]
                                  [--out docs/results]

Writes docs/results/serve.json (one slice a request) or serve_<N>_per_request.json.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from results import ROOT, add_out_option, against_goal, summary, write_results

SLICE_SIZE = (176, 208)  # width x height of the source set's slices
SLICES = 64


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="run folder to serve (default: a smoke-preset run trained in a temp folder)")
    parser.add_argument("--data", help="folder of slices to send (default: synthetic slices at 176 x 208)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=2000, help="requests in all, warm-up included (default 2000)")
    parser.add_argument("--warm", type=int, default=100, help="warm-up requests before the first reading (default 100)")
    parser.add_argument("--per-request", dest="per_request", type=int, default=1,
                        help="slices sent in one request (default 1; 32: one brain)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds, bare and server in turn (default 3)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a client waits for one answer")
    add_out_option(parser)
    warnings.simplefilter("ignore")
    return parser.parse_args()


def smoke_run(folder: Path) -> Path:
    """A smoke-preset run trained (or found) under ``folder``."""
    os.environ["ALZMRI_RUNS"], os.environ["ALZMRI_CACHE"] = str(folder / "runs"), str(folder / "cache")
    from alzmri.config import get_config
    from alzmri.models.training import get_or_train

    return get_or_train(get_config("smoke"), progress=False)


def slice_bytes(data: str | None, folder: Path) -> list[tuple[str, bytes]]:
    """Up to 64 slices as JPEG bytes at 176 x 208: the files of ``data``, or synthetic slices resized."""
    from PIL import Image

    from alzmri.data.pipeline import collect_image_files

    if data is None:
        from alzmri.data import synthetic

        data = str(synthetic.generate_dataset(folder / "slices", n_per_class=16, size=128, slices=4, progress=False))
    chosen = collect_image_files([data])[:SLICES]
    encoded = []
    for path in chosen:
        with Image.open(path) as image:
            buffer = io.BytesIO()
            image.convert("L").resize(SLICE_SIZE).save(buffer, "JPEG", quality=90)
        encoded.append((path.name, buffer.getvalue()))
    return encoded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, port: int) -> subprocess.Popen:
    """The server process, once ``/health`` answers (it exits with its own output if it cannot start)."""
    import httpx

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "alzmri", "serve", str(run), "--port", str(port)], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {process.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not start within 300 s")


def burst(url: str, slices: list[tuple[str, bytes]], count: int, clients: int, timeout: float,
          per_request: int = 1) -> dict:
    """``count`` requests of ``per_request`` slices each from ``clients`` threads: seconds, each latency, the
    failures."""
    import httpx

    latencies, failures, lock = [], [], threading.Lock()
    sent = iter(range(count))

    def client() -> None:
        with httpx.Client(timeout=timeout) as http:
            for i in sent:
                files = [("files", (name, body, "image/jpeg")) for name, body in
                         (slices[(i * per_request + j) % len(slices)] for j in range(per_request))]
                start = time.perf_counter()
                try:
                    response = http.post(f"{url}/predict", files=files)
                    ok = response.status_code == 200
                except httpx.HTTPError as err:
                    ok, response = False, err
                with lock:
                    (latencies if ok else failures).append(time.perf_counter() - start if ok else str(response))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": time.perf_counter() - start, "latencies": latencies, "failures": failures}


def bare_rate(run_dir: Path, slices: list[tuple[str, bytes]]):
    """A function timing the bare forward pass over the slices (decoded and resized as the server does)."""
    import numpy as np

    from alzmri.models.classifier import compiled_forward
    from alzmri.models.runs import load_run
    from alzmri.data.pipeline import model_inputs
    from alzmri.serve.uploads import Upload, decode_upload

    run = load_run(run_dir)
    images = model_inputs([decode_upload(Upload(n, "image/jpeg", bytearray(b))) for n, b in slices], run.image_size)
    forward = compiled_forward(run.model)
    forward(images[:32])

    def rate() -> float:
        start = time.perf_counter()
        for i in range(0, len(images), 32):
            np.asarray(forward(images[i:i + 32]))
        return len(images) / (time.perf_counter() - start)

    return run, rate


def main() -> None:
    args = parse_args()
    import psutil

    from alzmri.config import describe_backbone
    from alzmri.timing import machine

    with tempfile.TemporaryDirectory(prefix="alzmri-serve-bench-") as tmp:
        run_dir = Path(args.run) if args.run else smoke_run(Path(tmp))
        slices = slice_bytes(args.data, Path(tmp))
        run, bare = bare_rate(run_dir, slices)
        port = free_port()
        server = start_server(run_dir, port)
        url = f"http://127.0.0.1:{port}"
        print(f"serving {run_dir.name} on {url}; {len(slices)} slices of {SLICE_SIZE[0]}x{SLICE_SIZE[1]}, "
              f"{args.clients} clients\nmachine: {machine()}")
        try:
            warm = burst(url, slices, args.warm, args.clients, args.timeout, args.per_request)
            rss_warm = psutil.Process(server.pid).memory_info().rss
            per_round = (args.requests - args.warm) // args.rounds
            bare_rates, server_rates, latencies, failures = [], [], [], list(warm["failures"])
            for _ in range(args.rounds):
                bare_rates.append(bare())
                timed = burst(url, slices, per_round, args.clients, args.timeout, args.per_request)
                server_rates.append(args.per_request * len(timed["latencies"]) / timed["seconds"])
                latencies += timed["latencies"]
                failures += timed["failures"]
            rss_end = psutil.Process(server.pid).memory_info().rss
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
    report(args, run, bare_rates, server_rates, latencies, failures, rss_warm, rss_end, len(slices),
           describe_backbone(str(run.metadata.get("backbone")), (run.metadata.get("config") or {}).get("backbone_end")))


def report(args, run, bare_rates, server_rates, latencies, failures, rss_warm, rss_end, n_slices, model) -> None:
    """Print the numbers and write docs/results/serve.json."""
    ratios = [s / b for s, b in zip(server_rates, bare_rates)]
    growth = (rss_end - rss_warm) / 2**20
    p50, p95 = (1000 * statistics.quantiles(latencies, n=100)[q - 1] for q in (50, 95))
    print(f"bare forward {statistics.median(bare_rates):.0f} img/s, server {statistics.median(server_rates):.0f} "
          f"img/s ({args.per_request} slice(s) a request), ratio {statistics.median(ratios):.3f} (goal >= 0.7)")
    print(f"latency p50 {p50:.0f} ms, p95 {p95:.0f} ms; RSS {rss_warm / 2**20:.0f} MiB after {args.warm} requests, "
          f"{rss_end / 2**20:.0f} MiB after {args.requests} (growth {growth:.1f} MiB, goal < 50); "
          f"errors {len(failures)}")
    name = "serve" if args.per_request == 1 else f"serve_{args.per_request}_per_request"
    write_results(name, {
        "run": run.path.name, "model": model, "image_size": run.image_size,
        "synthetic": bool(run.metadata.get("synthetic")), "slices": {"count": n_slices, "size": list(SLICE_SIZE),
                                                                     "source": args.data or "synthetic, resized"},
        "clients": args.clients, "slices_per_request": args.per_request, "requests": args.requests, "warm_up": args.warm, "rounds": args.rounds,
        "images_per_second": {"bare_forward": summary(bare_rates, 1), "server": summary(server_rates, 1)},
        "ratios": {"server_over_bare": against_goal(ratios, ">=", 0.7, 3)},
        "latency_ms": {"p50": round(p50, 1), "p95": round(p95, 1), "requests": len(latencies)},
        "rss_mib": {"after_warm_up": round(rss_warm / 2**20, 1), "after_all": round(rss_end / 2**20, 1),
                    "growth": round(growth, 1), "goal": "< 50", "met": growth < 50},
        "errors": {"count": len(failures), "first": failures[:3]}}, args.out)


if __name__ == "__main__":
    main()
