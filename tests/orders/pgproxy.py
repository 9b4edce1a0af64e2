"""A small TCP proxy of the tests' own in front of PostgreSQL that cuts a
connection right before or right after a transaction's COMMIT.

It reads the PostgreSQL frontend protocol only as far as it needs to: message
framing, and the SQL text of simple (``Q``) and extended (``P``, parse) queries.
A cut is armed for the next transaction whose statements contain a marker (for
example ``INSERT INTO "orders_order"``):

* ``before_commit``: the COMMIT is never sent; both sockets close. PostgreSQL
  sees its client gone and rolls the transaction back.
* ``after_commit``: the COMMIT reaches PostgreSQL, which commits; its answer is
  dropped and both sockets close. The client cannot know that it committed.

Django must connect without TLS (``sslmode=disable``) so that the bytes can be
read. Use ``proxied_database()`` to point the default database at a proxy for
the length of a ``with`` block (every thread's connection shares the settings).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

from django.db import connection

BEFORE_COMMIT = "before_commit"
AFTER_COMMIT = "after_commit"
_SPECIAL_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest


def _query_text(kind: bytes, body: bytes) -> bytes | None:
    if kind == b"Q":
        return body.split(b"\x00", 1)[0]
    if kind == b"P":
        parts = body.split(b"\x00", 2)
        return parts[1] if len(parts) > 1 else None
    return None


class _Session:
    """One client connection and its server connection, pumped by two threads."""

    def __init__(self, proxy: PgProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = socket.create_connection(proxy.target, timeout=None)
        self.in_startup = True
        self.marked = False  # the open transaction ran a statement with the marker
        self.drop_answer = False
        self.closed = threading.Event()

    def start(self) -> None:
        for pump in (self._client_to_server, self._server_to_client):
            threading.Thread(target=pump, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _messages(self, buffer: bytearray) -> Iterator[tuple[bytes, bytes, bytes]]:
        """Complete frontend messages in ``buffer`` as (kind, body, raw bytes)."""
        while True:
            if self.in_startup:
                if len(buffer) < 8:
                    return
                (length,) = struct.unpack("!I", buffer[:4])
                if len(buffer) < length:
                    return
                raw = bytes(buffer[:length])
                del buffer[:length]
                (code,) = struct.unpack("!I", raw[4:8])
                if code not in _SPECIAL_REQUESTS:
                    self.in_startup = False
                yield b"", raw[4:], raw
                continue
            if len(buffer) < 5:
                return
            (length,) = struct.unpack("!I", buffer[1:5])
            if len(buffer) < 1 + length:
                return
            raw = bytes(buffer[: 1 + length])
            del buffer[: 1 + length]
            yield raw[:1], raw[5:], raw

    def _client_to_server(self) -> None:
        buffer = bytearray()
        try:
            while not self.closed.is_set():
                data = self.client.recv(65536)
                if not data:
                    break
                buffer += data
                out = bytearray()
                for kind, body, raw in self._messages(buffer):
                    sql = _query_text(kind, body)
                    if sql is not None:
                        statement = sql.strip().upper()
                        if self.proxy.marker in sql:
                            self.marked = True
                        cut = None
                        if statement == b"COMMIT" and self.marked:
                            cut = self.proxy.take_cut()
                        if statement in (b"COMMIT", b"ROLLBACK"):
                            self.marked = False
                        if cut == BEFORE_COMMIT:
                            self.close()
                            return
                        if cut == AFTER_COMMIT:
                            self.drop_answer = True
                    out += raw
                if out:
                    self.server.sendall(out)
        except OSError:
            pass
        self.close()

    def _server_to_client(self) -> None:
        try:
            while not self.closed.is_set():
                data = self.server.recv(65536)
                if not data:
                    break
                if self.drop_answer:
                    # The COMMIT went through; its answer (CommandComplete "COMMIT")
                    # never reaches the client.
                    if b"COMMIT\x00" in data:
                        self.proxy.cut_done.set()
                        break
                    continue
                self.client.sendall(data)
        except OSError:
            pass
        self.close()


class PgProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.marker = b"\x00never\x00"
        self.cuts = 0
        self.cut_done = threading.Event()
        self._armed: str | None = None
        self._lock = threading.Lock()
        self._sessions: list[_Session] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> PgProxy:
        self._thread.start()
        return self

    def arm(self, when: str, *, marker: bytes) -> None:
        """Cut the next transaction that runs a statement containing ``marker``."""
        if when not in (BEFORE_COMMIT, AFTER_COMMIT):
            raise ValueError(when)
        with self._lock:
            self._armed, self.marker = when, marker
            self.cut_done.clear()

    def take_cut(self) -> str | None:
        with self._lock:
            armed, self._armed = self._armed, None
            if armed is not None:
                self.cuts += 1
                if armed == BEFORE_COMMIT:
                    self.cut_done.set()
            return armed

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            session = _Session(self, client)
            self._sessions.append(session)
            session.start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()
        for session in self._sessions:
            session.close()


@contextlib.contextmanager
def proxied_database() -> Iterator[PgProxy]:
    """Point the default database at a fresh proxy; put it back afterwards."""
    settings_dict = connection.settings_dict
    saved = {key: settings_dict.get(key) for key in ("HOST", "PORT", "OPTIONS")}
    proxy = PgProxy(
        settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)
    )
    proxy.start()
    connection.close()
    settings_dict.update(
        HOST="127.0.0.1",
        PORT=str(proxy.port),
        OPTIONS={
            **(saved["OPTIONS"] or {}),
            "sslmode": "disable",
            "gssencmode": "disable",
        },
    )
    try:
        yield proxy
    finally:
        connection.close()
        settings_dict.update(saved)
        proxy.stop()
