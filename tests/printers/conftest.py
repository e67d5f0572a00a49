"""Adapter tests talk to simulators over real sockets on 127.0.0.1.

The Prusa fixtures live here because four modules share them; the Bambu modules define their
own `sim` and `adapter`, which take precedence there.
"""

from collections.abc import AsyncIterator

import aiohttp
import pytest

from custom_components.printernizer.printers.prusa.adapter import PrusaAdapter
from simulator.prusa import PrusaSimulator

from .test_prusa_adapter import FAST, config_for


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """Every adapter test uses real loopback sockets."""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture(params=["buddy", "pi"])
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sim(family: str) -> AsyncIterator[PrusaSimulator]:
    async with PrusaSimulator(family=family, speed=600, hang_seconds=5) as simulator:
        yield simulator


@pytest.fixture
async def adapter(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> AsyncIterator[PrusaAdapter]:
    printer = PrusaAdapter(config_for(sim), session, FAST)
    await printer.start()
    yield printer
    await printer.stop()
