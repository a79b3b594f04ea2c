#!/usr/bin/env python3
"""Wire-protocol health probes for the local stack (standard library only).

  probe.py kafka     HOST PORT   ApiVersions v0 + Metadata v1; exit 0 if both answer without error
  probe.py cassandra HOST PORT   CQL v4 OPTIONS, STARTUP, then SELECT release_version FROM system.local
  probe.py registry  HOST PORT   GET /apis/ccompat/v7/subjects (Confluent-compatible API): 200, a list

Prints a one-line summary on success (e.g. the Cassandra release version) and the reason on
failure (stderr). Exit 0 = healthy, 1 = not answering / error.
"""
import http.client
import json
import socket
import struct
import sys

TIMEOUT = 3.0


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


# --- Kafka -----------------------------------------------------------------------------------

def kafka_request(sock, api_key, version, corr, body=b""):
    # request header v1: api_key, api_version, correlation_id, client_id (nullable string)
    client = b"notify-stack-probe"
    msg = struct.pack(">hhih", api_key, version, corr, len(client)) + client + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    resp = recv_exact(sock, size)
    got = struct.unpack(">i", resp[:4])[0]
    if got != corr:
        raise ValueError("correlation id %d != %d" % (got, corr))
    return resp[4:]


def probe_kafka(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        # ApiVersions v0 (key 18): error_code int16, then [api_key, min, max]
        body = kafka_request(s, 18, 0, 1)
        err, n = struct.unpack(">hi", body[:6])
        if err != 0:
            raise ValueError("ApiVersions error_code %d" % err)
        # Metadata v1 (key 3) with topics = null (all topics)
        body = kafka_request(s, 3, 1, 2, struct.pack(">i", -1))
        nbrokers = struct.unpack(">i", body[:4])[0]
        off, ids = 4, []
        for _ in range(nbrokers):
            node_id, hlen = struct.unpack(">ih", body[off:off + 6])
            off += 6 + hlen
            off += 4  # port
            rlen = struct.unpack(">h", body[off:off + 2])[0]
            off += 2 + max(rlen, 0)
            ids.append(node_id)
        controller = struct.unpack(">i", body[off:off + 4])[0]
        ntopics = struct.unpack(">i", body[off + 4:off + 8])[0]
        if not ids:
            raise ValueError("metadata lists no brokers yet")
        return "api_versions=%d brokers=%s controller=%d topics=%d" % (n, ids, controller, ntopics)


# --- Cassandra (CQL native protocol v4) -------------------------------------------------------

OP_ERROR, OP_STARTUP, OP_READY, OP_OPTIONS, OP_SUPPORTED, OP_QUERY, OP_RESULT = 0, 1, 2, 5, 6, 7, 8


def cql_string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def cql_request(sock, stream, opcode, body=b""):
    sock.sendall(struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body)
    version, _flags, rstream, ropcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    payload = recv_exact(sock, length) if length else b""
    if version != 0x84 or rstream != stream:
        raise ValueError("unexpected frame header version=%#x stream=%d" % (version, rstream))
    if ropcode == OP_ERROR:
        code = struct.unpack(">i", payload[:4])[0]
        mlen = struct.unpack(">H", payload[4:6])[0]
        raise ValueError("CQL error %#x: %s" % (code, payload[6:6 + mlen].decode(errors="replace")))
    return ropcode, payload


def read_string(buf, off):
    n = struct.unpack(">H", buf[off:off + 2])[0]
    return buf[off + 2:off + 2 + n].decode(), off + 2 + n


def probe_cassandra(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        op, _ = cql_request(s, 1, OP_OPTIONS)
        if op != OP_SUPPORTED:
            raise ValueError("OPTIONS answered with opcode %d" % op)
        startup = struct.pack(">H", 1) + cql_string("CQL_VERSION") + cql_string("3.0.0")
        op, _ = cql_request(s, 2, OP_STARTUP, startup)
        if op != OP_READY:
            raise ValueError("STARTUP answered with opcode %d (authentication enabled?)" % op)
        q = b"SELECT release_version FROM system.local"
        # long string query, consistency ONE, no flags
        op, p = cql_request(s, 3, OP_QUERY, struct.pack(">i", len(q)) + q + struct.pack(">HB", 1, 0))
        if op != OP_RESULT:
            raise ValueError("QUERY answered with opcode %d" % op)
        kind, mflags, ncols = struct.unpack(">iii", p[:12])
        if kind != 2:
            raise ValueError("QUERY result kind %d, expected Rows" % kind)
        off = 12
        if mflags & 0x0002:  # has_more_pages: skip paging state
            n = struct.unpack(">i", p[off:off + 4])[0]
            off += 4 + max(n, 0)
        if mflags & 0x0001:  # global table spec
            _, off = read_string(p, off)
            _, off = read_string(p, off)
        for _ in range(ncols):
            if not mflags & 0x0001:
                _, off = read_string(p, off)
                _, off = read_string(p, off)
            _, off = read_string(p, off)
            off += 2  # type id (varchar, no parameters)
        nrows = struct.unpack(">i", p[off:off + 4])[0]
        if nrows < 1:
            raise ValueError("system.local returned no row")
        n = struct.unpack(">i", p[off + 4:off + 8])[0]
        return "release_version=%s" % p[off + 8:off + 8 + n].decode()


# --- Schema registry (Confluent-compatible REST API) -----------------------------------------

def probe_registry(host, port):
    path = "/apis/ccompat/v7/subjects"
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise ValueError("GET %s answered HTTP %d" % (path, resp.status))
    subjects = json.loads(body)
    if not isinstance(subjects, list):
        raise ValueError("GET %s did not answer with a list" % path)
    return "subjects=%d" % len(subjects)


PROBES = {"kafka": probe_kafka, "cassandra": probe_cassandra, "registry": probe_registry}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in PROBES:
        sys.stderr.write(__doc__)
        return 2
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        print(PROBES[kind](host, port))
        return 0
    except (OSError, ValueError, struct.error, UnicodeDecodeError, http.client.HTTPException) as e:
        sys.stderr.write("%s %s:%d: %s\n" % (kind, host, port, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
