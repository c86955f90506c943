"""Fixtures: one private nats-server (JetStream), one simulator and one `serve` for the
session; a fresh client per test; faults reset and unfinished jobs cancelled after each test,
so no test depends on another's leftovers or on the order they run in."""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from chorus_visual import ChorusVisual, ChorusVisualError

from .processes import Service, Simulator, start_nats

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chorus-visual-py")


@pytest.fixture(scope="session")
def nats_url(root: Path) -> Iterator[str]:
    proc, url = start_nats(root / "nats")
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def simulator(root: Path) -> Iterator[Simulator]:
    sim = Simulator(root / "comfy" / "output")
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def service(root: Path, nats_url: str, simulator: Simulator) -> Iterator[Service]:
    svc = Service(root / "service", nats_url, simulator)
    yield svc
    svc.stop()


@pytest.fixture
async def client(service: Service, nats_url: str, simulator: Simulator) -> AsyncIterator[ChorusVisual]:
    cv = await ChorusVisual.connect(nats_url, name="pytest")
    try:
        yield cv
    finally:
        simulator.reset()
        await _cancel_unfinished(cv)
        await cv.close()


@pytest.fixture
def conversation() -> str:
    """A conversation id of its own per test: folders and event subjects never overlap."""
    return f"py-{os.getpid()}-{next(_counter)}"


async def _cancel_unfinished(cv: ChorusVisual) -> None:
    page = await cv.list(state=["queued", "submitted", "processing", "moving"], limit=500)
    for job in page.jobs:
        try:
            await cv.cancel(job.id)
        except ChorusVisualError:
            pass  # finished in the meantime
    for job in page.jobs:
        await asyncio.wait_for(cv.wait(job.id), 30)
