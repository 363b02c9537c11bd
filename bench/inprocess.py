"""Per-message CPU of the echo path in one process, without sockets: an A/B tool.

    python -m bench.inprocess                      # 32 B text and 64 KiB binary
    python -m bench.inprocess --size 1000 --binary

The socket benchmarks (``python -m bench``) swing by 2x between rounds on a shared
machine, and most of their time is the kernel's (the system calls, copying to and from
the socket).  This measures only what runs in Python: frames are handed to a
``WebSocket`` the way asyncio's transport hands them (``buffer_updated``), an endpoint
coroutine echoes each message (``async for msg in sock: await sock.send(msg)``) into a
transport that discards what it is given, and the loop turns once per message.  It
reports microseconds per message, the best of several repetitions, for three variants:

- ``loop``: the driver alone (one turn of the event loop per message);
- ``asyncio-floor``: the least a task-per-connection design can do on asyncio: a
  protocol that unmasks a frame and resolves one future, a task that wakes and writes;
- ``ours``: a real ``ws.WebSocket`` with its ``Connection``, default options.

``ours - loop`` against ``asyncio-floor - loop`` is what the library adds to the wake-up
that any awaitable socket pays.  Nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ws.connection import Options, WebSocket, recv_buffer  # noqa: E402
from ws.frames import Opcode, apply_mask, serialize_frame  # noqa: E402
from ws.protocol import Connection, Side  # noqa: E402

MAX_MESSAGES = 1_000_000  # bounds every loop here


class _NullTransport(asyncio.Transport):
    """Counts writes and discards them; never pauses."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: object) -> None:
        self.writes += 1

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 0) if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return 0


class _Floor(asyncio.BufferedProtocol):
    """The asyncio floor: unmask each (small, whole, masked) frame, queue it, resolve
    one future; a task takes it and writes a frame back."""

    def __init__(self, transport: _NullTransport) -> None:
        self.transport = transport
        self.queue: collections.deque[tuple[int, bytes]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.buffer = memoryview(bytearray(1 << 18))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = self.buffer[:nbytes]
        b0, b1 = data[0], data[1] & 0x7F
        pos = 2 if b1 < 126 else 4 if b1 == 126 else 10
        self.queue.append((b0, apply_mask(data[pos + 4 :], bytes(data[pos : pos + 4]))))
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self.queue:
                self.waiter = loop.create_future()
                await self.waiter
                self.waiter = None
            b0, payload = self.queue.popleft()
            size = len(payload)
            head = bytes((b0, size)) if size < 126 else bytes((b0, 126)) + size.to_bytes(2, "big") if size < 65536 else bytes((b0, 127)) + size.to_bytes(8, "big")
            self.transport.write(head + payload)


async def _drive(feed: Callable[[], None], messages: int, repeat: int) -> float:
    """Best seconds per message: *feed* one frame, let the loop turn once."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(messages):
            feed()
            await asyncio.sleep(0)
        best = min(best, (time.perf_counter() - start) / messages)
    return best


async def measure(size: int, binary: bool, messages: int, repeat: int) -> dict[str, float]:
    """Microseconds per message for each variant (see the module docstring)."""
    opcode = Opcode.BINARY if binary else Opcode.TEXT
    frame = serialize_frame(opcode, os.urandom(size) if binary else b"a" * size, mask=True)
    results = {"loop": await _drive(lambda: None, messages, repeat)}

    transport = _NullTransport()
    floor = _Floor(transport)
    floor.buffer[: len(frame)] = frame
    task = asyncio.create_task(floor.run())
    await asyncio.sleep(0)
    results["asyncio-floor"] = await _drive(lambda: floor.buffer_updated(len(frame)), messages, repeat)
    task.cancel()
    floor_writes = transport.writes

    transport = _NullTransport()
    sock = WebSocket(Connection(Side.SERVER, max_message_size=max(2**20, size)), options=Options())
    sock.connection_made(transport)

    async def echo() -> None:
        async for msg in sock:
            await sock.send(msg)

    task = asyncio.create_task(echo())
    await asyncio.sleep(0)
    buffer = sock.get_buffer(-1)
    if buffer is not recv_buffer() or len(frame) > len(buffer):
        raise RuntimeError("the frame does not fit the shared receive buffer")
    buffer[: len(frame)] = frame
    results["ours"] = await _drive(lambda: sock.buffer_updated(len(frame)), messages, repeat)
    task.cancel()
    sock.connection_lost(None)
    if transport.writes != floor_writes or transport.writes < messages * repeat:
        raise RuntimeError(f"echoes missing: ours {transport.writes}, floor {floor_writes}")
    return {name: seconds * 1e6 for name, seconds in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append", help="payload bytes (repeatable)")
    parser.add_argument("--binary", action="store_true", help="binary messages (default: text, 32 B and 64 KiB binary)")
    parser.add_argument("--messages", type=int, default=100_000, help="messages per repetition")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions; the best is reported")
    args = parser.parse_args(argv)
    if not (0 < args.messages <= MAX_MESSAGES and 0 < args.repeat <= 20):
        parser.error("--messages must be 1..1,000,000 and --repeat 1..20")
    cases = [(size, args.binary) for size in args.size] if args.size else [(32, False), (65536, True)]
    print(f"{'message':<16} {'loop':>8} {'asyncio-floor':>14} {'ours':>8} {'floor-loop':>11} {'ours-loop':>10}  (us per message)")
    for size, binary in cases:
        if not 0 <= size <= 200_000:
            parser.error("--size must be 0..200,000 (the frame must fit the receive buffer)")
        messages = args.messages if size < 4096 else max(1, args.messages // 10)
        r = asyncio.run(measure(size, binary, messages, args.repeat))
        label = f"{size} B {'binary' if binary else 'text'}"
        print(
            f"{label:<16} {r['loop']:>8.2f} {r['asyncio-floor']:>14.2f} {r['ours']:>8.2f}"
            f" {r['asyncio-floor'] - r['loop']:>11.2f} {r['ours'] - r['loop']:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
