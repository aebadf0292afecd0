"""A tiny RTSP server for tests: ffmpeg sends RTP over loopback UDP, clients play over TCP.

ffmpeg's RTSP *output* can only push to a server, and Debian's
``rtsp-server-perl`` relay only serves clients over UDP, so the RTSP camera of
the tests is this: ``ffmpeg -f rtp`` writes an H.264 RTP stream and an SDP
file; this relay answers OPTIONS / DESCRIBE / SETUP / PLAY and forwards each
RTP packet to every playing client interleaved on its TCP connection
(RFC 2326 §10.12), which is what ``rtsp_transport=tcp`` asks for.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

__all__ = ["RtspRelay"]


@dataclass
class _Client:
    sock: socket.socket
    playing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class RtspRelay:
    """Serve one RTP stream (given by its SDP) to RTSP clients over TCP."""

    def __init__(self, rtp_sock: socket.socket, sdp: str, port: int = 0) -> None:
        self._rtp = rtp_sock
        self._sdp = _with_control(sdp)
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self.paused = False  # True: keep connections open, send nothing (a stalled camera)
        self._listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._threads = [
            threading.Thread(target=self._accept_loop, daemon=True),
            threading.Thread(target=self._forward_loop, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stop serving and drop every client connection."""
        self._closed = True
        for sock in (self._listener, self._rtp):
            close_quietly(sock)
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            close_quietly(client.sock)
        for thread in self._threads:
            thread.join(timeout=2)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            # a client that stops reading must not block the others: sends time out (reads do not)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 5, 0))
            client = _Client(sock)
            with self._lock:
                self._clients.append(client)
            threading.Thread(target=self._serve_client, args=(client,), daemon=True).start()

    def _forward_loop(self) -> None:
        while not self._closed:
            try:
                packet = self._rtp.recv(65536)
            except OSError:
                return
            if not self.paused:
                self._broadcast(b"$\x00" + len(packet).to_bytes(2, "big") + packet)

    def _broadcast(self, data: bytes) -> None:
        with self._lock:
            clients = [client for client in self._clients if client.playing]
        for client in clients:
            try:
                with client.lock:
                    client.sock.sendall(data)
            except OSError:
                self._drop(client)

    def _drop(self, client: _Client) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)
        close_quietly(client.sock)

    def _serve_client(self, client: _Client) -> None:
        reader = client.sock.makefile("rb")
        try:
            while not self._closed:
                request = _read_request(reader)
                if request is None:
                    break
                self._answer(client, *request)
        except OSError:
            pass
        finally:
            self._drop(client)

    def _answer(self, client: _Client, method: str, url: str, headers: dict[str, str]) -> None:
        extra, body = "", b""
        if method == "DESCRIBE":
            body = self._sdp.encode()
            extra = f"Content-Base: {url.rstrip('/')}/\r\nContent-Type: application/sdp\r\n"
        elif method == "SETUP":
            transport = headers.get("transport", "RTP/AVP/TCP;unicast;interleaved=0-1")
            if "TCP" not in transport.upper():
                return self._reply(client, headers, "461 Unsupported Transport")
            extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 1f2e3d4c;timeout=60\r\n"
        elif method == "PLAY":
            extra = "Session: 1f2e3d4c\r\n"
            client.playing = True
        elif method == "OPTIONS":
            extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
        self._reply(client, headers, "200 OK", extra, body)

    def _reply(self, client: _Client, headers: dict[str, str], status: str, extra: str = "", body: bytes = b"") -> None:
        head = f"RTSP/1.0 {status}\r\nCSeq: {headers.get('cseq', '0')}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
        with client.lock:
            client.sock.sendall(head.encode() + body)


def _read_request(reader) -> tuple[str, str, dict[str, str]] | None:
    """The next RTSP request, skipping interleaved RTCP the client sends; None at EOF."""
    while True:
        first = reader.read(1)
        if not first:
            return None
        if first != b"$":
            break
        size = int.from_bytes(reader.read(3)[1:], "big")
        reader.read(size)
    lines = [(first + reader.readline()).decode("latin-1").strip()]
    while lines[-1]:
        line = reader.readline()
        if not line:
            return None
        lines.append(line.decode("latin-1").strip())
    method, url, *_ = lines[0].split(" ") + ["", ""]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:-1])}
    reader.read(int(headers.get("content-length", "0")))
    return method, url, headers


def _with_control(sdp: str) -> str:
    """Add the control attributes an RTSP client needs to SETUP the one track."""
    lines = [line for line in sdp.splitlines() if line]
    media = next(i for i, line in enumerate(lines) if line.startswith("m="))
    lines.insert(media, "a=control:*")
    lines.append("a=control:trackID=0")
    return "\r\n".join(lines) + "\r\n"


def close_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
