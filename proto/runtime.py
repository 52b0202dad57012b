"""An asyncio event loop in a thread of its own, for the grpc.aio servers and channels.

The coordinator and node servers are grpc.aio servers: one event loop carries every call,
so a fan-out to 400 nodes costs no thread per call. The code that starts them is
synchronous (the CLI's serve commands, the web app's process, the test Harness, the
benchmark's in-process servers), so each server runs its loop in a `LoopThread` and offers
start/stop/reload as plain methods. Several servers of one process may share one loop (the
benchmark runs many nodes per process). Blocking work (crypto, SQLite) started from the
loop goes to the loop's default executor, a bounded thread pool, never onto the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# Threads for blocking work per loop: a Lookup's crypto and SQLite read, a coordinator's
# evaluation, audit record and rate-limit window. As many as the sync servers had.
DEFAULT_WORKERS = 16


class LoopThread:
    """A running event loop in a daemon thread; `run` hands it a coroutine and waits."""

    def __init__(self, name: str = "aio", workers: int = DEFAULT_WORKERS) -> None:
        self.loop = asyncio.new_event_loop()
        self.executor = ThreadPoolExecutor(max_workers=workers,
                                           thread_name_prefix=f"{name}-work")
        self.loop.set_default_executor(self.executor)
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coroutine` on the loop and return its result (from any other thread)."""
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("LoopThread.run called on its own loop: await instead")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel what still runs on the loop, stop it and its executor, join the thread."""
        if not self.running:
            return

        async def cancel_rest() -> None:
            current = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        try:
            self.run(cancel_rest(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            self.executor.shutdown(wait=True, cancel_futures=False)
            if not self._thread.is_alive():
                self.loop.close()


async def in_executor(function: Callable[..., T], *args: object) -> T:
    """`function(*args)` in the running loop's executor (blocking work off the loop)."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)
