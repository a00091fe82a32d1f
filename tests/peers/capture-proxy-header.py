#!/usr/bin/env python3
"""Capture the PROXY protocol header a sender (e.g. haproxy's `server ... send-proxy*`)
writes at the start of a connection, or decode a saved capture.

  capture-proxy-header.py listen HOST PORT OUTFILE   # accept one connection, save header as hex
  capture-proxy-header.py decode FILE...             # print a decoded summary

The hex file holds exactly the header bytes (v1: up to and including CRLF; v2: 16 + len),
16 bytes a line, space separated: `bytes.fromhex(text)` or `xxd -r -p` reads it back.
The client should send nothing, so the header is all that arrives before the timeout.
"""
import socket
import struct
import sys
import time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
TLV_NAMES = {
    0x01: "ALPN", 0x02: "AUTHORITY", 0x03: "CRC32C", 0x04: "NOOP", 0x05: "UNIQUE_ID",
    0x20: "SSL", 0x21: "SSL_VERSION", 0x22: "SSL_CN", 0x23: "SSL_CIPHER", 0x24: "SSL_SIG_ALG",
    0x25: "SSL_KEY_ALG", 0x30: "NETNS",
}


def header_len(buf):
    """Length of the complete header at the start of buf, or None if incomplete."""
    if buf.startswith(b"PROXY "):
        i = buf.find(b"\r\n")
        return None if i < 0 else i + 2
    if len(buf) >= 16 and buf[:12] == SIG:
        return 16 + struct.unpack("!H", buf[14:16])[0]
    if len(buf) >= 16 or not (SIG.startswith(buf[:12]) or b"PROXY ".startswith(buf[:6])):
        raise ValueError("not a PROXY header: %r" % buf[:32])
    return None


def to_hex(b):
    return "".join(" ".join("%02x" % x for x in b[i:i + 16]) + "\n" for i in range(0, len(b), 16))


def listen(host, port, out, timeout=20.0):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(8)
    srv.settimeout(timeout)
    print("listening on %s:%s" % (host, port), file=sys.stderr, flush=True)
    conn, peer = srv.accept()
    conn.settimeout(1.0)
    buf, reads, n = b"", [], None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            if n is not None and len(buf) >= n:
                break
            continue
        except ConnectionResetError:    # e.g. a health check that resets after the header
            reads.append("RST")
            break
        if not chunk:
            break
        reads.append(len(chunk))
        buf += chunk
        n = header_len(buf)
        if n is not None and len(buf) >= n:
            conn.settimeout(0.3)        # wait a little to see whether more follows
    conn.close()
    srv.close()
    if n is None or len(buf) < n:
        sys.exit("incomplete header: %r" % buf)
    with open(out, "w") as f:
        f.write(to_hex(buf[:n]))
    print("from %s:%d: header %d bytes, %d bytes after it, recv sizes %s -> %s"
          % (peer[0], peer[1], n, len(buf) - n, reads, out), file=sys.stderr)


def decode_tlvs(b, indent="  "):
    lines = []
    while b:
        t, l = b[0], struct.unpack("!H", b[1:3])[0]
        v, b = b[3:3 + l], b[3 + l:]
        name = TLV_NAMES.get(t, "0x%02x" % t)
        if t == 0x20:
            client, verify = v[0], struct.unpack("!I", v[1:5])[0]
            lines.append("%s0x%02x %s len=%d client=0x%02x verify=%d" % (indent, t, name, l, client, verify))
            lines += decode_tlvs(v[5:], indent + "  ")
        elif t in (0x01, 0x02, 0x05, 0x21, 0x22, 0x23, 0x24, 0x25, 0x30):
            lines.append("%s0x%02x %s len=%d %r" % (indent, t, name, l, v.decode("latin-1")))
        else:
            lines.append("%s0x%02x %s len=%d %s" % (indent, t, name, l, v.hex()))
    return lines


def decode(b):
    if b.startswith(b"PROXY "):
        return ["v1 %r" % b.decode("ascii")]
    ver_cmd, fam, l = b[12], b[13], struct.unpack("!H", b[14:16])[0]
    cmd = {0: "LOCAL", 1: "PROXY"}.get(ver_cmd & 0xF, "?")
    out = ["v%d %s fam=0x%02x len=%d (total %d bytes)" % (ver_cmd >> 4, cmd, fam, l, len(b))]
    body = b[16:16 + l]
    if fam == 0x11:
        src, dst = socket.inet_ntoa(body[0:4]), socket.inet_ntoa(body[4:8])
        sp, dp = struct.unpack("!HH", body[8:12])
        out.append("  %s:%d -> %s:%d" % (src, sp, dst, dp))
        body = body[12:]
    elif fam == 0x21:
        src = socket.inet_ntop(socket.AF_INET6, body[0:16])
        dst = socket.inet_ntop(socket.AF_INET6, body[16:32])
        sp, dp = struct.unpack("!HH", body[32:36])
        out.append("  [%s]:%d -> [%s]:%d" % (src, sp, dst, dp))
        body = body[36:]
    return out + decode_tlvs(body)


def main(argv):
    if len(argv) == 5 and argv[1] == "listen":
        listen(argv[2], argv[3], argv[4])
    elif len(argv) >= 3 and argv[1] == "decode":
        for f in argv[2:]:
            print("%s:" % f)
            print("\n".join("  " + l for l in decode(bytes.fromhex(open(f).read()))))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
