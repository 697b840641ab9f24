"""Registration as a pure state machine: server lines in, lines to send and outcomes out.

No transport, no clock, no protocol: ``Registration.feed`` is given what the server says
(the command as received, its params) and its ``Step`` is checked line by line.
"""

from __future__ import annotations

import base64

from logbot.irc.registration import PLAINTEXT_IDENTIFY, PLAINTEXT_SASL, Registration, Step

ME = "logbot"


def ls(reg: Registration, caps: str) -> Step:
    return reg.feed("CAP", ["*", "LS", caps])


def test_start_asks_for_the_capability_list() -> None:
    """The first line of a connection is CAP LS 302, and the machine waits for its answer."""
    reg = Registration(None, ME, None)
    assert reg.start() == ["CAP LS 302"]
    assert reg.state == "ls"


def test_wanted_caps_are_requested_then_cap_end_once_acknowledged() -> None:
    """Offered and wanted capabilities are REQuested; the ACK ends negotiation."""
    reg = Registration(None, ME, None)
    reg.start()
    step = ls(reg, "server-time multi-prefix unknown-cap")
    assert step.send == ["CAP REQ :multi-prefix server-time"]
    assert reg.state == "req"
    step = reg.feed("CAP", [ME, "ACK", "multi-prefix server-time"])
    assert step.send == ["CAP END"]
    assert reg.caps == {"multi-prefix", "server-time"}
    assert reg.server_time


def test_multiline_ls_waits_for_its_last_line() -> None:
    """``CAP LS * :...`` continues: nothing is requested before the final line."""
    reg = Registration(None, ME, None)
    reg.start()
    assert reg.feed("CAP", ["*", "LS", "*", "server-time"]).send == []
    assert ls(reg, "chghost").send == ["CAP REQ :chghost server-time"]


def test_nothing_wanted_ends_at_once() -> None:
    """A server offering nothing the bot wants gets CAP END straight away."""
    reg = Registration(None, ME, None)
    reg.start()
    assert ls(reg, "foo bar").send == ["CAP END"]
    assert reg.state == "done"


def test_a_nak_of_a_line_asks_for_each_capability_alone() -> None:
    """One disliked name refuses the whole REQ line: each is asked again on its own."""
    reg = Registration(None, ME, None)
    reg.start()
    ls(reg, "server-time chghost")
    step = reg.feed("CAP", [ME, "NAK", "chghost server-time"])
    assert step.send == ["CAP REQ :chghost", "CAP REQ :server-time"]
    assert reg.feed("CAP", [ME, "NAK", "chghost"]).send == []
    assert reg.feed("CAP", [ME, "ACK", "server-time"]).send == ["CAP END"]


def test_sasl_plain_exchange() -> None:
    """sasl is requested with the rest; AUTHENTICATE PLAIN, the payload on +, END on 903."""
    reg = Registration("plain", "acct", "pw")
    reg.start()
    assert ls(reg, "sasl=PLAIN,EXTERNAL").send == ["CAP REQ :sasl"]
    assert reg.feed("CAP", [ME, "ACK", "sasl"]).send == ["AUTHENTICATE PLAIN"]
    step = reg.feed("AUTHENTICATE", ["+"])
    assert step.send == ["AUTHENTICATE " + base64.b64encode(b"acct\0acct\0pw").decode()]
    step = reg.feed("903", [ME, "SASL authentication successful"])
    assert step.send == ["CAP END"]
    assert step.notes == [("info", "SASL PLAIN authentication succeeded")]
    assert reg.authenticated
    assert reg.welcome() == Step()
    assert reg.identify_line() is None


def test_sasl_external_sends_an_empty_response() -> None:
    """EXTERNAL: the certificate is the credential, the response is ``+``."""
    reg = Registration("EXTERNAL", ME, None)
    reg.start()
    ls(reg, "sasl")
    reg.feed("CAP", [ME, "ACK", "sasl"])
    assert reg.feed("AUTHENTICATE", ["+"]).send == ["AUTHENTICATE +"]


def test_sasl_failure_goes_on_unauthenticated_or_refuses_when_required() -> None:
    """904 without sasl_required: a warning and CAP END; with it: refuse, nothing sent."""
    for required in (False, True):
        reg = Registration("PLAIN", ME, "pw", required=required)
        reg.start()
        ls(reg, "sasl")
        reg.feed("CAP", [ME, "ACK", "sasl"])
        step = reg.feed("904", [ME, "SASL authentication failed"])
        reason = "SASL PLAIN authentication failed (904: SASL authentication failed)"
        if required:
            assert step.send == []
            assert step.refuse == f"{reason}; sasl_required is set, not joining unauthenticated"
        else:
            assert step.send == ["CAP END"]
            assert step.notes == [("warn", f"{reason}; going on unauthenticated")]


def test_no_sasl_on_the_server_falls_back_to_nickserv_when_secrets_may_travel() -> None:
    """PLAIN not offered: NickServ IDENTIFY once welcomed, if secrets are allowed."""
    reg = Registration("PLAIN", "acct", "pw", secrets_allowed=True)
    reg.start()
    step = ls(reg, "server-time")
    assert step.notes == [("warn", "the server does not offer SASL; will identify to NickServ")]
    assert reg.identify_line() == "PRIVMSG NickServ :IDENTIFY acct pw"


def test_no_sasl_and_no_tls_never_identifies_in_clear_text() -> None:
    """Without TLS (and allow_plaintext_secrets) the password is not sent; one warning says so."""
    reg = Registration("PLAIN", "acct", "pw", secrets_allowed=False)
    reg.start()
    step = ls(reg, "server-time")
    assert step.notes == [("warn", f"the server does not offer SASL; {PLAINTEXT_IDENTIFY}")]
    assert reg.identify_line() is None


def test_sasl_plain_is_not_requested_when_secrets_may_not_travel() -> None:
    """SASL offered, no TLS: sasl is not requested, nothing is sent, one warning says why."""
    reg = Registration("PLAIN", "acct", "pw", secrets_allowed=False)
    reg.start()
    step = ls(reg, "sasl=PLAIN server-time")
    assert step.send == ["CAP REQ :server-time"]
    assert step.notes == [("warn", f"{PLAINTEXT_SASL}; going on without")]
    assert reg.feed("CAP", [ME, "ACK", "server-time"]).send == ["CAP END"]
    assert reg.feed("AUTHENTICATE", ["+"]).send == []
    assert reg.identify_line() is None
    assert reg.welcome().refuse is None


def test_sasl_plain_without_tls_refuses_when_required() -> None:
    """sasl_required and no TLS: the connection is refused before anything is requested."""
    reg = Registration("PLAIN", "acct", "pw", required=True, secrets_allowed=False)
    reg.start()
    step = ls(reg, "sasl server-time")
    assert step.send == []
    assert step.refuse == f"{PLAINTEXT_SASL}; sasl_required is set, not joining unauthenticated"


def test_sasl_external_is_not_held_back_by_the_plaintext_rule() -> None:
    """EXTERNAL sends no password, so secrets_allowed does not stop it."""
    reg = Registration("EXTERNAL", ME, None, secrets_allowed=False)
    reg.start()
    assert ls(reg, "sasl=EXTERNAL").send == ["CAP REQ :sasl"]


def test_pre_ircv3_server_ends_negotiation_on_421() -> None:
    """421 for CAP: registration goes on; SASL is reported unavailable."""
    reg = Registration("EXTERNAL", ME, None)
    reg.start()
    step = reg.feed("421", ["*", "CAP", "Unknown command"])
    assert step.send == []
    assert reg.state == "done"
    assert step.notes == [
        ("warn", "the server does not support IRCv3 capabilities; going on without")
    ]


def test_welcome_without_sasl_when_required_refuses() -> None:
    """sasl_required and a welcome with no authentication: refuse."""
    reg = Registration("PLAIN", ME, "pw", required=True)
    reg.start()
    step = reg.welcome()
    assert step.refuse is not None
    assert "sasl_required is set" in step.refuse


def test_cap_new_and_del_after_registration() -> None:
    """cap-notify: NEW wanted capabilities are requested; DEL turns server-time off."""
    reg = Registration(None, ME, None)
    reg.start()
    ls(reg, "cap-notify")
    reg.feed("CAP", [ME, "ACK", "cap-notify"])
    assert reg.feed("CAP", [ME, "NEW", "server-time"]).send == ["CAP REQ :server-time"]
    reg.feed("CAP", [ME, "ACK", "server-time"])
    assert reg.server_time
    reg.feed("CAP", [ME, "DEL", "server-time"])
    assert not reg.server_time
