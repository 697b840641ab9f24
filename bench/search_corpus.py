"""A deterministic corpus of realistic channel traffic for the search benchmark.

``generate(n_events, seed)`` yields the same events for the same arguments on every machine
(only ``random.Random`` with a fixed seed, no hashing of strings): about 20 channels of
Zipf-distributed sizes over three years, ~5,000 nicks with Zipf-distributed activity, message
words drawn from a Zipf vocabulary (common English, then IRC/tech words, then a long tail of
made-up words), ~10% actions, notices, joins, parts, quits (and a few kicks, nick changes,
topics, modes), some Cyrillic lines, URLs, accented words, mentions and fixed collocations.

:func:`write_corpus` writes it twice: JSON lines for ``logbot import``, and per-channel,
per-day text files (``DIR/<channel>/<YYYY-MM-DD>.log``, ZNC-style ``[HH:MM:SS] <nick> text``)
for ripgrep. :class:`Facts` records what the query classes need (word ranks, counts).
"""

# ruff: noqa: RUF001  (the Cyrillic words are meant: they are the corpus)
from __future__ import annotations

import bisect
import itertools
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

START = datetime(2023, 1, 1, tzinfo=UTC)
DAYS = 3 * 365
N_CHANNELS = 20
N_NICKS = 5000

COMMON = [
    "the",
    "to",
    "i",
    "a",
    "and",
    "it",
    "is",
    "you",
    "that",
    "of",
    "in",
    "for",
    "on",
    "this",
    "with",
    "but",
    "not",
    "have",
    "be",
    "just",
    "so",
    "what",
    "can",
    "do",
    "if",
    "like",
    "no",
    "yes",
    "are",
    "was",
    "my",
    "we",
    "me",
    "at",
    "all",
    "get",
    "know",
    "think",
    "there",
    "they",
    "about",
    "one",
    "now",
    "out",
    "up",
    "how",
    "any",
    "would",
    "will",
    "use",
    "or",
    "from",
    "an",
    "your",
    "some",
    "then",
    "here",
    "see",
    "right",
    "need",
    "good",
    "work",
    "want",
    "time",
    "still",
    "also",
    "make",
    "way",
    "does",
    "did",
    "because",
    "people",
    "only",
    "really",
    "thing",
    "why",
    "when",
    "well",
    "lol",
    "ok",
    "try",
    "too",
    "should",
    "new",
    "more",
    "could",
    "going",
    "much",
    "something",
    "got",
    "other",
    "same",
    "which",
    "been",
    "ah",
    "hmm",
]

TECH = [
    "release",
    "deploy",
    "deployed",
    "deployment",
    "bug",
    "issue",
    "server",
    "kernel",
    "python",
    "build",
    "merge",
    "branch",
    "commit",
    "test",
    "tests",
    "error",
    "crash",
    "patch",
    "config",
    "docker",
    "image",
    "container",
    "network",
    "package",
    "install",
    "upgrade",
    "version",
    "update",
    "database",
    "query",
    "index",
    "cache",
    "memory",
    "disk",
    "cpu",
    "thread",
    "process",
    "socket",
    "timeout",
    "latency",
    "backup",
    "restore",
    "logs",
    "log",
    "script",
    "shell",
    "terminal",
    "editor",
    "vim",
    "emacs",
    "compile",
    "compiler",
    "linker",
    "library",
    "module",
    "function",
    "class",
    "method",
    "variable",
    "pointer",
    "segfault",
    "stacktrace",
    "debugger",
    "profiler",
    "benchmark",
    "review",
    "approve",
    "reject",
    "ticket",
    "sprint",
    "deadline",
    "meeting",
    "standup",
    "weekend",
    "vacation",
    "coffee",
    "lunch",
    "dinner",
    "tonight",
    "tomorrow",
    "yesterday",
    "morning",
    "evening",
    "documentation",
    "wiki",
    "readme",
    "license",
    "upstream",
    "downstream",
    "fork",
    "mirror",
    "repository",
    "pipeline",
    "runner",
    "artifact",
    "staging",
    "production",
    "rollback",
    "hotfix",
    "outage",
    "incident",
    "monitoring",
    "alert",
    "dashboard",
    "metrics",
    "grafana",
    "prometheus",
    "nginx",
    "apache",
    "postgres",
    "sqlite",
    "redis",
    "kafka",
    "rabbitmq",
    "kubernetes",
    "helm",
    "terraform",
    "ansible",
    "systemd",
    "cron",
    "journald",
    "firewall",
    "certificate",
    "tls",
    "ssl",
    "dns",
    "proxy",
    "router",
    "switch",
    "laptop",
    "desktop",
    "keyboard",
    "monitor",
]

ACCENTED = [
    "jalapeño",
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "façade",
    "über",
    "señor",
    "crème",
    "piñata",
    "Ångström",
    "déjà",
    "coöperate",
    "Malmö",
    "São",
    "Kraków",
    "smörgåsbord",
    "fiancée",
    "éclair",
]

CYRILLIC = [
    "привет",
    "мир",
    "как",
    "дела",
    "сервер",
    "ошибка",
    "работает",
    "спасибо",
    "пожалуйста",
    "сегодня",
    "завтра",
    "вчера",
    "релиз",
    "сборка",
    "ветка",
    "коммит",
    "тест",
    "база",
    "данных",
    "запрос",
    "индекс",
    "память",
    "диск",
    "процесс",
    "сеть",
    "пакет",
    "версия",
    "обновление",
    "документация",
    "встреча",
    "кофе",
    "обед",
    "ужин",
    "выходные",
    "отпуск",
    "хорошо",
    "плохо",
    "может",
    "быть",
    "нужно",
    "сделать",
    "посмотри",
    "проверь",
    "исправил",
    "сломалось",
    "починил",
]

COLLOCATIONS = (
    "release date",
    "pull request",
    "stack trace",
    "code review",
    "merge conflict",
    "good morning",
    "thank you",
    "happy new year",
    "out of memory",
    "works for me",
)

DOMAINS = (
    "github.com",
    "gitlab.com",
    "example.com",
    "docs.python.org",
    "pastebin.com",
    "en.wikipedia.org",
    "news.ycombinator.com",
    "stackoverflow.com",
    "youtube.com",
    "bugs.debian.org",
)

QUIT_REASONS = (
    "Quit: leaving",
    "Ping timeout: 240 seconds",
    "Remote host closed the connection",
    "Client Quit",
    "Read error: Connection reset by peer",
    "Quit: ZNC - https://znc.in",
)

# kind, weight per 1000 events
KINDS = (
    ("message", 900),
    ("action", 30),
    ("notice", 10),
    ("join", 22),
    ("part", 18),
    ("quit", 15),
    ("kick", 2),
    ("nick", 2),
    ("topic", 0.5),
    ("mode", 0.5),
)

_SYL_LATIN = [
    "ka",
    "ri",
    "to",
    "mo",
    "ne",
    "su",
    "la",
    "vi",
    "de",
    "zo",
    "pa",
    "fu",
    "gi",
    "ha",
    "be",
    "ny",
    "qu",
    "ox",
    "el",
    "ar",
    "in",
    "ur",
    "st",
]
_SYL_CYR = [
    "ка",
    "ри",
    "то",
    "мо",
    "не",
    "су",
    "ла",
    "ви",
    "де",
    "зо",
    "па",
    "фу",
    "ги",
    "ха",
    "бе",
    "ны",
    "ку",
    "ох",
    "ел",
    "ар",
    "ин",
    "ур",
    "ст",
]


def _made_up(rng: random.Random, syllables: list[str], n: int, seen: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


@dataclass
class Facts:
    """What the benchmark needs to pick its queries."""

    vocabulary: list[str]
    cyrillic: list[str]
    nicks: list[str]
    channels: list[str]
    end: datetime
    #: occurrences of each vocabulary word in message texts (index = rank - 1)
    word_counts: list[int] = field(default_factory=list)
    cyrillic_counts: list[int] = field(default_factory=list)
    nick_counts: list[int] = field(default_factory=list)
    channel_counts: list[int] = field(default_factory=list)
    url_paths: list[str] = field(default_factory=list)


class Corpus:
    """The generator; ``facts`` fills in while :meth:`events` runs."""

    def __init__(self, n_events: int, seed: int = 2024) -> None:
        self.n_events = n_events
        self.seed = seed
        rng = random.Random(seed)
        seen: set[str] = set()
        vocab = list(dict.fromkeys(COMMON))
        seen.update(vocab)
        tech = [w for w in TECH if w not in seen]
        seen.update(tech)
        tail = _made_up(rng, _SYL_LATIN, 60_000, seen)
        # ranks: common words first, then tech words, then the long tail; accented words
        # sit among the mid-frequency tail so that they are findable but not everywhere
        vocab += tech + tail
        for i, word in enumerate(ACCENTED):
            vocab.insert(400 + 37 * i, word)
        self.vocab = vocab
        self.vocab_cum = _zipf_cum(len(vocab), 1.05)
        cseen: set[str] = set(CYRILLIC)
        self.cyrillic = list(dict.fromkeys(CYRILLIC)) + _made_up(rng, _SYL_CYR, 3000, cseen)
        self.cyr_cum = _zipf_cum(len(self.cyrillic), 1.0)
        nseen: set[str] = set()
        nicks = _made_up(rng, _SYL_LATIN, N_NICKS, nseen)
        decorations = ("", "", "", "", "_", "[m]", "|away", "^", "`", "-")
        self.nicks = [n + decorations[i % len(decorations)] for i, n in enumerate(nicks)]
        self.nick_cum = _zipf_cum(len(self.nicks), 1.1)
        chans = _made_up(rng, _SYL_LATIN, N_CHANNELS, set())
        self.channels = ["#" + c for c in chans]
        self.chan_cum = _zipf_cum(N_CHANNELS, 0.8)
        self.kind_names = [k for k, _ in KINDS]
        self.kind_cum = list(itertools.accumulate(w for _, w in KINDS))
        self.projects = _made_up(rng, _SYL_LATIN, 300, set(seen))
        self.facts = Facts(
            vocabulary=self.vocab,
            cyrillic=self.cyrillic,
            nicks=self.nicks,
            channels=self.channels,
            end=START + timedelta(days=DAYS),
            word_counts=[0] * len(vocab),
            cyrillic_counts=[0] * len(self.cyrillic),
            nick_counts=[0] * len(self.nicks),
            channel_counts=[0] * N_CHANNELS,
        )

    def events(self) -> Iterator[dict[str, str]]:
        """The events, in time order, as JSON-ready dicts (``logbot import``'s shape)."""
        rng = random.Random(self.seed + 1)
        rand = rng.random
        facts = self.facts
        vocab, vcum, vtotal = self.vocab, self.vocab_cum, self.vocab_cum[-1]
        cyr, ccum, ctotal = self.cyrillic, self.cyr_cum, self.cyr_cum[-1]
        nicks, ncum, ntotal = self.nicks, self.nick_cum, self.nick_cum[-1]
        chans, chcum, chtotal = self.channels, self.chan_cum, self.chan_cum[-1]
        kinds, kcum, ktotal = self.kind_names, self.kind_cum, self.kind_cum[-1]
        word_counts, cyr_counts = facts.word_counts, facts.cyrillic_counts
        span_us = DAYS * 86_400 * 1_000_000
        mean_gap = span_us / max(self.n_events, 1)
        t_us = 0.0
        start_us = int(START.timestamp()) * 1_000_000
        bis = bisect.bisect
        topic = "welcome"
        for _ in range(self.n_events):
            t_us += rng.expovariate(1.0 / mean_gap)
            when = start_us + min(int(t_us), span_us - 1)
            chan_i = bis(chcum, rand() * chtotal)
            nick_i = bis(ncum, rand() * ntotal)
            facts.channel_counts[chan_i] += 1
            facts.nick_counts[nick_i] += 1
            nick = nicks[nick_i]
            kind = kinds[bis(kcum, rand() * ktotal)]
            target = ""
            userhost = ""
            if kind in ("message", "action", "notice"):
                r = rand()
                if r < 0.03:
                    n = 1 + int(rng.expovariate(1 / 5))
                    picks = [bis(ccum, rand() * ctotal) for _ in range(n)]
                    for p in picks:
                        cyr_counts[p] += 1
                    text = " ".join(cyr[p] for p in picks)
                else:
                    n = 1 + int(rng.expovariate(1 / 8))
                    picks = [bis(vcum, rand() * vtotal) for _ in range(n)]
                    words = [vocab[p] for p in picks]
                    if r < 0.06:
                        path = f"{self.projects[int(rand() * 300)]}/{int(rand() * 5000)}"
                        dom = DOMAINS[int(rand() * len(DOMAINS))]
                        if len(facts.url_paths) < 2000:
                            facts.url_paths.append(f"{dom}/{path}")
                        words.insert(int(rand() * (len(words) + 1)), f"https://{dom}/{path}")
                    elif r < 0.08:
                        words.insert(
                            int(rand() * (len(words) + 1)),
                            COLLOCATIONS[int(rand() * len(COLLOCATIONS))],
                        )
                    if rand() < 0.1:
                        words.insert(0, nicks[bis(ncum, rand() * ntotal)] + ":")
                    text = " ".join(words)
                    for p in picks:
                        word_counts[p] += 1
            elif kind == "join":
                text = ""
                userhost = f"~{nick.strip('_[]|^`-')}@host-{nick_i % 997}.example.net"
            elif kind == "part":
                text = "" if rand() < 0.6 else "bye"
                userhost = f"~{nick.strip('_[]|^`-')}@host-{nick_i % 997}.example.net"
            elif kind == "quit":
                text = QUIT_REASONS[int(rand() * len(QUIT_REASONS))]
                userhost = f"~{nick.strip('_[]|^`-')}@host-{nick_i % 997}.example.net"
            elif kind == "kick":
                target = nicks[bis(ncum, rand() * ntotal)]
                text = "spam"
            elif kind == "nick":
                target = nick + "_"
                text = ""
            elif kind == "topic":
                topic = " ".join(vocab[bis(vcum, rand() * vtotal)] for _ in range(6))
                text = topic
            else:
                text = f"+o {nicks[bis(ncum, rand() * ntotal)]}"
            ev = {
                "time": _iso(when),
                "network": "benchnet",
                "channel": chans[chan_i],
                "nick": nick,
                "kind": kind,
                "text": text,
            }
            if target:
                ev["target"] = target
            if userhost:
                ev["userhost"] = userhost
            yield ev


def _iso(micros: int) -> str:
    secs, us = divmod(micros, 1_000_000)
    return (
        datetime.fromtimestamp(secs, UTC).replace(microsecond=us).isoformat(timespec="microseconds")
    )


def _text_line(ev: dict[str, str]) -> str:
    hms = ev["time"][11:19]
    kind, nick, text = ev["kind"], ev["nick"], ev["text"]
    if kind == "message":
        return f"[{hms}] <{nick}> {text}\n"
    if kind == "action":
        return f"[{hms}] * {nick} {text}\n"
    if kind == "notice":
        return f"[{hms}] -{nick}- {text}\n"
    if kind == "join":
        return f"[{hms}] *** Joins: {nick} ({ev.get('userhost', '')})\n"
    if kind == "part":
        return f"[{hms}] *** Parts: {nick} ({ev.get('userhost', '')}) ({text})\n"
    if kind == "quit":
        return f"[{hms}] *** Quits: {nick} ({ev.get('userhost', '')}) ({text})\n"
    if kind == "kick":
        return f"[{hms}] *** {ev.get('target', '')} was kicked by {nick} ({text})\n"
    if kind == "nick":
        return f"[{hms}] *** {nick} is now known as {ev.get('target', '')}\n"
    if kind == "topic":
        return f"[{hms}] *** {nick} changes topic to '{text}'\n"
    return f"[{hms}] *** {nick} sets mode: {text}\n"


def write_corpus(corpus: Corpus, jsonl: Path, text_dir: Path) -> int:
    """Write the JSON lines and the per-channel per-day text logs; the number of events."""
    text_dir.mkdir(parents=True, exist_ok=True)
    open_files: dict[str, tuple[str, IO[str]]] = {}
    count = 0
    buffer: list[str] = []
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    with open(jsonl, "w", encoding="utf-8") as out:
        for ev in corpus.events():
            count += 1
            buffer.append(dumps(ev))
            if len(buffer) >= 10_000:
                out.write("\n".join(buffer) + "\n")
                buffer = []
            chan = ev["channel"]
            day = ev["time"][:10]
            current = open_files.get(chan)
            if current is None or current[0] != day:
                if current is not None:
                    current[1].close()
                folder = text_dir / chan.lstrip("#")
                folder.mkdir(exist_ok=True)
                handle = open(folder / f"{day}.log", "a", encoding="utf-8")  # noqa: SIM115
                open_files[chan] = (day, handle)
                current = open_files[chan]
            current[1].write(_text_line(ev))
        if buffer:
            out.write("\n".join(buffer) + "\n")
    for _, handle in open_files.values():
        handle.close()
    return count


def save_facts(facts: Facts, path: Path) -> None:
    path.write_text(json.dumps(facts.__dict__, default=str, ensure_ascii=False), encoding="utf-8")


def load_facts(path: Path) -> Facts:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["end"] = datetime.fromisoformat(data["end"])
    return Facts(**data)


if __name__ == "__main__":  # pragma: no cover - a quick look at the traffic
    import sys

    for ev in itertools.islice(Corpus(int(sys.argv[1]) if len(sys.argv) > 1 else 20).events(), 40):
        sys.stdout.write(_text_line(ev))
    os._exit(0)
