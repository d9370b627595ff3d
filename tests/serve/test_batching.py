"""The micro-batcher on its own (no model): requests share batches, each gets its own rows, limits refuse."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from alzmri.errors import ServiceBusyError
from alzmri.serve.batching import MicroBatcher


def doubling(images: np.ndarray) -> dict[str, np.ndarray]:
    """A stand-in model: each row's values doubled, and each row's sum."""
    return {"double": images * 2, "sum": images.reshape(len(images), -1).sum(axis=1)}


@pytest.fixture
def blocked(hold_worker):
    """A batcher whose worker is held by a call until the test releases it (so requests queue up meanwhile)."""
    batcher = MicroBatcher(doubling, max_batch=8, max_wait_s=0.0, queue_size=4, timeout_s=30)
    release = hold_worker(batcher)
    yield batcher, release
    release.set()
    batcher.stop()


def test_queued_requests_share_one_batch_and_each_gets_its_rows(blocked):
    batcher, release = blocked
    jobs = [np.full((n, 2, 2), i, dtype=float) for i, n in enumerate((1, 3, 2), start=1)]
    futures = [batcher.submit(images) for images in jobs]
    release.set()
    answers = [f.result(timeout=30) for f in futures]
    assert batcher.batches[-1] == 6  # all three waiting requests in one forward pass
    for images, answer in zip(jobs, answers):
        np.testing.assert_array_equal(answer["double"], images * 2)
        np.testing.assert_array_equal(answer["sum"], images.reshape(len(images), -1).sum(axis=1))


def test_a_batch_stops_at_max_batch(blocked):
    batcher, release = blocked
    futures = [batcher.submit(np.ones((5, 1))) for _ in range(3)]
    release.set()
    [f.result(timeout=30) for f in futures]
    assert batcher.batches == [10, 5]  # the second request fills the first batch past 8; the third waits


def test_a_full_queue_refuses_at_once_with_retry_after(blocked):
    batcher, _ = blocked
    for _ in range(4):
        batcher.submit(np.ones((1, 1)))
    with pytest.raises(ServiceBusyError) as refused:
        batcher.submit(np.ones((1, 1)))
    assert refused.value.status == 503 and refused.value.retry_after >= 1


def test_a_request_past_its_time_limit_is_dropped_not_computed(hold_worker):
    batcher = MicroBatcher(doubling, queue_size=4, timeout_s=0.05)
    release = hold_worker(batcher)
    try:
        future = batcher.submit(np.ones((1, 1)))
        with pytest.raises(ServiceBusyError) as late:
            asyncio.run(batcher.result(future))
        assert late.value.status == 504 and future.cancelled()
    finally:
        release.set()
        batcher.stop()


def test_a_failing_forward_pass_fails_its_requests_and_the_worker_lives_on():
    calls = []

    def flaky(images):
        calls.append(len(images))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return doubling(images)

    batcher = MicroBatcher(flaky, max_wait_s=0.0)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            batcher.submit(np.ones((1, 1))).result(timeout=30)
        assert batcher.submit(np.ones((1, 1))).result(timeout=30)["double"].tolist() == [[2.0]]
    finally:
        batcher.stop()
