"""seqcourse.data.corpora: the frozen Gutenberg books, the analogy and WordSim test sets."""

import hashlib
import lzma
import re
from collections import Counter
from importlib import resources

import pytest

from seqcourse.data import corpora as C
from seqcourse.data import frozen
from seqcourse.data.corpora import (
    ANALOGY_SECTIONS,
    BOOKS,
    Analogy,
    gutenberg_texts,
    load_analogies,
    load_gutenberg,
    load_wordsim,
    tokenize,
)

KEYS = ("gutenberg", "questions_words", "wordsim353")
TOKENS = {
    "austen-pride": 122_133,
    "carroll-alice": 26_675,
    "dickens-two-cities": 137_129,
    "dickens-expectations": 186_695,
    "doyle-sherlock": 105_237,
    "melville-moby-dick": 215_963,
    "twain-huckleberry": 111_932,
    "stoker-dracula": 161_750,
    "wilde-dorian-gray": 79_672,
    "kipling-jungle-book": 51_627,
    "barrie-peter-pan": 47_555,
    "shelley-frankenstein": 75_201,
    "alcott-little-women": 186_875,
    "cia-factbook-1992": 283_947,
}
QUESTIONS = {
    "capital-common-countries": 506,
    "capital-world": 4524,
    "currency": 866,
    "city-in-state": 2467,
    "family": 506,
    "gram1-adjective-to-adverb": 992,
    "gram2-opposite": 812,
    "gram3-comparative": 1332,
    "gram4-superlative": 1122,
    "gram5-present-participle": 1056,
    "gram6-nationality-adjective": 1599,
    "gram7-past-tense": 1560,
    "gram8-plural": 1332,
    "gram9-plural-verbs": 870,
}


# --------------------------------------------------------------------------- the files
@pytest.mark.parametrize("key", KEYS)
def test_shipped_files_match_their_checksums_and_sizes(key):
    entry = frozen.FILES[key]
    packed = resources.files("seqcourse.data").joinpath(entry.name).read_bytes()
    raw = lzma.decompress(packed)
    assert hashlib.sha256(raw).hexdigest() == entry.sha256
    assert len(raw.decode("utf-8")) == entry.chars
    assert entry.source and entry.licence
    assert frozen.read_text(key) == raw.decode("utf-8")
    if key == "gutenberg":
        assert len(packed) <= 3_000_000  # all shipped data stays far under 15 MB
        assert "public domain in the USA" in entry.licence
        for book in BOOKS:
            assert f"PG {book.ebook})" in entry.source, book
    else:  # shipped verbatim from gensim 4.4.0's wheel
        assert "gensim 4.4.0" in entry.source


@pytest.mark.parametrize("key", KEYS)
def test_corrupted_file_is_refused(key, tmp_path, monkeypatch):
    entry = frozen.FILES[key]
    head = lzma.decompress(resources.files("seqcourse.data").joinpath(entry.name).read_bytes())
    tampered = head[:5000].replace(b"e", b"E", 1)  # a valid xz file, with other content
    (tmp_path / entry.name).write_bytes(lzma.compress(tampered, preset=0))

    class Elsewhere:  # importlib.resources pointed at the tampered copy
        @staticmethod
        def files(package):
            return tmp_path

    monkeypatch.setattr(frozen, "resources", Elsewhere)
    with pytest.raises(ValueError, match=f"{entry.name} is corrupted: SHA-256 .* expected"):
        frozen.read_text.__wrapped__(key)  # the uncached reader


# ------------------------------------------------------------------------------ books
def test_books_are_listed_with_their_sources():
    assert [b.key for b in BOOKS] == list(TOKENS)
    assert len({b.ebook for b in BOOKS}) == len(BOOKS)
    for book in BOOKS:
        assert re.fullmatch(r"[0-9a-f]{40}", book.commit), book
        assert "/" in book.repo and book.path.endswith(".txt") and book.title and book.author
    assert C.GUTENBERG is frozen.FILES["gutenberg"]


def test_token_counts_per_book_and_in_all():
    for key, n in TOKENS.items():
        assert len(load_gutenberg(key)) == n, key
    tokens = load_gutenberg()
    assert len(tokens) == sum(TOKENS.values()) == 1_792_391
    assert tokens[:8] == ["it", "is", "a", "truth", "universally", "acknowledged", "that", "a"]
    # the Factbook's gazetteer ends the file: "Zurich [US Consulate General]     Switzerland"
    assert tokens[-5:] == ["zurich", "us", "consulate", "general", "switzerland"]
    two = load_gutenberg(["carroll-alice", "austen-pride"])
    assert two == load_gutenberg("carroll-alice") + load_gutenberg("austen-pride")


def test_loading_is_deterministic_and_returns_fresh_lists():
    first = load_gutenberg("carroll-alice")
    first.clear()
    assert len(load_gutenberg("carroll-alice")) == TOKENS["carroll-alice"]
    assert load_gutenberg("barrie-peter-pan") == load_gutenberg("barrie-peter-pan")


def test_gutenberg_boilerplate_is_gone():
    texts = gutenberg_texts()
    assert list(texts) == list(TOKENS)
    for key, text in texts.items():
        low = text.lower()
        assert "gutenberg" not in low and "small print" not in low, key
        assert "*** start of" not in low and "[illustration" not in low, key
        assert "\r" not in text and "\n\n\n" not in text, key
    assert texts["carroll-alice"].startswith("Alice was beginning to get very tired")
    assert texts["cia-factbook-1992"].startswith("THE WORLD FACTBOOK 1992")
    assert texts["dickens-expectations"].startswith("Great Expectations")
    assert texts["melville-moby-dick"].rstrip().endswith("only found another\norphan.")
    assert gutenberg_texts("stoker-dracula") == {"stoker-dracula": texts["stoker-dracula"]}


def test_tokenize():
    assert tokenize("Don’t! Darcy's 'Tis well-known, km2 and 1,000 café_au_lait.") == [
        "don't",
        "darcy's",
        "tis",
        "well",
        "known",
        "km",
        "and",
        "café",
        "au",
        "lait",
    ]
    assert tokenize("ʼtwas O'Brien's rock 'n' roll") == ["twas", "o'brien's", "rock", "n", "roll"]
    assert tokenize("Cafe\u0301 ÉTÉ") == ["café", "été"]  # NFC, then lower case
    assert tokenize("") == [] and tokenize("1990 -- 42") == []
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        tokenize(b"words")


def test_no_token_has_digits_or_outer_apostrophes():
    vocab = set(load_gutenberg())
    assert all(re.fullmatch(r"[^\W\d_]+(?:'[^\W\d_]+)*", w) for w in vocab)
    assert all(w == w.lower() for w in vocab)
    assert {"darcy's", "don't", "whale", "paris", "kabul"} <= vocab


@pytest.mark.parametrize(
    ("books", "error", "match"),
    [
        ("austen", ValueError, "books must be keys among"),
        (["carroll-alice", "nope"], ValueError, "books must be keys among"),
        ([], ValueError, "books must be keys among"),
        (3, TypeError, "books must be None, a key or a sequence of keys"),
        ([b"carroll-alice"], TypeError, "books must be None, a key or a sequence of keys"),
    ],
)
def test_book_arguments_are_checked(books, error, match):
    with pytest.raises(error, match=match):
        load_gutenberg(books)
    with pytest.raises(error, match=match):
        gutenberg_texts(books)


# -------------------------------------------------------------------------- test sets
def test_analogies():
    questions = load_analogies()
    assert len(questions) == 19_544
    assert Counter(q.section for q in questions) == QUESTIONS
    assert tuple(QUESTIONS) == ANALOGY_SECTIONS  # file order
    first = Analogy("athens", "greece", "baghdad", "iraq", "capital-common-countries")
    assert questions[0] == first
    assert questions[-1] == Analogy("write", "writes", "work", "works", "gram9-plural-verbs")
    assert all(w == w.lower() for q in questions for w in q[:4])
    family = load_analogies("family")
    assert len(family) == 506 and {q.section for q in family} == {"family"}
    assert len(load_analogies(["family", "currency"])) == 506 + 866
    assert load_analogies() == questions  # a fresh list, the same questions
    with pytest.raises(ValueError, match="sections must be names among"):
        load_analogies("capitals")
    with pytest.raises(TypeError, match="sections must be None, a name or a sequence"):
        load_analogies(5)


def test_wordsim():
    pairs = load_wordsim()
    assert len(pairs) == 353
    assert pairs[:2] == [("love", "sex", 6.77), ("tiger", "cat", 7.35)]
    assert pairs[-1] == ("architecture", "century", 3.78)
    assert all(0.0 <= s <= 10.0 for _, _, s in pairs)
    assert all(a == a.lower() and b == b.lower() for a, b, _ in pairs)
    assert ("fbi", "investigation", 8.31) in pairs  # lower-cased from "FBI"


def test_coverage_at_min_count_5():
    """The numbers the module docstring quotes: the Factbook doubles the coverage."""
    counts = Counter(load_gutenberg())
    vocab = {w for w, n in counts.items() if n >= 5}
    covered = Counter(q.section for q in load_analogies() if set(q[:4]) <= vocab)
    assert sum(covered.values()) == 9881
    assert covered["capital-common-countries"] == 380
    assert covered["capital-world"] == 2202
    assert sum(a in vocab and b in vocab for a, b, _ in load_wordsim()) == 222
    novels = Counter(load_gutenberg([b.key for b in BOOKS[:-1]]))
    vocab = {w for w, n in novels.items() if n >= 5}
    assert sum(set(q[:4]) <= vocab for q in load_analogies()) == 5040
