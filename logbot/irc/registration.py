"""Registration: IRCv3 capability negotiation and SASL, as a pure state machine.

No Twisted, no transport, no clock: :class:`Registration` is fed the server's lines
(``feed(command, params)``, the command as it arrived, numerics as digits) and answers
each with a :class:`Step`: the lines to send, what to log, and whether to give up on
the connection. The protocol does what the step says; tests drive the machine alone.

The states: ``off`` (nothing sent) -> ``ls`` (``CAP LS 302`` sent) -> ``req``
(``CAP REQ`` lines waiting for ACK/NAK) -> ``sasl`` (``AUTHENTICATE`` exchange) ->
``done`` (``CAP END`` sent, or the server knows no CAP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from logbot.irc.cap import WANTED_CAPS, parse_caps, req_lines, sasl_plain_chunks

#: SASL failure numerics, with the words a log line gives for each.
SASL_FAILURES: dict[str, str] = {
    "902": "the account is locked",
    "904": "authentication failed",
    "905": "the response was too long",
    "906": "authentication aborted",
}

#: Every command :meth:`Registration.feed` takes (the protocol routes these here).
COMMANDS: frozenset[str] = frozenset(
    {"CAP", "AUTHENTICATE", "421", "900", "903", "907", "908", *SASL_FAILURES}
)

Level = Literal["info", "warn", "error"]

#: Why the NickServ fallback is not used without TLS (one WARN line says it).
PLAINTEXT_IDENTIFY = (
    "not identifying to NickServ: IDENTIFY would send the SASL password in clear text "
    "(no TLS; set allow_plaintext_secrets = true to allow it)"
)

#: Why SASL PLAIN is not tried without TLS: base64 hides nothing (one WARN line says it).
PLAINTEXT_SASL = (
    "not authenticating with SASL PLAIN: it would send the password in clear text "
    "(no TLS; set allow_plaintext_secrets = true to allow it)"
)


@dataclass(slots=True)
class Step:
    """What one server line asks of the protocol."""

    #: lines to send, in order
    send: list[str] = field(default_factory=list)
    #: (level, message) lines to log, the network's name to be put before each
    notes: list[tuple[Level, str]] = field(default_factory=list)
    #: set: end the connection politely (QUIT with this reason); nothing else follows
    refuse: str | None = None


class Registration:
    """CAP LS/REQ/END and SASL PLAIN or EXTERNAL for one connection.

    ``mechanism`` is ``"PLAIN"``, ``"EXTERNAL"`` or None (no SASL); ``password`` the
    SASL password for PLAIN; ``required`` is ``sasl_required``; ``secrets_allowed`` says
    whether a secret may cross this connection in a form the server can read back in
    clear (TLS, or ``allow_plaintext_secrets``): without it neither SASL PLAIN nor the
    NickServ fallback sends the password.
    """

    def __init__(
        self,
        mechanism: str | None,
        account: str,
        password: str | None,
        required: bool = False,
        secrets_allowed: bool = True,
    ) -> None:
        self.mechanism = mechanism.upper() if mechanism else None
        self.account = account
        self._password = password
        self.required = required
        self.secrets_allowed = secrets_allowed
        self.state = "off"
        self.offered: dict[str, str] = {}
        #: capabilities the server acknowledged (and has not taken back)
        self.caps: set[str] = set()
        #: the ``server-time`` capability is on: a line's ``@time`` tag is its time
        self.server_time = False
        self.authenticated = False
        #: SASL did not happen and the password is to be sent to NickServ once welcomed
        self.nickserv_fallback = False
        self._pending: list[frozenset[str]] = []
        self._sasl_requested = False

    # -- the protocol's calls -------------------------------------------------------

    def start(self) -> list[str]:
        """The first line of a connection (``CAP LS 302``): the server holds on until END."""
        self.state = "ls"
        return ["CAP LS 302"]

    def feed(self, command: str, params: list[str]) -> Step:
        """One server line of a command in :data:`COMMANDS`."""
        step = Step()
        if command == "CAP":
            self._cap(params, step)
        elif command == "AUTHENTICATE":
            self._authenticate(params, step)
        elif command == "421":
            self._unknown_command(params, step)
        elif command == "900":
            account = params[2] if len(params) > 3 else "?"
            step.notes.append(("info", f"logged in as {account}"))
        elif command in ("903", "907"):
            self._sasl_success(step)
        elif command == "908":
            if len(params) > 1:
                step.notes.append(("info", f"the server accepts SASL {params[1]}"))
        elif command in SASL_FAILURES:
            self._sasl_failure(command, params, step)
        return step

    def welcome(self) -> Step:
        """The server's 001: registration is over, one way or another."""
        step = Step()
        if self.state == "ls":
            # Welcomed without a word about CAP: a server that ignores it.
            self.state = "done"
            if self.mechanism is not None:
                self._sasl_unavailable("the server does not support IRCv3 capabilities", step)
        elif self.state != "done":
            self.state = "done"
        if step.refuse is None and self.required and not self.authenticated:
            step.refuse = "not authenticated by SASL; sasl_required is set, not joining"
        return step

    def identify_line(self) -> str | None:
        """The NickServ IDENTIFY to send once signed on, if SASL could not be used."""
        if not self.nickserv_fallback or self.authenticated or self._password is None:
            return None
        return f"PRIVMSG NickServ :IDENTIFY {self.account} {self._password}"

    # -- CAP ---------------------------------------------------------------------------

    def _cap(self, params: list[str], step: Step) -> None:
        if len(params) < 3:
            return
        sub = params[1].upper()
        more = len(params) > 3 and params[2] == "*"
        caps = parse_caps(params[-1])
        if sub == "LS":
            self.offered.update(caps)
            if not more and self.state == "ls":
                self._ls_done(step)
        elif sub == "ACK":
            acked = set()
            for name in caps:
                if name.startswith("-"):
                    self.caps.discard(name[1:])
                else:
                    self.caps.add(name)
                    acked.add(name)
            self.server_time = "server-time" in self.caps
            self._answered(acked, False, step)
        elif sub == "NAK":
            self._answered(set(caps), True, step)
        elif sub == "NEW":
            self.offered.update(caps)
            wanted = [c for c in WANTED_CAPS if c in caps and c not in self.caps]
            for line, asked in req_lines(wanted):
                self._pending.append(asked)
                step.send.append(line)
        elif sub == "DEL":
            for name in caps:
                self.offered.pop(name, None)
                self.caps.discard(name)
            self.server_time = "server-time" in self.caps

    def _ls_done(self, step: Step) -> None:
        offered = self.offered
        wanted = [c for c in WANTED_CAPS if c in offered]
        mech = self.mechanism
        if mech is not None:
            if "sasl" not in offered:
                self._sasl_unavailable("the server does not offer SASL", step)
            elif offered["sasl"] and mech not in offered["sasl"].upper().split(","):
                self._sasl_unavailable(
                    f"the server offers SASL {offered['sasl']}, not {mech}", step, fallback=False
                )
            elif mech == "PLAIN" and not self.secrets_allowed:
                self._sasl_unavailable(PLAINTEXT_SASL, step, fallback=False)
            else:
                wanted.append("sasl")
                self._sasl_requested = True
            if step.refuse is not None:
                return
        if not wanted:
            self._end(step)
            return
        self.state = "req"
        for line, asked in req_lines(wanted):
            self._pending.append(asked)
            step.send.append(line)

    def _answered(self, answered: set[str], rejected: bool, step: Step) -> None:
        """An ACK or NAK: settle the requests it answers; when none is left, go on."""
        still: list[frozenset[str]] = []
        retry: list[str] = []
        for asked in self._pending:
            if not asked & answered:
                still.append(asked)
            elif rejected:
                if len(asked) > 1:
                    # One name the server dislikes refuses the whole line: ask for each alone.
                    retry.extend(sorted(asked))
            elif asked - answered:
                still.append(asked - answered)
        for cap in retry:
            still.append(frozenset([cap]))
        self._pending = still
        for cap in retry:
            step.send.append(f"CAP REQ :{cap}")
        if not still and self.state == "req":
            self._requests_done(step)

    def _requests_done(self, step: Step) -> None:
        if self._sasl_requested and not self.authenticated:
            if "sasl" in self.caps:
                self.state = "sasl"
                step.send.append(f"AUTHENTICATE {self.mechanism}")
                return
            self._sasl_unavailable("the server refused the sasl capability", step, fallback=False)
            if step.refuse is not None:
                return
        self._end(step)

    def _end(self, step: Step) -> None:
        self.state = "done"
        step.send.append("CAP END")

    def _unknown_command(self, params: list[str], step: Step) -> None:
        if len(params) > 1 and params[1].upper() == "CAP" and self.state == "ls":
            # A server from before IRCv3: registration simply goes on.
            self.state = "done"
            if self.mechanism is not None:
                self._sasl_unavailable("the server does not support IRCv3 capabilities", step)

    # -- SASL --------------------------------------------------------------------------

    def _authenticate(self, params: list[str], step: Step) -> None:
        if self.state != "sasl" or not params or params[0] != "+":
            return
        if self.mechanism == "PLAIN":
            for chunk in sasl_plain_chunks(self.account, self._password or ""):
                step.send.append(f"AUTHENTICATE {chunk}")
        else:
            # EXTERNAL: the TLS client certificate is the credential; the identity is implied
            step.send.append("AUTHENTICATE +")

    def _sasl_success(self, step: Step) -> None:
        if self.state != "sasl":
            return  # no exchange under way: a stray 903 authenticates nothing
        self.authenticated = True
        step.notes.append(("info", f"SASL {self.mechanism} authentication succeeded"))
        self._end(step)

    def _sasl_failure(self, command: str, params: list[str], step: Step) -> None:
        if self.state != "sasl" or self.authenticated:
            return
        what = SASL_FAILURES.get(command, "failed")
        detail = params[-1] if len(params) > 1 else ""
        reason = f"SASL {self.mechanism} {what} ({command}: {detail})"
        if self.required:
            step.refuse = f"{reason}; sasl_required is set, not joining unauthenticated"
            return
        step.notes.append(("warn", f"{reason}; going on unauthenticated"))
        self._end(step)

    def _sasl_unavailable(self, reason: str, step: Step, fallback: bool = True) -> None:
        if self.required:
            step.refuse = f"{reason}; sasl_required is set, not joining unauthenticated"
            return
        could = fallback and self.mechanism == "PLAIN" and self._password is not None
        self.nickserv_fallback = could and self.secrets_allowed
        if self.nickserv_fallback:
            then = "will identify to NickServ"
        elif could:
            then = PLAINTEXT_IDENTIFY
        else:
            then = "going on without"
        step.notes.append(("warn", f"{reason}; {then}"))
