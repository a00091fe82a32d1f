#!/usr/bin/env python3
"""TLS 1.3 KeyUpdate requests from tlslite-ng (tlsfuzzer's engine), for tests/tls_post_handshake.rs.

Usage: tls13_keyupdate.py HOST PORT MODE COUNT

  flood   send COUNT KeyUpdate(update_requested) records back to back, ignoring write errors
          once the server has closed; then wait (bounded) for the server to close.
  bound   send COUNT requests one record at a time, then read: print the alert that arrives.
  within  send COUNT requests, then an MQTT-sized message; print "ECHO ok" when it comes back
          (the backend echoes).
  bound-behind-finished, within-behind-finished
          as bound and within, but the client's Finished, the requests (and the message) go
          out in one write: the server reads them together, as the end of its handshake.

Prints "LOCAL ip:port" (the client's address, to find its access line) and what it saw.
Exits non-zero only when the script itself cannot run (no tlslite-ng, no connection).
"""

import socket
import sys
import time

from tlslite import HandshakeSettings, TLSConnection
from tlslite.constants import AlertDescription, KeyUpdateMessageType
from tlslite.errors import TLSAbruptCloseError, TLSRemoteAlert



class HoldingSocket:
    """A socket that, once the server has answered the ClientHello, keeps what tlslite sends
    (its Finished and whatever follows) until release() sends it all in one write."""

    def __init__(self, sock):
        self.sock = sock
        self.answered = False
        self.held = b""
        self.holding = True

    def recv(self, n):
        self.answered = True
        return self.sock.recv(n)

    def send(self, data):
        if self.holding and self.answered:
            self.held += bytes(data)
            return len(data)
        return self.sock.send(data)

    def sendall(self, data):
        if self.holding and self.answered:
            self.held += bytes(data)
            return None
        return self.sock.sendall(data)

    def release(self):
        self.holding = False
        self.sock.sendall(self.held)
        self.held = b""

    def __getattr__(self, name):
        return getattr(self.sock, name)


host, port, mode, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sock = socket.create_connection((host, port), timeout=20)
print("LOCAL %s:%d" % sock.getsockname(), flush=True)
behind_finished = mode.endswith("-behind-finished")
if behind_finished:
    mode = mode[: -len("-behind-finished")]
    sock = HoldingSocket(sock)
conn = TLSConnection(sock)
settings = HandshakeSettings()
settings.minVersion = (3, 4)
settings.maxVersion = (3, 4)
conn.handshakeClientCert(settings=settings, serverName="test1.example.com")


def release():
    """Sends what the holding socket kept (nothing to do without one)."""
    if behind_finished:
        sock.release()


def request():
    for _ in conn.send_keyupdate_request(KeyUpdateMessageType.update_requested):
        pass


def read_result():
    """What the server does next: data, an alert, or a close."""
    try:
        data = conn.read(max=4096)
        return "DATA %r" % data if data else "EOF"
    except TLSRemoteAlert as alert:
        return "ALERT " + AlertDescription.toRepr(alert.description)
    except (TLSAbruptCloseError, ConnectionError, socket.timeout) as err:
        return "CLOSED %s" % type(err).__name__


if mode == "flood":
    sent = 0
    try:
        for _ in range(count):
            request()
            sent += 1
    except (ConnectionError, OSError) as err:
        print("WRITE-ERROR after %d: %s" % (sent, type(err).__name__))
    print("SENT", sent)
    # The server has closed (or will): reading ends either way.
    deadline = time.time() + 20
    while time.time() < deadline:
        result = read_result()
        if not result.startswith("DATA"):
            print(result)
            break
elif mode == "bound":
    for _ in range(count):
        request()
    release()
    print("SENT", count)
    print(read_result())
elif mode == "within":
    for _ in range(count):
        request()
    message = b"\x30\x0b\x00\x04test" + b"hello"
    conn.write(message)
    release()
    got = b""
    while len(got) < len(message):
        chunk = conn.read(max=4096)
        if not chunk:
            break
        got += chunk
    print("ECHO ok" if got == message else "ECHO wrong %r" % got)
    conn.close()
else:
    sys.exit("unknown mode " + mode)
