"""Where the owner's console is attached: to `dwell run`'s live service, or to a recorded
trace played at real time (`dwell console`). The console itself (edge/console) knows neither:
it gets a floor to show, traces to replay, and a function that reloads the running sensor.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config.settings import Settings
from edge.console.api import Console, Reload, Snapshot
from edge.console.floor import Floor, Health
from edge.console.ledger import FILE, Ledger
from edge.console.server import ConsoleServer
from edge.console.shelf import Shelf
from edge.offline.playback import TracePlayer

if TYPE_CHECKING:
    from edge.service.sensor import Sensor

log = logging.getLogger("dwell.console")


def serve(settings: Settings, address: tuple[str, int], *, floor: Floor, shelf: Shelf,
          config_path: Path | None, reload: Reload, mode: str,
          snapshot: Snapshot | None = None, ledger: Ledger | None = None) -> ConsoleServer:
    """A started console server (ConsoleError when it cannot start)."""
    console = Console(settings, floor=floor, shelf=shelf, config_path=config_path,
                      reload=reload, mode=mode, snapshot=snapshot, ledger=ledger)
    return ConsoleServer(console, address).start()


def attach_live(sensor: Sensor, settings: Settings, *, config_path: Path | None,
                reload: Reload, health: Health, snapshot: Snapshot | None) -> ConsoleServer:
    """`dwell run` with ``[console] listen`` set: the floor watches ``sensor``."""
    address = settings.console.address
    assert address is not None
    floor = Floor(health)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.state_dir / FILE)  # ping -> ack times for the report
    sensor.sinks += [floor.on_event, ledger.on_event]
    sensor.watchers.append(floor.watch)
    return serve(settings, address, floor=floor, shelf=Shelf(settings.state_dir),
                 config_path=config_path, reload=reload, mode="live", snapshot=snapshot,
                 ledger=ledger)


class TraceConsole:
    """`dwell console`: the trace ``path`` (else the newest in state_dir) played live at
    ``speed`` x real time, looping, and every page of the console on it."""

    def __init__(self, settings: Settings, address: tuple[str, int], *,
                 trace: Path | None, config_path: Path | None, speed: float = 1.0) -> None:
        self.shelf = Shelf(settings.state_dir, trace)
        path = self.shelf.newest()  # KeyError naming what is missing
        self.floor = Floor(lambda: self.player.health())
        self.player = TracePlayer(path, settings, sinks=[self.floor.on_event],
                                  watchers=[self.floor.watch], speed=speed)
        self.server = serve(settings, address, floor=self.floor, shelf=self.shelf,
                            config_path=config_path, reload=self.player.reload, mode="trace",
                            ledger=Ledger.existing(settings.state_dir))
        self.player.start()

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.player.stop()
        self.server.stop()
