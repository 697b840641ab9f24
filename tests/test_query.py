"""The search query language: every syntax, every error, and the same meaning in FTS5."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logbot.query import (
    Phrase,
    Query,
    QueryError,
    fold,
    folded_tokens,
    highlight_spans,
    matches,
    parse,
    to_fts5,
    to_tsquery,
    tokens,
)


def p(*toks: str, prefix: bool = False) -> tuple[tuple[str, ...], bool]:
    return toks, prefix


def shape(q: Query | None) -> object:
    """A query without the source strings, for compact expectations."""
    assert q is not None
    return (
        [[(ph.tokens, ph.prefix) for ph in clause] for clause in q.clauses],
        [(ph.tokens, ph.prefix) for ph in q.excluded],
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("release", ([[p("release")]], [])),
        ("release date", ([[p("release")], [p("date")]], [])),
        ("release AND date", ([[p("release")], [p("date")]], [])),
        ('"release date"', ([[p("release", "date")]], [])),
        ("deplo*", ([[p("deplo", prefix=True)]], [])),
        ('"release da"*', ([[p("release", "da", prefix=True)]], [])),
        ("bug OR issue", ([[p("bug"), p("issue")]], [])),
        ("a b OR c", ([[p("a")], [p("b"), p("c")]], [])),
        ("a OR b OR c d", ([[p("a"), p("b"), p("c")], [p("d")]], [])),
        ("deploy -staging", ([[p("deploy")]], [p("staging")])),
        ('deploy -"new york"', ([[p("deploy")]], [p("new", "york")])),
        ("deploy -stag*", ([[p("deploy")]], [p("stag", prefix=True)])),
        ("deploy AND -staging", ([[p("deploy")]], [p("staging")])),
        # punctuation inside a word: its tokens as a phrase (URLs, nicks)
        ("example.com/foo", ([[p("example", "com", "foo")]], [])),
        ("https://example.com/a?b=1", ([[p("https", "example", "com", "a", "b", "1")]], [])),
        ("foo_bar", ([[p("foo", "bar")]], [])),
        ("[m]alice", ([[p("m", "alice")]], [])),
        ("example.co*", ([[p("example", "co", prefix=True)]], [])),
        # lowercase or / and are words; quoting makes an operator a word
        ("this or that", ([[p("this")], [p("or")], [p("that")]], [])),
        ('"OR"', ([[p("OR")]], [])),
        # a '*' inside quotes is punctuation; FTS5 syntax characters are just punctuation
        ('"foo*"', ([[p("foo")]], [])),
        ("NEAR(", ([[p("NEAR")]], [])),
        ("a:b", ([[p("a", "b")]], [])),
        ("привет мир", ([[p("привет")], [p("мир")]], [])),
        ("jalapeño", ([[p("jalapeño")]], [])),
        ("日本語", ([[p("日本語")]], [])),
        ("  spaced   out  ", ([[p("spaced")], [p("out")]], [])),
    ],
)
def test_parse_accepts_every_documented_syntax(text: str, expected: object) -> None:
    """Each form of the query language parses to the intended clauses and exclusions."""
    assert shape(parse(text)) == expected


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_parse_of_blank_query_means_no_query(text: str) -> None:
    """A blank query is no query: the newest events are wanted."""
    assert parse(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"unbalanced', "unbalanced quote in '\"unbalanced': close the phrase with \""),
        ('ok "unbalanced', "unbalanced quote in '\"unbalanced': close the phrase with \""),
        ("AND OR", "the query starts with AND: it needs a word on each side"),
        ("OR x", "the query starts with OR: it needs a word on each side"),
        ("x OR", "the query ends with OR: it needs a word on each side"),
        ("x AND", "the query ends with AND: it needs a word on each side"),
        ("x OR AND y", "OR AND: two operators in a row need a word between"),
        ("*", "'*' matches everything: put '*' after the start of a word, e.g. deploy*"),
        ("-*", "'-*' matches everything: put '*' after the start of a word, e.g. deploy*"),
        ("**", "'*' only goes at the end of a word (a prefix search, e.g. deploy*): '**'"),
        ("fo*o", "'*' only goes at the end of a word (a prefix search, e.g. deploy*): 'fo*o'"),
        ("foo.*", "'*' must follow a letter or digit in 'foo.*', e.g. deploy*"),
        ("-", "a lone '-' excludes nothing: write it right before a word, e.g. -staging"),
        ("x - y", "a lone '-' excludes nothing: write it right before a word, e.g. -staging"),
        ("-x", "only excluded terms: add a word the events must contain, e.g. deploy -staging"),
        ("-x -y", "only excluded terms: add a word the events must contain, e.g. deploy -staging"),
        (
            "a OR -b",
            "OR before an excluded term (-b) cannot be searched: OR joins words that may match",
        ),
        (
            "-b OR a",
            "OR after an excluded term (-b) cannot be searched: OR joins words that may match",
        ),
        ("-OR", "'-OR': OR is an operator; to exclude the word, write -\"OR\""),
        ('""', "empty phrase '\"\"': put words between the quotes"),
        ('"  "', "empty phrase '\"  \"': put words between the quotes"),
        ("...", "'...' has no letters or digits to search for"),
        ('":-)"', "'\":-)\"' has no letters or digits to search for"),
        ('"a"b', "put a space after the closing quote in '\"a\"b'"),
        ('a"b"', 'a quote inside a word in \'a"\': quote whole words, e.g. "a phrase"'),
    ],
)
def test_parse_rejects_bad_input_with_one_line_message(text: str, message: str) -> None:
    """Every malformed query raises QueryError whose one-line message says what is wrong."""
    with pytest.raises(QueryError) as info:
        parse(text)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_tokens_cut_where_the_index_cuts() -> None:
    """Tokens are runs of letters, digits and marks; everything else separates them."""
    assert tokens("see https://example.com/x?y=1 foo_bar «цитата» café x²") == [
        "see",
        "https",
        "example",
        "com",
        "x",
        "y",
        "1",
        "foo",
        "bar",
        "цитата",
        "café",
        "x²",
    ]


def test_fold_removes_case_and_diacritics_like_fts5() -> None:
    """Folding lowers case and strips combining marks, but keeps letters FTS5 keeps."""
    assert fold("JalApeño") == "jalapeno"
    assert fold("ПРИВЕТ") == "привет"
    assert fold("Łódź") == "łodz"
    assert fold("straße") == "straße"


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(
            [
                *"abAZ09 _-./:'\x00\x02\x03\x1f\x7f\t\u00a0\u3000é\u0301ÉЖжßİǅ\ufb01«»—²",
                *("\ue000", "\u1100", "\uac00", "\U0001f600", "\udcff"),
            ]
        ),
        max_size=24,
    )
)
def test_folded_tokens_are_the_folded_tokens(text: str) -> None:
    """The writer's fast road to an event's index tokens gives exactly fold() of tokens()."""
    assert folded_tokens(text) == [fold(t) for t in tokens(text)]


def test_folded_tokens_of_chat_lines() -> None:
    """Cut at ASCII and other punctuation, lowered, diacritics dropped, ß and ﬁ kept."""
    assert folded_tokens("See https://Example.com/x?y=1 \x02BOLD\x02 «Цитата» Straße—ﬁn") == [
        *("see", "https", "example", "com", "x", "y", "1", "bold", "цитата", "straße", "ﬁn"),
    ]
    assert folded_tokens("") == folded_tokens(" :) ") == []


def test_to_tsquery_folded_folds_each_lexeme() -> None:
    """Folded for the tsvector column: the lexemes as the writer stored them."""
    q = parse('Café "ÉTÉ x" -Straße')
    assert q is not None
    assert to_tsquery(q, folded=True) == "'cafe' & ('ete' <-> 'x') & !'straße'"


def test_to_fts5_quotes_every_token_and_groups_operators() -> None:
    """The FTS5 expression is built only from quoted tokens and our own operators."""
    q = parse('a "b c" OR d* -e -"f g"')
    assert q is not None
    assert to_fts5(q) == '("a" AND ("b c" OR "d" *)) NOT ("e" OR "f g")'


def test_to_tsquery_quotes_every_lexeme() -> None:
    """The tsquery string is built only from quoted lexemes and our own operators."""
    q = parse('a "b c" OR d* -e -"f g"')
    assert q is not None
    assert to_tsquery(q) == "'a' & (('b' <-> 'c') | 'd':*) & !'e' & !('f' <-> 'g')"


TEXTS = [
    "the release date is friday",
    "Release: DATE moved",
    "date of release",
    "deployed to staging",
    "deployment done",
    "see https://example.com/foo?x=1 now",
    "example company",
    "ping foo_bar and [m]alice",
    "Jalapeño poppers",
    "jalapeno",
    "Привет, МИР",
    "мир труд май",
    "issue 42 closed",
    "bug found",
    "café au lait",
    "",
]

QUERIES = [
    "release",
    "release date",
    '"release date"',
    '"of release"',
    "deplo*",
    "deploy* -staging",
    "bug OR issue",
    "example.com/foo",
    "example.co*",
    "foo_bar",
    "[m]alice",
    "jalapeno",
    "JALAPEÑO",
    "мир",
    "привет мир",
    "cafe",
    "42",
    "release -friday",
    '"example com" OR café',
]


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    conn.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", enumerate(TEXTS))
    return conn


@pytest.mark.parametrize("text", QUERIES)
def test_fts5_expression_means_what_the_python_matcher_means(
    fts: sqlite3.Connection, text: str
) -> None:
    """FTS5 with the compiled expression finds exactly the texts the reference matcher finds."""
    q = parse(text)
    assert q is not None
    found = {r for (r,) in fts.execute("SELECT rowid FROM t WHERE t MATCH ?", (to_fts5(q),))}
    expected = {i for i, t in enumerate(TEXTS) if matches(q, t)}
    assert found == expected
    assert found, "every sample query should find something"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("ab é-*\"():^+.,{}[]OR AND NEAR \\'\tЖ日0_")),
        max_size=20,
    )
)
def test_any_input_parses_to_valid_fts5_or_raises_query_error(text: str) -> None:
    """Whatever a user types either compiles to an expression FTS5 accepts or is a QueryError."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO t VALUES ('a b é ж 日 0')")
    try:
        q = parse(text)
    except QueryError as exc:
        message = str(exc)
        q = None
    else:
        message = ""
    assert "\n" not in message
    if q is not None:
        conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (to_fts5(q),)).fetchall()


def test_highlight_marks_words_phrases_and_prefixes() -> None:
    """The spans that made a text match are found, a punctuated phrase as one piece."""
    q = parse('deplo* "new york" example.com')
    assert q is not None
    text = "Deployed in New York: see example.com, new ideas"
    spans = highlight_spans(q, text)
    assert [text[s:e] for s, e in spans] == ["Deployed", "New York", "example.com"]


def test_phrase_of_punctuated_word_is_its_tokens() -> None:
    """A word with punctuation becomes a phrase that remembers what the user typed."""
    q = parse("example.com")
    assert q == Query(((Phrase(("example", "com"), False, "example.com"),),))


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.text(alphabet=st.sampled_from(list("abAB01 _-./:'é\u0301Жж\u00df\tx")), max_size=16),
        min_size=1,
        max_size=8,
    ),
    word=st.text(alphabet=st.sampled_from(list("abAB01éЖx")), min_size=1, max_size=3),
    prefix=st.booleans(),
)
def test_the_python_matcher_agrees_with_fts5_on_any_text(
    texts: list[str], word: str, prefix: bool
) -> None:
    """Searches check events in Python too (dense prefixes): it must decide as FTS5 does,
    on ASCII lines (the fast path) and on any other."""
    q = parse(word + ("*" if prefix else ""))
    assert q is not None
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    conn.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", enumerate(texts))
    found = {r for (r,) in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (to_fts5(q),))}
    assert found == {i for i, t in enumerate(texts) if matches(q, t)}
