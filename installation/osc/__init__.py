"""Remote control over OSC: the artist's tablet and show software.

`OscServer(settings.osc, bus, board)` receives commands under a root address
(default `/twoway`), checks them and feeds the command bus, and sends the kiosk's
state back to registered clients.
"""

from installation.osc.server import COUNTERS, OscServer

__all__ = ["COUNTERS", "OscServer"]
