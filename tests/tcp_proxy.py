"""A TCP forwarder to stand between the app and PostgreSQL, so a test can cut the network
(and every open connection) and bring it back, as a database restart or outage would; or
black-hole it: every connection stays open and nothing is forwarded any more, as with a
database that hangs."""
from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._listener.close()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._server: socket.socket | None = None
        self._holed = threading.Event()

    def start(self) -> None:
        """Accept connections on `port` and forward them to the target."""
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()

    def black_hole(self) -> None:
        """From now on forward nothing, either way, but keep every connection open, and
        accept new ones that get nothing either."""
        self._holed.set()

    def stop(self) -> None:
        """Refuse new connections and break every open one."""
        if self._server is not None:
            # wakes the thread blocked in accept(), which close() alone would not
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()
        self._holed.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:  # stopped
                return
            if self._holed.is_set():
                with self._lock:
                    self._open.append(client)  # open, and never answered
                continue
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        _pipe(source, sink, self._holed)


def _pipe(source: socket.socket, sink: socket.socket, holed: threading.Event) -> None:
    try:
        while data := source.recv(65536):
            if not holed.is_set():
                sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
