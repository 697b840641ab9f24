"""The search query language: parse what a user typed, compile it for each engine.

Syntax (all case- and diacritic-insensitive):

- ``release date``: every word must match (``AND`` between words is allowed and changes nothing);
- ``"release date"``: the words next to each other, in this order;
- ``deplo*``: a word starting with ``deplo``;
- ``bug OR issue``: either (``OR`` binds tighter than the implicit AND: ``a b OR c`` is
  ``a AND (b OR c)``);
- ``-staging``: no event containing ``staging`` (also ``-"a phrase"`` and ``-pre*``).

(Records are NamedTuples rather than dataclasses: ``dataclasses`` costs ~15 ms of start-up.)

A word is cut into *tokens* exactly where the index cuts text: at every character that is
not a letter, digit or private-use character (SQLite FTS5 ``unicode61``). A word holding
punctuation (``example.com/x``, ``foo_bar``) therefore means its tokens as a phrase, which
is what finds URLs and nicks. Tokens hold no punctuation at all, so the compiled engine
syntax can never be steered by user text: nothing a user types reaches FTS5 ``MATCH`` or
``to_tsquery`` except through :func:`to_fts5` / :func:`to_tsquery`.

Every input either parses or raises :class:`QueryError` with a one-line message.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

__all__ = [
    "Phrase",
    "Query",
    "QueryError",
    "fold",
    "folded_tokens",
    "matches",
    "parse",
    "to_fts5",
    "to_tsquery",
    "token_spans",
    "tokens",
    "without_prefixes",
]

_OPERATORS = frozenset({"AND", "OR"})


class QueryError(ValueError):
    """A query that cannot be searched; the message is one line meant for the user."""


class Phrase(NamedTuple):
    """Tokens that must appear next to each other, in order; ``prefix`` applies to the last."""

    tokens: tuple[str, ...]
    prefix: bool = False
    #: what the user typed for this term, for messages
    source: str = ""


class Query(NamedTuple):
    """A parsed query: every clause must match (a clause is an OR of phrases), no excluded
    phrase may match."""

    clauses: tuple[tuple[Phrase, ...], ...]
    excluded: tuple[Phrase, ...] = ()

    def positive(self) -> tuple[Phrase, ...]:
        """Every phrase that can make an event match (for highlighting)."""
        return tuple(p for clause in self.clauses for p in clause)


def _is_token_char(ch: str) -> bool:
    # unicode61's token characters are the categories L*, N* and Co; with
    # remove_diacritics, combining marks (Mn) stay inside the token and are folded away.
    cat = unicodedata.category(ch)
    return cat[0] in "LN" or cat in ("Co", "Mn")


# in ASCII, unicode61's token characters are exactly the letters and digits
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")


def token_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` offsets of each token in ``text``, as the index cuts it."""
    if text.isascii():
        # most chat lines: a search checking thousands of them spends its time here
        return [m.span() for m in _ASCII_TOKEN.finditer(text)]
    spans: list[tuple[int, int]] = []
    start = -1
    for i, ch in enumerate(text):
        if _is_token_char(ch):
            if start < 0:
                start = i
        elif start >= 0:
            spans.append((start, i))
            start = -1
    if start >= 0:
        spans.append((start, len(text)))
    # a run of bare combining marks is no token (FTS5 folds it to nothing)
    return [(s, e) for s, e in spans if fold(text[s:e])]


def tokens(text: str) -> list[str]:
    """The tokens of ``text`` as typed (not folded)."""
    return [text[s:e] for s, e in token_spans(text)]


def fold(token: str) -> str:
    """Case- and diacritic-folded form of a token, as both indexes compare them."""
    if token.isascii():
        return token.lower()
    # lower() and canonical decomposition, not casefold()/NFKD: FTS5 keeps "ß" and "ﬁ"
    decomposed = unicodedata.normalize("NFD", token.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


# Every ASCII byte that is not a letter or digit separates tokens (a space), ASCII capitals
# are lowered, and every other byte (UTF-8 of non-ASCII characters) is kept as it is.
_ASCII_FOLD = bytes(
    c + 32 if 65 <= c <= 90 else c if c >= 0x80 or chr(c).isalnum() else 32 for c in range(256)
)
#: pieces of non-ASCII text folded so far: chat repeats its words (cleared when full, so
#: it stays under ~2 MB)
_FOLDED_PIECES: dict[str, list[str]] = {}
_FOLDED_PIECES_MAX = 8_192


def _folded_piece(piece: str) -> list[str]:
    got = _FOLDED_PIECES.get(piece)
    if got is None:
        if len(_FOLDED_PIECES) >= _FOLDED_PIECES_MAX:
            _FOLDED_PIECES.clear()
        got = _FOLDED_PIECES[piece] = [fold(t) for t in tokens(piece)]
    return got


def folded_tokens(text: str) -> list[str]:
    """``[fold(t) for t in tokens(text)]``, fast: what a writer indexes for every event.

    The same tokens and folding, by a quicker road: one C pass cuts ``text`` at ASCII
    separators and lowers ASCII letters (most chat lines are done then); the pieces that
    hold non-ASCII characters go through :func:`tokens` and :func:`fold` themselves, once
    per distinct piece. (Whitespace is never a token character, so ``split()`` cutting at
    Unicode spaces too changes nothing.)
    """
    parts = (
        text.encode("utf-8", "surrogatepass")
        .translate(_ASCII_FOLD)
        .decode("utf-8", "surrogatepass")
        .split()
    )
    if text.isascii():
        return parts
    out: list[str] = []
    for part in parts:
        if part.isascii():
            out.append(part)
        else:
            out += _folded_piece(part)
    return out


# --- parsing ---------------------------------------------------------------------------


class _Lexeme(NamedTuple):
    kind: str  # "word", "phrase", "op"
    text: str  # the word / phrase content / operator name
    negated: bool
    prefix: bool
    source: str


def _lex(query: str) -> list[_Lexeme]:
    out: list[_Lexeme] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        negated = False
        if ch == "-":
            negated = True
            i += 1
            if i >= n or query[i].isspace():
                raise QueryError(
                    "a lone '-' excludes nothing: write it right before a word, e.g. -staging"
                )
        if query[i] == '"':
            close = query.find('"', i + 1)
            if close < 0:
                raise QueryError(f'unbalanced quote in {query[start:]!r}: close the phrase with "')
            content = query[i + 1 : close]
            i = close + 1
            prefix = False
            if i < n and query[i] == "*":
                prefix = True
                i += 1
            if i < n and not query[i].isspace():
                raise QueryError(f"put a space after the closing quote in {query[start : i + 1]!r}")
            out.append(_Lexeme("phrase", content, negated, prefix, query[start:i]))
            continue
        while i < n and not query[i].isspace() and query[i] != '"':
            i += 1
        if i < n and query[i] == '"':
            raise QueryError(
                f"a quote inside a word in {query[start : i + 1]!r}: "
                'quote whole words, e.g. "a phrase"'
            )
        word = query[start:i]
        if not negated and word in _OPERATORS:
            out.append(_Lexeme("op", word, False, False, word))
            continue
        body = word[1:] if negated else word
        prefix = body.endswith("*")
        if prefix:
            body = body[:-1]
        if "*" in body:
            raise QueryError(
                f"'*' only goes at the end of a word (a prefix search, e.g. deploy*): {word!r}"
            )
        if negated and body in _OPERATORS:
            raise QueryError(
                f'{word!r}: {body} is an operator; to exclude the word, write -"{body}"'
            )
        out.append(_Lexeme("word", body, negated, prefix, word))
    return out


def _phrase(lexeme: _Lexeme) -> Phrase:
    toks = tuple(tokens(lexeme.text))
    if not toks:
        if lexeme.kind == "phrase" and not lexeme.text.strip():
            raise QueryError(f"empty phrase {lexeme.source!r}: put words between the quotes")
        if lexeme.prefix and not lexeme.text:
            raise QueryError(
                f"{lexeme.source!r} matches everything: put '*' after the start of a word, "
                "e.g. deploy*"
            )
        raise QueryError(f"{lexeme.source!r} has no letters or digits to search for")
    if lexeme.prefix and lexeme.kind == "word" and not _is_token_char(lexeme.text[-1]):
        raise QueryError(f"'*' must follow a letter or digit in {lexeme.source!r}, e.g. deploy*")
    return Phrase(toks, lexeme.prefix, lexeme.source)


def parse(query: str) -> Query | None:
    """Parse a user query; ``None`` when it holds nothing (search the newest events)."""
    lexemes = _lex(query)
    if not lexemes:
        return None
    clauses: list[list[Phrase]] = []
    excluded: list[Phrase] = []
    # state: was the previous item an operator that still needs its right-hand term?
    pending: str | None = None
    prev_negated = False
    for pos, lx in enumerate(lexemes):
        if lx.kind == "op":
            if pending is not None:
                raise QueryError(f"{pending} {lx.text}: two operators in a row need a word between")
            if pos == 0:
                raise QueryError(f"the query starts with {lx.text}: it needs a word on each side")
            if lx.text == "OR" and prev_negated:
                raise QueryError(
                    f"OR after an excluded term ({lexemes[pos - 1].source}) cannot be searched: "
                    "OR joins words that may match"
                )
            pending = lx.text
            continue
        phrase = _phrase(lx)
        if lx.negated:
            if pending == "OR":
                raise QueryError(
                    f"OR before an excluded term ({lx.source}) cannot be searched: "
                    "OR joins words that may match"
                )
            excluded.append(phrase)
        elif pending == "OR":
            clauses[-1].append(phrase)
        else:
            clauses.append([phrase])
        pending = None
        prev_negated = lx.negated
    if pending is not None:
        raise QueryError(f"the query ends with {pending}: it needs a word on each side")
    if not clauses:
        raise QueryError(
            "only excluded terms: add a word the events must contain, e.g. deploy -staging"
        )
    return Query(tuple(tuple(c) for c in clauses), tuple(excluded))


# --- compiling ---------------------------------------------------------------------------


def _fts5_phrase(p: Phrase) -> str:
    # tokens never hold '"' (it is punctuation); doubling it anyway keeps the string literal
    # well-formed whatever a future tokenizer rule lets through
    body = " ".join(t.replace('"', '""') for t in p.tokens)
    return f'"{body}"' + (" *" if p.prefix else "")


def to_fts5(query: Query) -> str:
    """An FTS5 MATCH expression with the query's meaning."""
    parts = []
    for clause in query.clauses:
        alts = [_fts5_phrase(p) for p in clause]
        parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    expr = " AND ".join(parts)
    if query.excluded:
        expr = f"({expr}) NOT (" + " OR ".join(_fts5_phrase(p) for p in query.excluded) + ")"
    return expr


def _ts_lexeme(token: str) -> str:
    # a quoted tsquery lexeme; tokens hold no quote or backslash, escaped anyway for safety
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _ts_phrase(p: Phrase, folded: bool) -> str:
    lexemes = [_ts_lexeme(fold(t) if folded else t) for t in p.tokens]
    if p.prefix:
        lexemes[-1] += ":*"
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def to_tsquery(query: Query, *, folded: bool = False) -> str:
    """A ``to_tsquery`` string with the query's meaning.

    ``folded``: its lexemes folded here (:func:`fold`), for a ``tsquery`` cast that takes
    them as they are (an index of :func:`folded_tokens`); otherwise as typed, for
    ``to_tsquery`` with a configuration that folds them itself.
    """
    parts = []
    for clause in query.clauses:
        alts = [_ts_phrase(p, folded) for p in clause]
        parts.append(alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")")
    parts.extend("!" + _ts_phrase(p, folded) for p in query.excluded)
    return " & ".join(parts)


# --- matching in Python (highlighting, and the reference meaning for tests) ----------------


def _phrase_positions(p: Phrase, folded: list[str]) -> list[int]:
    want = [fold(t) for t in p.tokens]
    n = len(want)
    hits = []
    for i in range(len(folded) - n + 1):
        if folded[i : i + n - 1] != want[:-1]:
            continue
        last = folded[i + n - 1]
        if last == want[-1] or (p.prefix and last.startswith(want[-1])):
            hits.append(i)
    return hits


def without_prefixes(query: Query) -> Query | None:
    """The part of ``query`` a full-text index answers without expanding a prefix: its
    clauses that hold no prefix phrase and its exclusions that are not prefixes (every
    event matching ``query`` matches it); None when every clause holds a prefix.

    FTS5 answers a prefix by merging the lists of every indexed word that starts with
    it, in memory, before it yields a row: ``th*`` beside a rare word took ~200 MB and
    0.9 s on 10M events, where the rare word alone, its hits checked against the whole
    query by :func:`matches`, takes a few milliseconds."""
    clauses = tuple(c for c in query.clauses if not any(p.prefix for p in c))
    if not clauses:
        return None
    return Query(clauses, tuple(p for p in query.excluded if not p.prefix))


def matches(query: Query, text: str) -> bool:
    """Whether ``text`` matches ``query``: the meaning both engines implement."""
    folded = [fold(t) for t in tokens(text)]
    if any(_phrase_positions(p, folded) for p in query.excluded):
        return False
    return all(any(_phrase_positions(p, folded) for p in clause) for clause in query.clauses)


def highlight_spans(query: Query, text: str) -> list[tuple[int, int]]:
    """Character spans of ``text`` that make it match (merged, in order)."""
    spans = token_spans(text)
    folded = [fold(text[s:e]) for s, e in spans]
    marked: set[int] = set()
    for p in query.positive():
        for i in _phrase_positions(p, folded):
            marked.update(range(i, i + len(p.tokens)))
    out: list[tuple[int, int]] = []
    for i in sorted(marked):
        s, e = spans[i]
        # a phrase over punctuation (example.com) lights up as one piece
        if out and i - 1 in marked and out[-1][1] == spans[i - 1][1]:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out
