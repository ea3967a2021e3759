"""Counts database round trips on the wire: a TCP proxy in front of PostgreSQL.

The proxy reads the frontend side of the PostgreSQL protocol (what the application sends) and
counts the messages after which the client waits for the server: a simple `Query` ('Q': what
asyncpg sends for `BEGIN;`, `COMMIT;`, `ROLLBACK;`) and a `Sync` ('S': the end of an
extended-protocol exchange — Parse/Bind/Describe/Execute pipelined, one round trip). Each is
one round trip, whatever the driver or ORM above it does, and it counts what the server's log
does not show (an empty `;` ping, a Parse of a statement not yet prepared).

TLS is refused at the proxy (it answers an `SSLRequest` with 'N'), so the bytes stay readable;
the proxy runs on 127.0.0.1 for the counting phase only, never under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


@dataclass
class WireCounts:
    round_trips: int = 0
    simple: Counter[str] = field(default_factory=Counter)  # 'Q' texts
    extended: int = 0  # 'S' (Sync)
    parses: int = 0  # 'P' (statements prepared)

    def snapshot(self) -> WireCounts:
        return WireCounts(self.round_trips, Counter(self.simple), self.extended, self.parses)

    def since(self, before: WireCounts) -> WireCounts:
        return WireCounts(
            self.round_trips - before.round_trips,
            self.simple - before.simple,
            self.extended - before.extended,
            self.parses - before.parses,
        )


class WireCounter:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.counts = WireCounts()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1") -> int:
        self._server = await asyncio.start_server(self._serve, host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            # Startup: length-prefixed, no type byte; SSL/GSS requests first, refused here.
            while True:
                head = await client_r.readexactly(8)
                length, code = struct.unpack("!ii", head)
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    client_w.write(b"N")
                    await client_w.drain()
                    continue
                startup = head + await client_r.readexactly(length - 8)
                break
            server_r, server_w = await asyncio.open_connection(*self.upstream)
            server_w.write(startup)
            await server_w.drain()
            await asyncio.gather(self._frontend(client_r, server_w), self._pipe(server_r, client_w))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            client_w.close()

    async def _frontend(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                kind = await reader.readexactly(1)
                (length,) = struct.unpack("!i", await reader.readexactly(4))
                body = await reader.readexactly(length - 4)
                if kind == b"Q":
                    self.counts.round_trips += 1
                    self.counts.simple[body.rstrip(b"\x00").decode(errors="replace")] += 1
                elif kind == b"S":
                    self.counts.round_trips += 1
                    self.counts.extended += 1
                elif kind == b"P":
                    self.counts.parses += 1
                writer.write(kind + struct.pack("!i", length) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
