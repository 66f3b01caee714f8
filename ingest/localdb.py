"""The private PostgreSQL + TimescaleDB + PostGIS cluster that facteur runs on by default.

It lives in a git-ignored folder (``.facteur/db`` at the project root, or ``$FACTEUR_STATE_DIR/db``),
listens on loopback only on a non-default port (``$FACTEUR_DB_PORT``, default 54329), preloads
``timescaledb`` and holds one database, ``facteur``, with the ``timescaledb`` and ``postgis``
extensions. Every operation is idempotent. Setting ``FACTEUR_DATABASE_URL`` bypasses all of this.

    >>> url = LocalDatabase.default().ensure_running()   # doctest: +SKIP

PostgreSQL refuses to run as root; when we are root the server runs as the ``postgres`` system
user that Debian's package creates.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_MAJOR = 15
DEFAULT_PORT = 54329
DATABASE = "facteur"
USER = "facteur"
EXTENSIONS = ("timescaledb", "postgis")


class LocalDatabaseError(RuntimeError):
    """A step of setting up the private database failed; the message is one line for a person."""


def project_root() -> Path:
    """The checkout this package was installed from (editable install), else the current folder."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def state_dir() -> Path:
    """Where facteur keeps local state (database cluster, spools): git-ignored ``.facteur``."""
    env = os.environ.get("FACTEUR_STATE_DIR")
    return Path(env) if env else project_root() / ".facteur"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class LocalDatabase:
    """One private cluster: its folder, port and PostgreSQL binaries."""

    root: Path
    port: int
    bindir: Path

    @classmethod
    def default(cls) -> LocalDatabase:
        port = int(os.environ.get("FACTEUR_DB_PORT", DEFAULT_PORT))
        return cls(state_dir() / "db", port, Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"))

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    def url(self, database: str = DATABASE) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    # -- running the PostgreSQL tools as the right user -----------------------------------

    def _server_user(self) -> str | None:
        """``postgres`` when we are root (PostgreSQL will not run as root), else ourselves."""
        return "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        user = self._server_user()
        if user is not None:
            cmd = ["runuser", "-u", user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise LocalDatabaseError(f"{args[0]} failed: {detail[-1] if detail else proc.returncode}")
        return proc

    def _chown_to_server_user(self, path: Path) -> None:
        user = self._server_user()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    # -- lifecycle -------------------------------------------------------------------------

    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").is_file()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.datadir), check=False).returncode == 0

    def init(self) -> None:
        if self.initialised():
            return
        if not (self.bindir / "initdb").exists():
            raise LocalDatabaseError(
                f"PostgreSQL {PG_MAJOR} is not installed ({self.bindir}); run `make bootstrap`"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        if self.datadir.exists():  # a half-made cluster from an interrupted init
            shutil.rmtree(self.datadir)
        self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self.password_file.chmod(0o600)
        self._chown_to_server_user(self.root)
        pwfile = self.root / ".initpw"
        pwfile.write_text(self.password_file.read_text())
        self._chown_to_server_user(pwfile)
        try:
            self._run(
                "initdb", "-D", str(self.datadir), "-U", USER, f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
            )  # fmt: skip
        finally:
            pwfile.unlink()
        conf = self.datadir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# facteur private cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "shared_preload_libraries = 'timescaledb'\n"
                "timescaledb.telemetry_level = off\n"
                "max_connections = 200\n"
                "shared_buffers = 512MB\n"
                "max_wal_size = 4GB\n"
                "timezone = 'UTC'\n"
            )

    def start(self) -> None:
        self.init()
        if self.running():
            return
        if not port_is_free(self.port):
            raise LocalDatabaseError(
                f"port {self.port} on 127.0.0.1 is taken by another process; "
                "set FACTEUR_DB_PORT to a free port or FACTEUR_DATABASE_URL to an existing TimescaleDB"
            )
        if not (Path(f"/usr/lib/postgresql/{PG_MAJOR}/lib") / "timescaledb.so").exists():
            raise LocalDatabaseError("TimescaleDB is not installed for PostgreSQL; run `make bootstrap`")
        proc = self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(self.logfile),
            "-o", f"-p {self.port}", check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            tail = self.logfile.read_text().strip().splitlines()[-1:] if self.logfile.exists() else []
            raise LocalDatabaseError(
                f"PostgreSQL did not start: {tail[0] if tail else proc.stderr.strip()} (log: {self.logfile})"
            )
        self.create_database(DATABASE)

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.datadir))

    def ensure_running(self) -> str:
        """Start the cluster if needed and return the URL of the ``facteur`` database."""
        self.start()
        return self.url()

    def create_database(self, name: str) -> None:
        """Create ``name`` (if missing) with the timescaledb and postgis extensions."""
        create_database(self.url("postgres"), name)


def create_database(admin_url: str, name: str) -> None:
    """Create database ``name`` on the server of ``admin_url`` with facteur's extensions."""
    deadline = time.monotonic() + 30
    while True:
        try:
            admin = psycopg.connect(admin_url, autocommit=True)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    db_url = admin_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(db_url, autocommit=True) as conn:
        for ext in EXTENSIONS:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url() -> str:
    """The database facteur uses: ``FACTEUR_DATABASE_URL`` if set, else the private cluster."""
    url = os.environ.get("FACTEUR_DATABASE_URL")
    if url:
        return url
    return LocalDatabase.default().ensure_running()
