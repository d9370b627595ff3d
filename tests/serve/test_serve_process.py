"""``python -m alzmri serve`` as a real process: HTTP on a loopback port, 40 concurrent requests, a clean stop."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import httpx

from alzmri.models.provenance import SYNTHETIC_WARNING

CONCURRENT = 40


def test_serve_answers_over_http_under_concurrent_load_and_stops_cleanly(smoke_run, slice_files, serving):
    with serving(smoke_run) as (url, process):
        def predict(path) -> httpx.Response:
            return httpx.post(f"{url}/predict", files=[("files", (path.name, path.read_bytes(), "image/jpeg"))],
                              timeout=120)

        first = predict(slice_files[0])
        assert first.status_code == 200 and SYNTHETIC_WARNING in first.json()["warnings"]
        with ThreadPoolExecutor(CONCURRENT) as pool:
            answers = list(pool.map(predict, [slice_files[i % len(slice_files)] for i in range(CONCURRENT)]))
        assert [a.status_code for a in answers] == [200] * CONCURRENT
        assert all(a.json()["predictions"][0]["probabilities"] for a in answers)
        process.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down, the batcher stops
        assert process.wait(60) == 0
