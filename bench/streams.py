"""Event-stream clients for the benchmarks: many SSE streams on one event loop, each receipt's delay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx


async def fan_out(
    url: str, token: str, count: int, rounds: int, publish: Callable[[int], None]
) -> list[float]:
    """``count`` streams; ``publish(i)`` ``rounds`` times, a second apart; each receipt's delay (s)."""
    delays: list[float] = []
    ready = 0
    async with httpx.AsyncClient(
        base_url=url, limits=httpx.Limits(max_connections=count + 5), timeout=60
    ) as c:

        async def listen() -> None:
            nonlocal ready
            headers = {"Authorization": f"Bearer {token}"}
            async with c.stream("GET", "/api/v1/events", headers=headers) as response:
                seen = 0
                async for line in response.aiter_lines():
                    if line.startswith(": connected"):
                        ready += 1
                    if line.startswith("data: ") and '"bench-' in line:
                        sent = float(line.split('"sent":', 1)[1].split(",", 1)[0].split("}", 1)[0])
                        delays.append(time.time() - sent)
                        seen += 1
                        if seen == rounds:
                            return

        tasks = [asyncio.create_task(listen()) for _ in range(count)]
        deadline = time.monotonic() + 60
        while ready < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if ready < count:
            raise SystemExit(f"only {ready} of {count} streams connected")
        for i in range(rounds):
            await asyncio.sleep(1.0)
            publish(i)
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        except TimeoutError:
            for task in tasks:
                task.cancel()
    return delays
