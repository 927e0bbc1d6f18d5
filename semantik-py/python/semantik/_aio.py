"""asyncio support of ``Operation``: ``await op`` and ``async for event in op``.

The blocking waits run in the running loop's default executor, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


async def wait(op: Any, timeout: float | None = None) -> dict[str, Any]:
    """Waits for ``op`` without blocking the loop; returns ``op.info()``."""
    from semantik.exceptions import OperationTimeoutError

    # Waits in slices, so that a cancelled task leaves no executor thread blocked for long.
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        left = 0.5 if deadline is None else max(0.0, min(0.5, deadline - loop.time()))
        try:
            return await loop.run_in_executor(None, op.wait, left)
        except OperationTimeoutError as e:
            if e.code != 231 or (deadline is not None and loop.time() >= deadline):
                raise


async def events(op: Any) -> AsyncIterator[dict[str, Any]]:
    """The events of ``op``, each received without blocking the loop."""
    loop = asyncio.get_running_loop()
    stream = op.events()
    while True:
        closed = stream.closed
        event = await loop.run_in_executor(None, stream.next, 0.5)
        if event is not None:
            yield event
        elif closed:
            # Closed before the wait and nothing came: every event has been read.
            return
