"""A tiny server speaking just enough of the PostgreSQL protocol to read a client's password.

It answers the SSL request with "no", asks for a cleartext password, records
the user and password the client sends, then refuses the login. This proves
what password a DSN really decodes to, even where the real server trusts
every local connection and would ignore it.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

SSL_REQUEST_CODE = 80877103
AUTH_CLEARTEXT = 3


@dataclass
class PasswordProbe:
    """Listens on 127.0.0.1; ``logins`` collects (user, password) pairs."""

    logins: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            params = await self._startup(reader, writer)
            writer.write(b"R" + struct.pack("!ii", 8, AUTH_CLEARTEXT))
            await writer.drain()
            kind = await reader.readexactly(1)
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            if kind == b"p":
                self.logins.append((params.get("user", ""), body.rstrip(b"\x00").decode()))
            error = b"SFATAL\x00C28P01\x00Mprobe refuses every login\x00\x00"
            writer.write(b"E" + struct.pack("!i", len(error) + 4) + error)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client gave up; nothing to record
        finally:
            writer.close()

    async def _startup(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, str]:
        while True:
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            payload = await reader.readexactly(length - 4)
            (code,) = struct.unpack("!i", payload[:4])
            if code == SSL_REQUEST_CODE:
                writer.write(b"N")
                await writer.drain()
                continue
            parts = payload[4:].split(b"\x00")
            return {
                parts[i].decode(): parts[i + 1].decode()
                for i in range(0, len(parts) - 1, 2)
                if parts[i]
            }
