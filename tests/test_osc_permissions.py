"""Who may send what: the allow list, per-host limits and the bounded bus, over real UDP."""

import dataclasses

import pytest

from installation import commands
from installation.commands import AllowList, CommandBus, Source
from installation.config import OscSettings
from installation.osc import OscServer
from installation.osc.client import OscClient
from tests.test_osc_server import ROOT, wait_for_commands, wait_until


@pytest.mark.parametrize("host, allowed", [
    ("127.0.0.1", True),
    ("192.168.1.77", True),
    ("192.168.2.1", False),
    ("::1", True),
    ("::ffff:192.168.1.5", True),
    ("tablet.local", False),
])
def test_allow_list_matches_cidr(host, allowed):
    allow = AllowList(["127.0.0.0/8", "192.168.1.0/24", "::1"])
    assert (host in allow) is allowed


def test_allow_list_rejects_bad_entry():
    with pytest.raises(ValueError, match="not an IP address"):
        AllowList(["192.168.1.0/33"])


def test_bus_limits_visitor_per_host():
    bus = CommandBus(visitor_per_minute=2)
    verdicts = [bus.submit(commands.Next(source=Source("osc", "10.0.0.2", port))) for port in (1, 2, 3)]
    assert [verdict.accepted for verdict in verdicts] == [True, True, False]


def test_bus_queue_bounded():
    bus = CommandBus(max_queued=3)
    verdicts = [bus.submit(commands.Speed(0.5)) for _ in range(5)]
    assert [verdict.accepted for verdict in verdicts] == [True, True, True, False, False]
    assert bus.dropped == 2


def start(bus, **changes):
    settings = dataclasses.replace(OscSettings(host="127.0.0.1", port=0), **changes)
    server = OscServer(settings, bus)
    server.start()
    return server


@pytest.fixture
def untrusted_server():
    """A server whose allow list leaves out this machine, which may still send visitor commands."""
    bus = CommandBus(visitor_per_minute=1000)
    server = start(bus, allow=("10.1.2.3",))
    yield server, bus
    server.stop()


@pytest.mark.parametrize("name, arguments", [
    ("hide", [3]), ("train", [3, "patches"]), ("title", [3, "x"]), ("capture", []),
    ("blackout", [1]), ("quit", []),
])
def test_artist_command_refused_off_allow_list(untrusted_server, name, arguments):
    server, bus = untrusted_server
    with OscClient("127.0.0.1", server.port) as client:
        client.send(f"{ROOT}/{name}", *arguments)
        reply = client.receive_until(f"{ROOT}/error")
    assert reply is not None and "not allowed" in reply[0]
    assert bus.drain() == []


def test_visitor_command_accepted_off_allow_list(untrusted_server):
    server, bus = untrusted_server
    with OscClient("127.0.0.1", server.port) as client:
        client.send(f"{ROOT}/generate")
        assert wait_for_commands(bus) == [commands.Generate()]


def test_visitor_networks_can_exclude_host():
    bus = CommandBus()
    server = start(bus, allow=(), visitor_networks=("10.0.0.0/8",))
    try:
        with OscClient("127.0.0.1", server.port) as client:
            client.send(f"{ROOT}/next")
            reply = client.receive_until(f"{ROOT}/error")
        assert reply is not None and "not allowed from 127.0.0.1" in reply[0]
        assert bus.drain() == []
    finally:
        server.stop()


def test_visitor_flood_rate_limited():
    bus = CommandBus(visitor_per_minute=5)
    server = start(bus)
    try:
        with OscClient("127.0.0.1", server.port) as client:
            for _ in range(20):
                client.send(f"{ROOT}/next")
            assert wait_until(lambda: server.counters["messages"] == 20)
        assert len(bus.drain()) == 5
        assert server.counters["refused"] == 15
    finally:
        server.stop()


def test_full_bus_counts_drops():
    bus = CommandBus(max_queued=4)
    server = start(bus)
    try:
        with OscClient("127.0.0.1", server.port) as client:
            for step in range(12):
                client.send(f"{ROOT}/speed", step / 12)
            assert wait_until(lambda: server.counters["messages"] == 12)
        assert server.counters["bus_full"] == 8
        assert bus.dropped == 8
    finally:
        server.stop()


def test_error_replies_limited_per_second():
    server = start(CommandBus(), error_replies_per_second=3)
    try:
        with OscClient("127.0.0.1", server.port) as client:
            for _ in range(10):
                client.send(f"{ROOT}/speed", 9.0)
            assert wait_until(lambda: server.counters["invalid"] == 10)
        assert server.counters["replies_skipped"] >= 1
    finally:
        server.stop()


def test_datagram_flood_dropped_before_parsing():
    bus = CommandBus()
    server = start(bus, max_datagrams_per_second=10)
    try:
        with OscClient("127.0.0.1", server.port) as client:
            for step in range(40):
                client.send(f"{ROOT}/speed", step / 40)
            assert wait_until(lambda: server.counters["datagrams"] == 40)
        assert server.counters["flood_dropped"] >= 20
        assert server.counters["messages"] == 40 - server.counters["flood_dropped"]
    finally:
        server.stop()
