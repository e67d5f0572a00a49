"""Closing an asyncio server without CPython 3.13.0's accept race.

A connection the loop accepted just before `Server.close()` attaches to the server one step
later and then trips an assertion in `Server._attach` (the server's sockets are already gone),
which HA's test harness reports as an error. Stopping to accept first and closing one loop step
later lets every accepted connection attach (and be closed with the rest).
"""

from __future__ import annotations

import asyncio


def close_server(server: asyncio.Server, *, abort_clients: bool = False) -> None:
    """Stop accepting now; close (and abort the clients, if asked) on the next loop step."""
    loop = asyncio.get_running_loop()
    for sock in server.sockets:
        loop.remove_reader(sock.fileno())

    def close() -> None:
        server.close()
        if abort_clients:
            server.abort_clients()

    loop.call_soon(close)


async def closed_server(server: asyncio.Server) -> None:
    """`close_server`, returning once the server is closed (its clients may still be open)."""
    close_server(server)
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def abort_clients(clients: dict[asyncio.StreamWriter, asyncio.Task[None]]) -> None:
    """Cut every client off without a goodbye (a rebooting printer) and wait for their tasks."""
    for writer in list(clients):
        writer.transport.abort()
    await asyncio.gather(*clients.values(), return_exceptions=True)
