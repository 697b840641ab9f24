"""A PostgreSQL outage mid-stream loses nothing: a throwaway cluster is stopped for 30 s.

The cluster is this test's own (initdb + pg_ctl from the installed server binaries, on a
free loopback port, run as the ``postgres`` user when the test runs as root), so stopping
it disturbs no other test and no other database.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.conftest import (
    HOST,
    IN_CI,
    IRCClient,
    LogBot,
    free_port,
    port_accepts,
    wait_for,
)
from tests.integration.test_sql_logging import start_in_channel

PG_BIN = Path(os.environ.get("LOGBOT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
OUTAGE = 30.0


class Cluster:
    """A private PostgreSQL cluster: start, stop, and a URL."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.logfile = root / "postgres.log"
        self.url = f"postgresql+psycopg://postgres@{HOST}:{port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            # initdb refuses to run as root
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def run(self, *argv: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as, *argv], check=True, capture_output=True, timeout=timeout, cwd=self.root
        )

    def init(self) -> None:
        self.run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -c unix_socket_directories='' -c fsync=off"
        )
        self.run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        wait_for(lambda: port_accepts(self.port), 30, "PostgreSQL to accept connections")

    def stop(self) -> None:
        self.run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def pg_cluster() -> Iterator[Cluster]:
    """A started throwaway cluster, removed afterwards."""
    if not (PG_BIN / "initdb").exists():
        if IN_CI:
            pytest.fail(f"PostgreSQL server binaries missing in {PG_BIN}, and CI=true needs them")
        pytest.skip(f"PostgreSQL server binaries missing in {PG_BIN}")
    root = Path(tempfile.mkdtemp(prefix="logbot-pg-"))
    cluster = Cluster(root, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def stored(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(sa.text("SELECT text FROM events WHERE kind = 'message'")).scalars()
            )
    except sa.exc.SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def test_a_30_second_outage_loses_nothing(
    pg_cluster: Cluster,
    logbot: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
) -> None:
    """Lines before, during and after a 30 s outage are all stored, each exactly once."""
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice, "--db", pg_cluster.url, file=None)
    sent: list[str] = []

    def say(text: str) -> None:
        alice.privmsg("#x", text)
        sent.append(text)

    for i in range(50):
        say(f"before {i}")
    wait_for(lambda: len(stored(pg_cluster.url)) == 50, 20, "the first lines in PostgreSQL")

    pg_cluster.stop()
    down_at = time.monotonic()
    i = 0
    while time.monotonic() - down_at < OUTAGE:
        say(f"during {i}")
        i += 1
        if i == 20:
            bot.wait_for_stderr("database unavailable", timeout=20)
        time.sleep(0.05)  # a steady trickle through the outage
    pg_cluster.start()
    for i in range(50):
        say(f"after {i}")
    alice.sync()

    def all_there() -> bool:
        return len(stored(pg_cluster.url)) >= len(sent)

    wait_for(all_there, 60, "every line in PostgreSQL after the outage")
    got = stored(pg_cluster.url)
    assert sorted(got) == sorted(sent)
    assert len(got) == len(set(got))
    log = bot.stderr()
    assert log.count("database unavailable") == 1
    assert log.count("database is back") == 1
    assert bot.terminate(timeout=30) == 0
