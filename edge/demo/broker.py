"""A tiny MQTT 5 broker for `dwell demo` on a machine with no broker and no mosquitto.

Only what the demo's two clients use: CONNECT (with a last will), SUBSCRIBE/UNSUBSCRIBE with
``+``/``#`` filters, PUBLISH at QoS 0/1 (PUBACK; properties such as the message expiry are
passed on as they came), retained messages, PINGREQ, DISCONNECT. No persistence, no
authentication, no QoS 2, loopback only. It exists so that a newcomer sees the whole loop
without installing anything; a shop runs mosquitto (deploy/mosquitto/). The pure-Python
brokers on PyPI (amqtt) speak MQTT 3.1.1 only, and dwell speaks MQTT 5.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return len(data).to_bytes(2, "big") + data


class _Buf:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u8(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        self.pos += 2
        return int.from_bytes(self.data[self.pos - 2:self.pos], "big")

    def bin(self) -> bytes:
        n = self.u16()
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def text(self) -> str:
        return self.bin().decode()

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    def props(self) -> bytes:
        n = self.varint()
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def rest(self) -> bytes:
        return self.data[self.pos:]

    def more(self) -> bool:
        return self.pos < len(self.data)


def topic_matches(pattern: str, topic: str) -> bool:
    parts, levels = pattern.split("/"), topic.split("/")
    for i, part in enumerate(parts):
        if part == "#":
            return True
        if i >= len(levels) or part not in ("+", levels[i]):
            return False
    return len(parts) == len(levels)


@dataclass(eq=False)
class _Conn:
    writer: asyncio.StreamWriter
    subs: dict[str, int] = field(default_factory=dict)
    next_id: int = 0

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, props: bytes) -> None:
        pid = b""
        if qos:
            self.next_id = self.next_id % 65535 + 1
            pid = self.next_id.to_bytes(2, "big")
        body = _str(topic) + pid + _varint(len(props)) + props + payload
        self.send(bytes([0x30 | qos << 1 | int(retain)]) + _varint(len(body)) + body)


Message = tuple[str, bytes, int, bool, bytes]  # topic, payload, qos, retain, properties


class EmbeddedBroker:
    """``start()`` serves on a free loopback port in a thread of its own; ``stop()`` ends it."""

    def __init__(self) -> None:
        self.port = 0
        self._conns: set[_Conn] = set()
        self._retained: dict[str, Message] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddedBroker:
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = int(server.sockets[0].getsockname()[1])
            ready.set()
            loop.run_forever()
            server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=serve, name="demo-broker", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer)
        will: Message | None = None
        clean = False
        try:
            while True:
                first = (await reader.readexactly(1))[0]
                length, shift = 0, 0
                while True:
                    byte = (await reader.readexactly(1))[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = _Buf(await reader.readexactly(length))
                kind = first >> 4
                if kind == 1:
                    will = self._connect(conn, body)
                    self._conns.add(conn)
                elif kind == 3:
                    self._publish(conn, first, body)
                elif kind == 8:
                    self._subscribe(conn, body)
                elif kind == 10:
                    pid = body.u16()
                    body.props()
                    count = 0
                    while body.more():
                        conn.subs.pop(body.text(), None)
                        count += 1
                    conn.send(bytes([0xB0]) + _varint(3 + count) + pid.to_bytes(2, "big")
                              + b"\x00" + b"\x00" * count)
                elif kind == 12:
                    conn.send(b"\xd0\x00")
                elif kind == 14:
                    clean = True
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, UnicodeDecodeError):
            pass
        finally:
            self._conns.discard(conn)
            if will is not None and not clean:
                self._route(will)
            with contextlib.suppress(Exception):
                writer.close()

    def _connect(self, conn: _Conn, body: _Buf) -> Message | None:
        body.text()  # "MQTT"
        level, flags = body.u8(), body.u8()
        if level != 5:
            conn.send(b"\x20\x03\x00\x84\x00")  # unsupported protocol version
            raise ConnectionError("not MQTT 5")
        body.u16()
        body.props()
        body.text()  # client id
        will = None
        if flags & 0x04:
            body.props()  # will properties (delay etc.): not applied
            will = (body.text(), body.bin(), flags >> 3 & 3, bool(flags & 0x20), b"")
        conn.send(b"\x20\x03\x00\x00\x00")
        return will

    def _publish(self, conn: _Conn, first: int, body: _Buf) -> None:
        qos, retain = first >> 1 & 3, bool(first & 1)
        topic = body.text()
        pid = body.u16() if qos else 0
        props = body.props()
        self._route((topic, body.rest(), qos, retain, props))
        if qos:
            conn.send(b"\x40\x02" + pid.to_bytes(2, "big"))

    def _route(self, msg: Message) -> None:
        topic, payload, qos, retain, props = msg
        if retain:
            if payload:
                self._retained[topic] = msg
            else:
                self._retained.pop(topic, None)
        for other in list(self._conns):
            granted = [q for f, q in other.subs.items() if topic_matches(f, topic)]
            if granted:
                other.publish(topic, payload, min(qos, max(granted)), False, props)

    def _subscribe(self, conn: _Conn, body: _Buf) -> None:
        pid = body.u16()
        body.props()
        codes = bytearray()
        new: list[str] = []
        while body.more():
            pattern, qos = body.text(), min(body.u8() & 3, 1)
            conn.subs[pattern] = qos
            codes.append(qos)
            new.append(pattern)
        conn.send(bytes([0x90]) + _varint(3 + len(codes)) + pid.to_bytes(2, "big") + b"\x00"
                  + bytes(codes))
        for topic, msg in list(self._retained.items()):
            if any(topic_matches(p, topic) for p in new):
                conn.publish(topic, msg[1], min(msg[2], conn.subs[next(
                    p for p in new if topic_matches(p, topic))]), True, msg[4])
