"""The depot's Wi-Fi: its SSID is visible only inside the depot's geofence.

RSSI follows a log-distance law from the access point; outside the fence nothing is heard (the
depot's walls and fences make the edge sharp, which is what the firmware's upload logic keys on).
``connect`` answers with the gateway's address only when the SSID is in range, and the
connection drops as soon as the van leaves the fence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class DepotWifi:
    x: float  # access point / fence centre, local metres
    y: float
    radius_m: float = 60.0
    ssid: str = "facteur-depot"
    gateway: str = "127.0.0.1:8500"
    connected: bool = False
    van_x: float = 0.0
    van_y: float = 0.0

    def move_van(self, x: float, y: float) -> None:
        self.van_x, self.van_y = x, y
        if not self.in_range():
            self.connected = False

    def in_range(self) -> bool:
        return math.hypot(self.van_x - self.x, self.van_y - self.y) <= self.radius_m

    def rssi(self) -> int:
        d = max(math.hypot(self.van_x - self.x, self.van_y - self.y), 1.0)
        return max(-90, min(-30, round(-40.0 - 25.0 * math.log10(d))))

    def scan(self) -> list[tuple[str, int]]:
        return [(self.ssid, self.rssi())] if self.in_range() else []

    def connect(self, ssid: str) -> bool:
        self.connected = ssid == self.ssid and self.in_range()
        return self.connected
