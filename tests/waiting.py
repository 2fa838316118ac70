"""Polling helper shared by the live tests: wait (never sleep a fixed time) for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_for(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.01) -> None:
    """Return once ``pred()`` holds; ``TimeoutError(what)`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(interval)
