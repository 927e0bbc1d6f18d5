"""asyncio support of ``Operation``: ``await op`` and ``async for event in op``.

The blocking waits run in the running loop's default executor, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


async def wait(op: Any, timeout: float | None = None) -> dict[str, Any]:
    """Waits for ``op`` without blocking the loop; returns ``op.info()``."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, op.wait, timeout)


async def events(op: Any) -> AsyncIterator[dict[str, Any]]:
    """The events of ``op``, each received without blocking the loop."""
    loop = asyncio.get_running_loop()
    stream = op.events()
    while True:
        event = await loop.run_in_executor(None, stream.next, 0.5)
        if event is not None:
            yield event
        elif stream.closed:
            return
