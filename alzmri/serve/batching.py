"""Micro-batching: one worker thread owns the model; concurrent requests share its forward passes.

A request puts its slices on a bounded queue and waits. The worker takes the first waiting request, then for a
few milliseconds (``max_wait_s``) takes more until ``max_batch`` slices are gathered, runs the model once on all
of them and hands each request its own rows. On a CPU a batch of 16 slices costs far less than 16 batches of one,
so under load the server answers close to the speed of the bare model; alone, a request waits only those few
milliseconds. A full queue refuses at once (503 with Retry-After: a burst cannot pile up memory) and a request
that waits past its time limit is dropped (504) without being computed.

Other work on the model (Grad-CAM) goes through the same queue as a call of its own, so the model is only ever
used by the worker thread.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from alzmri.errors import ServiceBusyError

Rows = dict[str, np.ndarray]  # row-aligned outputs of a forward pass, by name


@dataclass
class _Job:
    """A queued request: slices to batch (``images``) or a call to run alone (``call``), and its answer."""

    images: np.ndarray | None = None
    call: Callable[[], Any] | None = None
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """A bounded queue in front of a worker thread that runs ``forward`` on batches gathered from many requests.

    Args:
        forward: a batch of images (n, ...) to a dict of arrays with n rows each.
        max_batch: slices gathered before a batch runs without waiting longer.
        max_wait_s: how long the worker waits for more requests after the first.
        queue_size: requests that may wait; one more is refused (:class:`ServiceBusyError`, 503).
        timeout_s: each request's time limit, queueing included (:class:`ServiceBusyError`, 504).
        retry_after: the seconds a refused client is told to wait (``Retry-After``).
    """

    def __init__(self, forward: Callable[[np.ndarray], Rows], max_batch: int = 32, max_wait_s: float = 0.005,
                 queue_size: int = 64, timeout_s: float = 30.0, retry_after: int = 1):
        self.forward, self.max_batch, self.max_wait_s = forward, max_batch, max_wait_s
        self.timeout_s, self.retry_after = timeout_s, retry_after
        self._queue: queue.Queue[_Job] = queue.Queue(maxsize=max(1, queue_size))
        self._held: _Job | None = None
        self._stopping = threading.Event()
        self.batches: list[int] = []  # slices per batch run, the latest few (for tests and the benchmark)
        self._thread = threading.Thread(target=self._work, name="alzmri-batcher", daemon=True)
        self._thread.start()

    def submit(self, images: np.ndarray) -> Future:
        """Queue slices for the model; the future's result is their rows of ``forward``'s output.

        Raises:
            ServiceBusyError: the queue is full (503).
        """
        return self._put(_Job(images=np.asarray(images)))

    def submit_call(self, call: Callable[[], Any]) -> Future:
        """Queue ``call`` to run alone on the worker thread (work that needs the model but is no forward pass).

        Raises:
            ServiceBusyError: the queue is full (503).
        """
        return self._put(_Job(call=call))

    async def result(self, future: Future) -> Any:
        """Await a queued job's answer within the time limit; past it the job is cancelled.

        Raises:
            ServiceBusyError: no answer within ``timeout_s`` (504).
        """
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise ServiceBusyError(f"no answer within the time limit of {self.timeout_s:g} s (the server is busy): "
                                   "try again shortly", 504, self.retry_after) from None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker after the batch it is running; jobs still queued are cancelled."""
        self._stopping.set()
        self._thread.join(timeout)
        if self._held is not None:
            self._held.future.cancel()
        while True:
            try:
                self._queue.get_nowait().future.cancel()
            except queue.Empty:
                return

    def _put(self, job: _Job) -> Future:
        """Queue a job, or refuse it at once when the queue is full."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ServiceBusyError(f"the server is busy ({self._queue.maxsize} requests waiting): try again shortly",
                                   503, self.retry_after) from None
        return job.future

    def _next(self, timeout: float) -> _Job | None:
        """The next job (one held back from the last batch first), waiting up to ``timeout`` s; None if none."""
        if self._held is not None:
            job, self._held = self._held, None
            return job
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _work(self) -> None:
        """The worker: run calls alone, and gather slices into batches until stopped."""
        while not self._stopping.is_set():
            job = self._next(0.1)
            if job is None:
                continue
            if job.call is not None:
                self._run_call(job)
            else:
                self._run_batch(self._gather(job))

    def _gather(self, first: _Job) -> list[_Job]:
        """``first`` and the slice jobs that arrive within ``max_wait_s``, taken until ``max_batch`` slices are
        gathered (whole requests: the last one taken may carry the batch past it)."""
        jobs, count = [first], len(first.images)
        deadline = time.monotonic() + self.max_wait_s
        while count < self.max_batch:
            job = self._next(deadline - time.monotonic())
            if job is None:
                break
            if job.call is not None:
                self._held = job  # runs alone, after this batch
                break
            jobs.append(job)
            count += len(job.images)
        return jobs

    def _run_batch(self, jobs: list[_Job]) -> None:
        """One forward pass over the live jobs' slices; each job gets its own rows (or the error)."""
        live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        sizes = [len(job.images) for job in live]
        try:
            rows = self.forward(np.concatenate([job.images for job in live]))
        except Exception as err:  # noqa: BLE001 -- handed to every waiting request, the worker lives on
            for job in live:
                job.future.set_exception(err)
            return
        self.batches = (self.batches + [sum(sizes)])[-1000:]
        start = 0
        for job, size in zip(live, sizes):
            job.future.set_result({name: values[start:start + size] for name, values in rows.items()})
            start += size

    @staticmethod
    def _run_call(job: _Job) -> None:
        """Run a call job; its result or exception goes to its future."""
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(job.call())
        except Exception as err:  # noqa: BLE001 -- handed to the waiting request, the worker lives on
            job.future.set_exception(err)
