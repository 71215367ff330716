"""A throwaway PostgreSQL server for the fleet tests and bench/fleet.py: its own cluster in a
temporary directory, on a free loopback port, that a test may stop and start again (the
machine's own server is left alone). Started as root, it runs as the ``postgres`` user, as
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from edge.demo.mosquitto import free_port


def pg_bin() -> Path | None:
    """The directory of initdb/pg_ctl (Debian keeps them out of PATH), or None."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    return Path(os.path.realpath(found)).parent if found else None


class Postgres:
    """``url`` is a psycopg connection URL to database ``dwell`` (trust auth, loopback)."""

    def __init__(self, workdir: Path) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
        self.bin = bindir
        self.workdir = workdir
        self.data = workdir / "pgdata"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/dwell"
        self._user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> Postgres:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
            self.workdir.chmod(0o700)
            parent = self.workdir.parent
            while parent != parent.parent:  # postgres must be able to reach its directory
                parent.chmod(parent.stat().st_mode | 0o011)
                parent = parent.parent
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "dwell")
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.workdir / "pg.log"),
                  "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def restart(self) -> None:
        self.stop()
        self.start()
