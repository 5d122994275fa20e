"""`twoway osc-send` as a real subprocess against a real server on 127.0.0.1."""

import subprocess
import sys

from installation.commands import CommandBus
from installation.config import OscSettings
from installation.osc import OscServer
from installation.osc.client import OscClient
from installation.cli.osc_command import typed_argument
from tests.test_osc_server import wait_for_commands


def run_twoway(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "installation", "--set", "general.language=en", *arguments],
                          capture_output=True, text=True, timeout=60)


def test_osc_send_prints_pong():
    server = OscServer(OscSettings(host="127.0.0.1", port=0), CommandBus())
    server.start()
    try:
        result = run_twoway("osc-send", "ping", "3", "--port", str(server.port), "--wait", "2")
    finally:
        server.stop()
    assert result.returncode == 0
    assert "/twoway/pong 3" in result.stdout


def test_osc_send_queues_command():
    bus = CommandBus()
    server = OscServer(OscSettings(host="127.0.0.1", port=0), bus)
    server.start()
    try:
        result = run_twoway("osc-send", "/twoway/title", "4", "Luz", "--port", str(server.port), "--wait", "0.2")
        received = wait_for_commands(bus)
    finally:
        server.stop()
    assert result.returncode == 0
    assert [(command.node_id, command.text) for command in received] == [(4, "Luz")]


def test_osc_send_reports_no_reply():
    with OscClient("127.0.0.1", 9) as placeholder:
        port = placeholder.port  # a bound port where no server replies
        result = run_twoway("osc-send", "ping", "--port", str(port), "--wait", "0.3")
    assert "No reply" in result.stdout


def test_typed_argument_kinds():
    assert [typed_argument(text, False) for text in ("7", "0.5", "tree", "1e3")] == [7, 0.5, "tree", "1e3"]
    assert typed_argument("7", True) == "7"
