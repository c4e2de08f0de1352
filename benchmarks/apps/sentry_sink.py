"""A local stand-in for a Sentry server: accepts envelopes, counts and discards them.

``python -m benchmarks.apps.sentry_sink PORT``; ``GET /count`` answers how many
envelopes arrived. Keeps the sentry-sdk reference column free of network effects.
"""

from __future__ import annotations

import asyncio
import sys

OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Sink:
    """Counts POSTed envelopes per process."""

    def __init__(self) -> None:
        self.envelopes = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one keep-alive connection until the client closes it."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in header_lines:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                if request_line.startswith("GET /count"):
                    body = str(self.envelopes).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
                else:
                    self.envelopes += 1
                    writer.write(OK_RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def serve(port: int) -> None:
    """Listen on 127.0.0.1:``port`` forever."""
    sink = Sink()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
