"""Random and mutated datagrams against the real server on 127.0.0.1; a valid command must still work."""

import random
import struct
import time

import pytest
from pythonosc.osc_message_builder import build_msg

from installation import commands
from installation.commands import CommandBus
from installation.config import OscSettings
from installation.osc import OscServer
from installation.osc.client import OscClient
from installation.state import StateBoard
from tests.test_osc_server import ROOT, wait_until

DATAGRAMS = 12_000
VALID = [
    build_msg(f"{ROOT}/generate", [2, "patches", 7]).dgram,
    build_msg(f"{ROOT}/title", [3, "Noche"]).dgram,
    build_msg(f"{ROOT}/speed", [0.5]).dgram,
    build_msg(f"{ROOT}/hello", []).dgram,
    build_msg(f"{ROOT}/select", [4]).dgram,
]


def bundle(elements: list[bytes], timetag: bytes = b"\x00" * 7 + b"\x01") -> bytes:
    return b"#bundle\x00" + timetag + b"".join(struct.pack(">i", len(e)) + e for e in elements)


def mutate(rng: random.Random, datagram: bytes) -> bytes:
    """Return `datagram` broken in one of several ways a network or a buggy client breaks packets."""
    data = bytearray(datagram)
    kind = rng.randrange(8)
    if kind == 0:  # flip bytes
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:  # truncate
        del data[rng.randrange(1, len(data)):]
    elif kind == 2:  # wrong type tags
        tags = rng.choice([b",q\x00\x00", b",iii", b",s\x00\x00", b",[[[", b",]\x00\x00", b"i\x00\x00\x00"])
        comma = data.find(b",")
        data[comma:comma + 4] = tags
    elif kind == 3:  # empty string arguments
        data = bytearray(build_msg(f"{ROOT}/title", [rng.randint(-5, 5), ""]).dgram)
    elif kind == 4:  # bundle with a random element size
        data = bytearray(bundle([datagram])[:16] + struct.pack(">i", rng.randint(-2**31, 2**31 - 1)) + datagram)
    elif kind == 5:  # huge bundle
        data = bytearray(bundle([datagram] * rng.randint(50, 400)))
    elif kind == 6:  # deeply nested bundle
        nested = datagram
        for _ in range(rng.randint(5, 40)):
            nested = bundle([nested])
        data = bytearray(nested)
    else:  # random type tags and arguments
        tags = "".join(rng.choice("ifdsbTFNhtrm[]") for _ in range(rng.randint(1, 6)))
        data = bytearray(build_msg(f"{ROOT}/scene", []).dgram + b"," + tags.encode() + b"\x00" * (4 - (len(tags) + 1) % 4)
                         + rng.randbytes(rng.randrange(0, 40)))
    return bytes(data)


def fuzz_datagrams(rng: random.Random):
    for index in range(DATAGRAMS):
        if index % 3 == 0:
            yield rng.randbytes(rng.randrange(0, 200))
        elif index % 97 == 0:
            yield rng.randbytes(9000)  # larger than osc.max_datagram_bytes
        else:
            yield mutate(rng, rng.choice(VALID))


@pytest.fixture
def server():
    settings = OscSettings(host="127.0.0.1", port=0, error_replies_per_second=50, feedback_interval_s=0.05,
                           max_datagrams_per_second=1_000_000)
    bus = CommandBus(visitor_per_minute=100_000, max_queued=256)
    running = OscServer(settings, bus, StateBoard())
    running.start()
    yield running
    running.stop()


def test_fuzz_leaves_server_working(server):
    rng = random.Random(20240611)
    sent = 0
    with OscClient("127.0.0.1", server.port) as client:
        for datagram in fuzz_datagrams(rng):
            try:
                client.send_raw(datagram)
            except OSError:
                continue  # an empty datagram or one the system will not send is no test of the server
            sent += 1
            if sent % 100 == 0:
                # Wait for the server to catch up, so the socket's buffer never overflows on a busy machine.
                wait_until(lambda: server.counters["datagrams"] >= sent - 200, timeout=5)
                server.bus.drain(limit=1000)

        assert wait_until(lambda: server.counters["datagrams"] >= sent - 50, timeout=30)
        server.bus.drain(limit=10_000)
        # Read the error replies still queued, so the buffer has room for the pong.
        while client.receive(timeout=0.2) is not None:
            pass

        client.send(f"{ROOT}/ping", 1)
        assert client.receive_until(f"{ROOT}/pong", timeout=5) == [1]
        server.bus.drain(limit=10_000)
        client.send(f"{ROOT}/select", 11)
        assert wait_until(lambda: commands.Select(11) in server.bus.drain(limit=10_000))

    assert server.counters["datagrams"] >= 10_000
    assert server.counters["malformed"] > 1000
    assert server.counters["oversized"] > 10
    assert server.counters["internal_errors"] == 0
    assert server.counters["restarts"] == 0
