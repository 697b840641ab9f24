"""Run Debian's ZNC with its ``log`` module as a logger under test.

``znc --makeconf`` is interactive, so this writes a throwaway data directory itself:
``configs/znc.conf`` with one user, one network pointing at the flood server, the ``log``
module loaded on that network (its defaults: every kind of line, one file per channel per
day under ``moddata/log``), one channel, and a listener on a free loopback port without SSL
(ZNC refuses to start without one; nobody connects to it). ``znc -f -d DIR`` then runs it
in the foreground, so the process we start is the process we measure.

Run alone for a look: ``python -m bench.znc --server-port 6667 DIR`` prints the command.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

ZNC_USER = "bench"
ZNC_NETWORK = "flood"
ZNC_NICK = "zncbench"
#: who ZNC runs as when the benchmark runs as root
RUN_AS = "nobody"
RUN_AS_GROUP = "nogroup"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def znc_version() -> str:
    """``Version = `` of the config must name the installed ZNC (major.minor is enough)."""
    binary = shutil.which("znc")
    if binary is None:
        raise FileNotFoundError("znc is not installed (apt-get install znc)")
    import subprocess

    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    # "ZNC 1.8.2+deb3.1+deb12u2 - https://znc.in"
    return out.stdout.split()[1].split("+")[0]


@dataclass(frozen=True)
class ZncSetup:
    """A written ZNC data directory and how to run it."""

    datadir: Path
    listen_port: int

    @property
    def log_dir(self) -> Path:
        """Where the ``log`` module writes (one folder per window, one file per day)."""
        return self.datadir / "users" / ZNC_USER / "networks" / ZNC_NETWORK / "moddata" / "log"

    def command(self) -> list[str]:
        """The foreground ZNC command.

        As root, ZNC wants ``--allow-root`` and then sleeps 30 s as a warning; instead it
        runs as ``nobody`` through ``setpriv``, which execs (the PID stays ZNC's).
        """
        cmd = ["znc", "--foreground", "--datadir", str(self.datadir)]
        if os.geteuid() != 0:
            return cmd
        if shutil.which("setpriv"):
            return [
                "setpriv",
                f"--reuid={RUN_AS}",
                f"--regid={RUN_AS_GROUP}",
                "--clear-groups",
                *cmd,
            ]
        return [*cmd, "--allow-root"]


def write_config(
    datadir: Path, server_port: int, channel: str, *, server_host: str = "127.0.0.1"
) -> ZncSetup:
    """Write ``datadir/configs/znc.conf`` for one user logging ``channel`` of the flood server."""
    listen_port = free_port()
    salt = secrets.token_hex(10)
    password = secrets.token_hex(16)
    digest = hashlib.sha256((password + salt).encode()).hexdigest()
    config = f"""\
Version = {znc_version()}
// ZNC waits this long between connection attempts; the benchmark has one server
ConnectDelay = 0
ServerThrottle = 0
<Listener bench>
    Host = 127.0.0.1
    Port = {listen_port}
    IPv4 = true
    IPv6 = false
    SSL = false
    AllowIRC = true
    AllowWeb = false
</Listener>
<User {ZNC_USER}>
    <Pass password>
        Method = sha256
        Hash = {digest}
        Salt = {salt}
    </Pass>
    Admin = true
    Nick = {ZNC_NICK}
    AltNick = {ZNC_NICK}_
    Ident = {ZNC_NICK}
    RealName = ZNC log benchmark
    <Network {ZNC_NETWORK}>
        LoadModule = log
        // ZNC rate-limits its own lines to the server (2/s after a burst of 9), PONG
        // included: lifted, so that a probe PING times ZNC's reading loop, not its limiter
        FloodRate = 1000.00
        FloodBurst = 1000
        Server = {server_host} {server_port}
        <Chan {channel}>
        </Chan>
    </Network>
</User>
"""
    (datadir / "configs").mkdir(parents=True, exist_ok=True)
    (datadir / "configs" / "znc.conf").write_text(config)
    if os.geteuid() == 0 and shutil.which("setpriv"):
        for path in [datadir, *datadir.rglob("*")]:
            shutil.chown(path, RUN_AS, RUN_AS_GROUP)
    return ZncSetup(datadir=datadir, listen_port=listen_port)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a throwaway ZNC config for a server.")
    parser.add_argument("datadir", type=Path)
    parser.add_argument("--server-port", type=int, required=True)
    parser.add_argument("--channel", default="#bench")
    args = parser.parse_args()
    setup = write_config(args.datadir, args.server_port, args.channel)
    print(" ".join(setup.command()))


if __name__ == "__main__":
    main()
