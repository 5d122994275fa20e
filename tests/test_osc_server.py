"""The OSC server over real UDP sockets on 127.0.0.1, feeding a real command bus."""

import dataclasses
import socket
import time

import pytest

from installation import commands
from installation.commands import CommandBus
from installation.config import ConfigError, OscSettings
from installation.osc import OscServer
from installation.osc.client import OscClient
from installation.state import StateBoard
from installation.texts import TwowayError

ROOT = "/twoway"


def wait_for_commands(bus: CommandBus, count: int = 1, timeout: float = 3.0) -> list:
    """Drain the bus until `count` commands arrived or `timeout` seconds passed."""
    found = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        found += bus.drain()
        time.sleep(0.005)
    return found


def wait_until(condition, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def start_server(bus=None, board=None, has_node=None, **changes):
    settings = dataclasses.replace(OscSettings(host="127.0.0.1", port=0, feedback_interval_s=0.02), **changes)
    server = OscServer(settings, bus or CommandBus(), board, has_node=has_node)
    server.start()
    return server


@pytest.fixture
def bus():
    return CommandBus(visitor_per_minute=1000)


@pytest.fixture
def board():
    return StateBoard()


@pytest.fixture
def server(bus, board):
    running = start_server(bus, board)
    yield running
    running.stop()


@pytest.fixture
def client(server):
    with OscClient("127.0.0.1", server.port) as opened:
        yield opened


EVERY_ADDRESS = [
    ("generate", [], commands.Generate()),
    ("generate", [3, "patches", 42], commands.Generate(count=3, network="patches", seed=42)),
    ("generate", [1.0], commands.Generate(count=1)),
    ("next", [], commands.Next()),
    ("previous", [], commands.Previous()),
    ("select", [7], commands.Select(7)),
    ("scene", ["tree"], commands.ShowScene("tree")),
    ("pause", [], commands.Pause(None)),
    ("pause", [1], commands.Pause(True)),
    ("speed", [0.25], commands.Speed(0.25)),
    ("blackout", [True], commands.Blackout(True)),
    ("blackout", [0.0], commands.Blackout(False)),
    ("capture", [], commands.Capture()),
    ("capture", [5], commands.Capture(5)),
    ("capture", [1.0], commands.Capture()),
    ("quit", [True], commands.Quit()),
    ("train", [2, "multiscale"], commands.Train(2, "multiscale")),
    ("choose", [4], commands.Choose(4, True)),
    ("hide", [4, 0], commands.Hide(4, False)),
    ("title", [4, "Árbol de la tarde"], commands.Title(4, "Árbol de la tarde")),
    ("language", ["en"], commands.Language("en")),
    ("overlay", [], commands.ToggleStatus()),
    ("quit", [], commands.Quit()),
]


@pytest.mark.parametrize("name, arguments, expected", EVERY_ADDRESS)
def test_address_queues_command(bus, client, name, arguments, expected):
    client.send(f"{ROOT}/{name}", *arguments)
    received = wait_for_commands(bus)
    assert received == [expected]


def test_command_source_is_sender(bus, client):
    client.send(f"{ROOT}/next")
    (command,) = wait_for_commands(bus)
    assert command.source == commands.Source("osc", "127.0.0.1", client.port)


INVALID = [
    ("speed", [3.0], "from 0 to 1"),
    ("speed", ["fast"], "must be a number"),
    ("select", [], "missing argument"),
    ("select", [0], "from 1"),
    ("select", [1.5], "whole number"),
    ("title", [3, ""], "must not be empty"),
    ("title", [3, "   "], "must not be empty"),
    ("scene", ["ballroom"], "must be one of"),
    ("generate", [2, ""], "must not be empty"),
    ("generate", [2, "Bad Name!"], "not a valid name"),
    ("generate", [99], "from 1 to 16"),
    ("generate", [1, "nosuch"], "unknown network 'nosuch'; use one of patches, multiscale"),
    ("train", [2, "nosuch"], "unknown network 'nosuch'; use one of patches, multiscale"),
    ("blackout", [2], "0 or 1"),
    ("next", [1, 2], "at most 0 arguments"),
    ("language", ["fr"], "must be one of"),
]


@pytest.mark.parametrize("name, arguments, fragment", INVALID)
def test_invalid_arguments_reply_error(bus, client, server, name, arguments, fragment):
    client.send(f"{ROOT}/{name}", *arguments)
    reply = client.receive_until(f"{ROOT}/error")
    assert reply is not None and fragment in reply[0]
    assert bus.drain() == []
    assert server.counters["invalid"] == 1


@pytest.mark.parametrize("name, arguments", [("select", [7]), ("capture", [7]), ("choose", [7, 1])])
def test_command_naming_missing_image_replies_error(bus, name, arguments):
    server = start_server(bus, has_node=lambda node_id: node_id in (1, 2))
    try:
        with OscClient("127.0.0.1", server.port) as client:
            client.send(f"{ROOT}/{name}", *arguments)
            reply = client.receive_until(f"{ROOT}/error")
            client.send(f"{ROOT}/select", 2)
            (command,) = wait_for_commands(bus)
    finally:
        server.stop()
    assert reply is not None
    assert "no image 7" in reply[0]
    assert command == commands.Select(2)


def test_unknown_address_replies_error(client, server):
    client.send(f"{ROOT}/explode", 1)
    reply = client.receive_until(f"{ROOT}/error")
    assert reply is not None and "unknown address" in reply[0]
    assert server.counters["unknown_address"] == 1


def test_address_outside_root_rejected(bus, client):
    client.send("/other/next")
    assert client.receive_until(f"{ROOT}/error") is not None
    assert bus.drain() == []


def test_ping_replies_pong_with_arguments(client):
    client.send(f"{ROOT}/ping", 5, "hola")
    assert client.receive_until(f"{ROOT}/pong") == [5, "hola"]


def test_status_replies_whole_state(board, client):
    board.update(node_id=12, node_title="Mar", node_generation=3, node_kind="machine", camera="ok")
    client.send(f"{ROOT}/status")
    assert client.receive_until(f"{ROOT}/state/node") == [12, "Mar", 3, "machine"]


def test_status_reports_flags_as_numbers(board, client):
    board.update(blackout=True)
    client.send(f"{ROOT}/status")
    assert client.receive_until(f"{ROOT}/state/blackout") == [1]


def test_hello_sends_state_then_changes(board, client):
    client.send(f"{ROOT}/hello")
    assert client.receive_until(f"{ROOT}/state/scene") == ["walk"]
    board.update(scene="tree", worker="busy", progress=0.5)
    assert client.receive_until(f"{ROOT}/state/scene") == ["tree"]


def test_feedback_carries_worker_progress(board, client):
    client.send(f"{ROOT}/hello")
    assert client.receive_until(f"{ROOT}/state/progress") == [0.0]
    board.update(worker="busy", progress=0.75)
    assert client.receive_until(f"{ROOT}/state/progress") == [0.75]


def test_hello_with_port_registers_that_port(board, server):
    with OscClient("127.0.0.1", server.port) as sender, OscClient("127.0.0.1", server.port) as listener:
        sender.send(f"{ROOT}/hello", listener.port)
        assert listener.receive_until(f"{ROOT}/state/camera") == ["none"]


def test_bye_stops_feedback(board, server, client):
    client.send(f"{ROOT}/hello")
    assert client.receive_until(f"{ROOT}/state/scene") == ["walk"]
    client.send(f"{ROOT}/bye")
    assert wait_until(lambda: server.clients.targets() == [])
    board.update(scene="live")
    assert client.receive_until(f"{ROOT}/state/scene", timeout=0.5) is None


def test_fixed_feedback_client_gets_state(board):
    with OscClient("127.0.0.1", 9) as listener:
        server = start_server(board=board, feedback_clients=(f"127.0.0.1:{listener.port}",))
        try:
            assert listener.receive_until(f"{ROOT}/state/worker") == ["starting"]
        finally:
            server.stop()


def test_reply_port_setting_redirects_replies(bus):
    with OscClient("127.0.0.1", 9) as listener:
        server = start_server(bus, reply_port=listener.port)
        try:
            with OscClient("127.0.0.1", server.port) as sender:
                sender.send(f"{ROOT}/ping")
                assert listener.receive_until(f"{ROOT}/pong") == []
        finally:
            server.stop()


def test_released_button_ignored(bus, client, server):
    client.send(f"{ROOT}/generate", 0.0)
    client.send(f"{ROOT}/next", 1.0)
    assert wait_for_commands(bus) == [commands.Next()]
    assert server.counters["button_releases"] == 1


def test_bundle_runs_messages_in_order(bus, client):
    client.send_bundle([(f"{ROOT}/select", [3]), (f"{ROOT}/speed", [0.5])])
    assert wait_for_commands(bus, 2) == [commands.Select(3), commands.Speed(0.5)]


def test_bundle_due_soon_runs_later(bus, client, server):
    client.send_bundle([(f"{ROOT}/select", [9])], at=time.time() + 0.3)
    assert wait_for_commands(bus) == [commands.Select(9)]
    assert server.counters["scheduled"] == 1


def test_bundle_far_ahead_rejected(bus, client, server):
    client.send_bundle([(f"{ROOT}/select", [9])], at=time.time() + 60)
    reply = client.receive_until(f"{ROOT}/error")
    assert reply is not None and "ahead" in reply[0]
    assert bus.drain() == []
    assert server.counters["late_bundles"] == 1


def test_bundle_with_too_many_messages_rejected(bus):
    server = start_server(bus, max_bundle_messages=4)
    try:
        with OscClient("127.0.0.1", server.port) as sender:
            sender.send_bundle([(f"{ROOT}/select", [n]) for n in range(1, 6)])
            assert sender.receive_until(f"{ROOT}/error") is not None
        assert server.counters["too_many_messages"] == 1
    finally:
        server.stop()


def test_oversized_datagram_counted(client, server):
    client.send(f"{ROOT}/title", 1, "x" * 9000)
    reply = client.receive_until(f"{ROOT}/error")
    assert reply is not None and "larger than" in reply[0]
    assert server.counters["oversized"] == 1


def test_port_in_use_names_port_and_setting():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        server = OscServer(OscSettings(host="127.0.0.1", port=port), CommandBus())
        with pytest.raises(TwowayError) as raised:
            server.start()
    assert raised.value.key == "osc.port_in_use"
    assert str(port) in str(raised.value)
    assert "osc.port" in str(raised.value)


def test_bad_allow_entry_names_setting():
    with pytest.raises(ConfigError) as raised:
        OscServer(OscSettings(allow=("10.0.0.300",)), CommandBus())
    assert "osc.allow" in str(raised.value)


def test_bad_feedback_client_names_value():
    with pytest.raises(TwowayError) as raised:
        OscServer(OscSettings(feedback_clients=("tablet",)), CommandBus())
    assert "'tablet'" in str(raised.value)


def test_server_restarts_after_socket_failure(bus, server):
    port = server.port
    server._socket.close()  # the serving loop now fails on its next read
    assert wait_until(lambda: server.counters["restarts"] >= 1)
    with OscClient("127.0.0.1", port) as sender:
        assert wait_until(lambda: sender.send(f"{ROOT}/next") or bus.drain() == [commands.Next()])


def test_empty_bundle_rejected_server_keeps_serving(client, server):
    # "#bundle", a time tag of "immediately" and no elements.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.settimeout(2.0)
        raw.sendto(b"#bundle\0" + (1).to_bytes(8, "big"), ("127.0.0.1", server.port))
        reply, _ = raw.recvfrom(4096)
    assert reply.startswith(f"{ROOT}/error".encode())
    assert b"empty bundle" in reply
    client.send(f"{ROOT}/ping", 5)
    assert client.receive_until(f"{ROOT}/pong") is not None
    assert server.counters["restarts"] == 0
