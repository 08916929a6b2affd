"""A tiny TCP proxy for fault tests: forward, cut every connection, or blackhole traffic."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpProxy:
    """Listens on 127.0.0.1:<port> and forwards to `target`.

    `cut()` closes every connection and refuses new ones (a crashed or unreachable server);
    `blackhole()` keeps connections open but silently drops their bytes (a dead network);
    `strand()` does that for good to the connections open now, while new ones forward (a
    middlebox that lost their state); `restore()` goes back to forwarding.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "forward"
        self._generation = 0  # pairs made before strand() are of an older generation
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._stopping = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        return listener

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                if self._stopping:
                    return
                with self._lock:  # cut(): wait for restore() to listen again
                    listener = self._listener
                if listener.fileno() == -1:
                    threading.Event().wait(0.05)
                continue
            if self.mode == "cut":  # raced with cut(): refuse like a dead server
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if (
                    self.mode == "cut"
                ):  # cut() ran while we dialled upstream: it never saw this pair
                    for sock in (client, upstream):
                        sock.close()
                    continue
                self._pairs.append((client, upstream))
            generation = self._generation
            threading.Thread(
                target=self._pump, args=(client, upstream, generation), daemon=True
            ).start()

    def _pump(self, a: socket.socket, b: socket.socket, generation: int) -> None:
        selector = selectors.DefaultSelector()
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        try:
            while self.mode != "cut":  # a cut connection is closed, never left blackholed
                for key, _ in selector.select(timeout=0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    if self.mode == "forward" and generation == self._generation:
                        key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        with self._lock:
            self.mode = "cut"
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            self._listener.close()
            for a, b in self._pairs:
                for sock in (a, b):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            self._pairs.clear()

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def strand(self) -> None:
        self._generation += 1

    def restore(self) -> None:
        with self._lock:
            if self.mode == "cut":
                self._listener = self._listen(self.port)
            self.mode = "forward"

    def close(self) -> None:
        self._stopping = True
        self.cut()
