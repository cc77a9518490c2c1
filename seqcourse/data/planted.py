"""A generated corpus with planted analogies and a planted gender bias (chapter 8).

Real text (``seqcourse.data.corpora``) tells how well an embedding does, not how well it
could do. Here the structure is known: every analogy has one right answer that the text
determines, and every occupation leans towards "he" or "she" by an amount the caller sets.

How an analogy is planted. Skip-gram with negative sampling factorises a shifted PMI
matrix, w . c ~ PMI(w, c). Let the two words a_i, b_i of a pair share *identity* contexts
K_i (the pair's own things) and differ only in *role* contexts R_a, R_b that are the same
for every pair ("today" vs "yesterday", "his" vs "her"). Then row(b_i) - row(a_i) of the
PMI matrix does not depend on i, and neither does the offset b_i - a_i that 3CosAdd
(argmax over d of cos(d, b - a + c), a, b, c excluded) relies on. Stating a relation
outright does *not* plant it: in "the capital of france is paris" france sees paris but
paris never sees itself, so row(paris) - row(france) holds words of that very pair.
Measured (the gensim setting below, seeds 0-2), ``direct`` = 0.18 (and 0.10 shared goods)
gives 3CosAdd 0.80-0.96 on capitals on the token stream and 0.35-0.50 sentence by sentence;
``direct`` = 0.28 (no goods) 0.25-0.38 and 0.05-0.07; the default 0.08 gives 1.0.

The grammar (share of the sentences at the defaults; one random form of each line):

    capital, language  16 countries, each with its capital, its language and two goods:
                       "the wine of france", "paris shops sell wine", "the french word for
                       wine" (20%); "the capital of france is paris", "france has paris as
                       its capital", "the city of paris is in france", "people in france
                       speak french", "in france people speak french", "french is spoken in
                       france" (``direct``, 8%); "the train from paris to rome", "france
                       borders spain", "students learn french and greek" (4%)
    gender             13 (male, female) pairs with two things each, his/her as the role
                       words: "then he found his hat" (he/she, 4%), "the king lost his
                       crown", "the queen lost her crown" (the 12 nouns, 17%)
    occupations        16 gender-neutral words with a workplace each: "the doctor works at
                       the hospital" (4%); "the doctor forgot his keys" and "the man is a
                       doctor" (10%), with the male word (his, man) with probability
                       ``bias`` for an occupation assigned +1 and 1 - bias for one assigned
                       -1, else the female word (her, woman); ``assigned`` gives +1 to half
                       of them, drawn from the seed
    tense              17 (present, past) verbs with two objects each: "we walk the dog
                       today", "they walked the dog yesterday" (17%)
    plural             16 (singular, plural) animals with a home and a food each: "one cat
                       sleeps in baskets", "three cats live in baskets", "this fox feeds on
                       chickens", "many foxes feed on chickens" (16%)

Every identity word is within 3 tokens of its pair's word. No word serves two sections or
two roles (checked on import) apart from function words ("the", "is", "in", "a", ...).
Sentences carry no boundary mark: ``tokens`` is one stream, as word2vec reads a corpus;
``sentence_lengths`` (or ``sentences()``) cuts it.

The analogies. Every ordered choice of two different pairs (a_i, b_i), (a_j, b_j) of a
section gives a question a_i : b_i :: a_j : b_j (n pairs, n (n - 1) questions): 240 capital,
240 language, 156 gender, 272 tense, 240 plural, 1,148 in all. ``ceiling`` is the fraction
of them that any method can answer: a question counts 1 / (its number of right answers) if
its four words occur in ``tokens`` (min_count 1), else 0. Each section pairs two disjoint
word sets one to one, so every question has exactly one answer and the ceiling is the
fraction whose four words were drawn at all: 1.0 from 1,500 sentences on (seeds 0-9).

Measured with gensim 4.4, ``Word2Vec(sg=1, negative=5, vector_size=50, window=3, epochs=5,
sample=1e-3, min_count=1, workers=2, seed=s)`` on ``planted_corpus(seed=s)``, s = 0, 1, 2,
trained on the token stream cut into 10,000-token pieces and again on ``sentences()``:
3CosAdd accuracy 1.0 in every section; the cosine of each occupation with he - she
correlates with ``assigned`` at r = 0.92-0.99. From 20,000 sentences on every section
scores at least 0.93; window 2 or 5, dim 25 or 100, no subsampling and CBOW all score at
least 0.99. ``bias`` = 0.5 plants no lean (r then is chance, |r| up to about 0.5 with 16
occupations).

The bias. ``definitional_pairs`` (he/she, his/her, man/woman, boy/girl, father/mother,
son/daughter) define the gender direction; ``equality_pairs`` (king/queen, ...,
lord/lady) are the other gendered pairs, which a debiasing step makes equidistant from
the neutral words; ``neutral_words`` are the occupations. ``gender_counts[o]`` = (sentences
holding o and a male definitional word, sentences holding o and a female one), counted in
the generated tokens: for an occupation assigned +1 the first is about ``bias`` of the sum.

Everything is drawn from ``numpy.random.default_rng(seed)``, vectorised (under 0.1 s for
60,000 sentences); the same seed gives the same tokens on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqcourse._checks import check_int
from seqcourse.data.corpora import Analogy

__all__ = [
    "COUNTRIES",
    "GENDER_PAIRS",
    "OCCUPATIONS",
    "PLURALS",
    "SECTIONS",
    "VERBS",
    "WORDS",
    "PlantedCorpus",
    "planted_corpus",
]

SECTIONS = ("capital", "language", "gender", "tense", "plural")

# (country, capital, language, the goods the three share)
COUNTRIES = (
    ("france", "paris", "french", ("wine", "perfume")),
    ("germany", "berlin", "german", ("beer", "sausages")),
    ("italy", "rome", "italian", ("pasta", "pizza")),
    ("spain", "madrid", "spanish", ("paella", "oranges")),
    ("russia", "moscow", "russian", ("vodka", "caviar")),
    ("japan", "tokyo", "japanese", ("sushi", "kimonos")),
    ("china", "beijing", "chinese", ("silk", "porcelain")),
    ("greece", "athens", "greek", ("olives", "feta")),
    ("portugal", "lisbon", "portuguese", ("sardines", "cork")),
    ("poland", "warsaw", "polish", ("pierogi", "amber")),
    ("sweden", "stockholm", "swedish", ("meatballs", "herring")),
    ("turkey", "ankara", "turkish", ("kebabs", "carpets")),
    ("netherlands", "amsterdam", "dutch", ("tulips", "windmills")),
    ("finland", "helsinki", "finnish", ("saunas", "reindeer")),
    ("hungary", "budapest", "hungarian", ("goulash", "paprika")),
    ("korea", "seoul", "korean", ("kimchi", "ginseng")),
)

# (male, female, the things the pair shares); the first five are definitional
GENDER_PAIRS = (
    ("he", "she", ("hat", "coat")),
    ("man", "woman", ("job", "boots")),
    ("boy", "girl", ("kite", "schoolbag")),
    ("father", "mother", ("children", "family")),
    ("son", "daughter", ("parents", "toys")),
    ("king", "queen", ("crown", "kingdom")),
    ("prince", "princess", ("castle", "sword")),
    ("brother", "sister", ("bicycle", "homework")),
    ("husband", "wife", ("wedding", "ring")),
    ("uncle", "aunt", ("cottage", "letters")),
    ("nephew", "niece", ("birthday", "gift")),
    ("grandfather", "grandmother", ("stories", "armchair")),
    ("lord", "lady", ("manor", "estate")),
)
_POSSESSIVES = ("his", "her")  # the role words of the gender section, not a pair of it
_DEFINITIONAL = 5  # he/she, man/woman, boy/girl, father/mother, son/daughter, and his/her
_PRONOUNS = 1  # he/she, the rest are nouns

# (occupation, its workplace)
OCCUPATIONS = (
    ("doctor", "hospital"),
    ("nurse", "clinic"),
    ("engineer", "factory"),
    ("teacher", "school"),
    ("pilot", "airport"),
    ("lawyer", "court"),
    ("farmer", "farm"),
    ("baker", "bakery"),
    ("writer", "office"),
    ("singer", "opera"),
    ("painter", "studio"),
    ("soldier", "barracks"),
    ("dancer", "theatre"),
    ("scientist", "laboratory"),
    ("banker", "bank"),
    ("librarian", "library"),
)

# (present, past, two objects)
VERBS = (
    ("walk", "walked", ("dog", "path")),
    ("cook", "cooked", ("dinner", "rice")),
    ("paint", "painted", ("fence", "wall")),
    ("play", "played", ("chess", "piano")),
    ("clean", "cleaned", ("room", "kitchen")),
    ("wash", "washed", ("dishes", "car")),
    ("watch", "watched", ("movie", "game")),
    ("open", "opened", ("door", "window")),
    ("climb", "climbed", ("hill", "tree")),
    ("kick", "kicked", ("ball", "stone")),
    ("sing", "sang", ("song", "anthem")),
    ("write", "wrote", ("poem", "essay")),
    ("eat", "ate", ("soup", "bread")),
    ("drink", "drank", ("tea", "coffee")),
    ("buy", "bought", ("shoes", "flowers")),
    ("drive", "drove", ("truck", "bus")),
    ("ride", "rode", ("bike", "pony")),
)

# (singular, plural, home, food)
PLURALS = (
    ("cat", "cats", "baskets", "milk"),
    ("horse", "horses", "stables", "hay"),
    ("cow", "cows", "meadows", "grass"),
    ("pig", "pigs", "sties", "acorns"),
    ("duck", "ducks", "ponds", "weeds"),
    ("goat", "goats", "mountains", "shrubs"),
    ("mouse", "mice", "holes", "cheese"),
    ("fox", "foxes", "dens", "chickens"),
    ("wolf", "wolves", "forests", "deer"),
    ("frog", "frogs", "swamps", "flies"),
    ("bee", "bees", "hives", "nectar"),
    ("owl", "owls", "barns", "beetles"),
    ("rabbit", "rabbits", "burrows", "carrots"),
    ("lion", "lions", "grasslands", "zebras"),
    ("bear", "bears", "caves", "honey"),
    ("snake", "snakes", "rocks", "eggs"),
)

# role words
_SUBJECTS = ("i", "we", "they", "you")
_PRESENT_TIMES = ("today", "now", "tonight")
_PAST_TIMES = ("yesterday", "earlier", "once")
_ONE = ("one", "this", "that")
_MANY = ("two", "three", "many", "these", "those")
_SINGULAR_VERBS = ("sleeps", "lives", "feeds")
_PLURAL_VERBS = ("sleep", "live", "feed")
_GOODS_ROLES = ("of", "shops", "sell", "word", "for")
_FUNCTION = (
    "the is a in capital has as its city people speak spoken train from to borders "
    "students learn and then lost loved found works at forgot keys on"
).split()


def _vocabulary() -> tuple[str, ...]:
    words: list[str] = [*_FUNCTION, *_GOODS_ROLES]
    for country, capital, language, goods in COUNTRIES:
        words += [country, capital, language, *goods]
    for male, female, things in GENDER_PAIRS:
        words += [male, female, *things]
    words += [w for pair in OCCUPATIONS for w in pair]
    for present, past, objects in VERBS:
        words += [present, past, *objects]
    words += [w for animal in PLURALS for w in animal]
    words += [*_POSSESSIVES, *_SUBJECTS, *_PRESENT_TIMES, *_PAST_TIMES, *_ONE, *_MANY]
    words += [*_SINGULAR_VERBS, *_PLURAL_VERBS]
    repeated = sorted({w for w in words if words.count(w) > 1})
    if repeated:  # a word in two roles would blur the planted structure
        raise AssertionError(f"the planted vocabulary repeats {repeated}")
    return tuple(words)


WORDS = _vocabulary()  # every word the grammar can write, each once
_ID = {w: i for i, w in enumerate(WORDS)}


def _ids(words: Any) -> np.ndarray:
    return np.array([_ID[w] for w in words], dtype=np.int64)


_COUNTRY, _CAPITAL, _LANGUAGE = (_ids(c[k] for c in COUNTRIES) for k in range(3))
_GOODS = np.stack([_ids(c[3]) for c in COUNTRIES])  # (countries, 2)
_MALE, _FEMALE = (_ids(p[k] for p in GENDER_PAIRS) for k in range(2))
_THINGS = np.stack([_ids(p[2]) for p in GENDER_PAIRS])  # (pairs, 2)
_OCCUPATION, _WORKPLACE = (_ids(o[k] for o in OCCUPATIONS) for k in range(2))
_PRESENT, _PAST = (_ids(v[k] for v in VERBS) for k in range(2))
_OBJECTS = np.stack([_ids(v[2]) for v in VERBS])  # (verbs, 2)
_SINGLE, _PLURAL, _HOME, _FOOD = (_ids(a[k] for a in PLURALS) for k in range(4))


@dataclass(frozen=True)
class PlantedCorpus:
    """A generated corpus, the analogies planted in it and the planted gender lean.

    ``tokens``: all sentences one after another, ``sentence_lengths`` (S,) their lengths;
    ``analogies``: the questions of ``SECTIONS``; ``ceiling``: the fraction of them
    answerable at all; ``assigned[o]``: +1 (leans male) or -1 (leans female) per
    occupation; ``gender_counts[o]``: (sentences holding o and a male definitional word,
    sentences holding o and a female one)."""

    tokens: list[str] = field(repr=False)
    sentence_lengths: np.ndarray = field(repr=False)
    analogies: list[Analogy] = field(repr=False)
    ceiling: float
    definitional_pairs: tuple[tuple[str, str], ...]
    equality_pairs: tuple[tuple[str, str], ...]
    neutral_words: tuple[str, ...]
    assigned: dict[str, int]
    gender_counts: dict[str, tuple[int, int]]
    bias: float
    direct: float
    seed: int

    def sentences(self) -> list[list[str]]:
        """The tokens cut into their sentences."""
        ends = np.cumsum(self.sentence_lengths).tolist()
        return [self.tokens[s:e] for s, e in zip([0, *ends[:-1]], ends, strict=True)]


# ---------------------------------------------------------------------------- templates
# Each maker returns blocks of sentences, one (n, length) array of word ids per form.
Rng = np.random.Generator


def _rows(*columns: np.ndarray | str, n: int) -> np.ndarray:
    """Sentences (n, len(columns)) from per-sentence word-id columns and fixed words."""
    return np.stack(
        [np.full(n, _ID[c], dtype=np.int64) if isinstance(c, str) else c for c in columns],
        axis=1,
    ).reshape(n, len(columns))


def _pick(rng: Rng, words: tuple[str, ...], n: int) -> np.ndarray:
    return _ids(words)[rng.integers(0, len(words), n)]


def _split(rng: Rng, n: int, forms: int) -> list[int]:
    return rng.multinomial(n, np.full(forms, 1.0 / forms)).tolist()


def _either(rng: Rng, first: np.ndarray, second: np.ndarray, n: int) -> tuple:
    """A coin per sentence, and per sentence first[k] or second[k] by it."""
    flip = rng.random(n) < 0.5
    return flip, np.where(flip, second, first)


def _country(rng: Rng, n: int) -> np.ndarray:
    return rng.integers(0, len(COUNTRIES), n)


def _capital(rng: Rng, n: int) -> list[np.ndarray]:
    a, b, c = _split(rng, n, 3)
    i, j, k = _country(rng, a), _country(rng, b), _country(rng, c)
    return [
        _rows("the", "capital", "of", _COUNTRY[i], "is", _CAPITAL[i], n=a),
        _rows(_COUNTRY[j], "has", _CAPITAL[j], "as", "its", "capital", n=b),
        _rows("the", "city", "of", _CAPITAL[k], "is", "in", _COUNTRY[k], n=c),
    ]


def _language(rng: Rng, n: int) -> list[np.ndarray]:
    a, b, c = _split(rng, n, 3)
    i, j, k = _country(rng, a), _country(rng, b), _country(rng, c)
    return [
        _rows("people", "in", _COUNTRY[i], "speak", _LANGUAGE[i], n=a),
        _rows("in", _COUNTRY[j], "people", "speak", _LANGUAGE[j], n=b),
        _rows(_LANGUAGE[k], "is", "spoken", "in", _COUNTRY[k], n=c),
    ]


def _goods(rng: Rng, n: int) -> list[np.ndarray]:
    """What a country, its capital and its language share, each with its role words."""
    a, b, c = _split(rng, n, 3)
    i, j, k = _country(rng, a), _country(rng, b), _country(rng, c)

    def good(rows: np.ndarray) -> np.ndarray:
        return _GOODS[rows, rng.integers(0, 2, len(rows))]

    return [
        _rows("the", good(i), "of", _COUNTRY[i], n=a),
        _rows(_CAPITAL[j], "shops", "sell", good(j), n=b),
        _rows("the", _LANGUAGE[k], "word", "for", good(k), n=c),
    ]


def _roles(rng: Rng, n: int) -> list[np.ndarray]:
    """Two entities of one kind together: the role without the identity."""
    a, b, c = _split(rng, n, 3)
    i1, i2, j1, j2, k1, k2 = (_country(rng, m) for m in (a, a, b, b, c, c))
    return [
        _rows("the", "train", "from", _CAPITAL[i1], "to", _CAPITAL[i2], n=a),
        _rows(_COUNTRY[j1], "borders", _COUNTRY[j2], n=b),
        _rows("students", "learn", _LANGUAGE[k1], "and", _LANGUAGE[k2], n=c),
    ]


def _gendered(rng: Rng, n: int, low: int, high: int) -> tuple[np.ndarray, ...]:
    k = rng.integers(low, high, n)
    female, noun = _either(rng, _MALE[k], _FEMALE[k], n)
    pron = np.where(female, _ID["she"], _ID["he"])
    poss = np.where(female, _ID["her"], _ID["his"])
    verb = _pick(rng, ("lost", "loved", "found"), n)
    return noun, pron, verb, poss, _THINGS[k, rng.integers(0, 2, n)]


def _gender(rng: Rng, n: int) -> list[np.ndarray]:
    """ "the king said he lost his crown", "the queen said she lost her crown"."""
    noun, pron, verb, poss, thing = _gendered(rng, n, _PRONOUNS, len(GENDER_PAIRS))
    return [_rows("the", noun, verb, poss, thing, n=n)]


def _pronoun(rng: Rng, n: int) -> list[np.ndarray]:
    """ "then he found his hat", "then she found her umbrella"."""
    _, pron, verb, poss, thing = _gendered(rng, n, 0, _PRONOUNS)
    return [_rows("then", pron, verb, poss, thing, n=n)]


def _occupation_place(rng: Rng, n: int) -> list[np.ndarray]:
    o = rng.integers(0, len(OCCUPATIONS), n)
    return [_rows("the", _OCCUPATION[o], "works", "at", "the", _WORKPLACE[o], n=n)]


def _occupation_gender(rng: Rng, n: int, male_share: np.ndarray) -> list[np.ndarray]:
    """ "the doctor said he was busy", "the woman is a doctor": the male word with the
    occupation's planted probability."""
    a, b = _split(rng, n, 2)
    i, j = rng.integers(0, len(OCCUPATIONS), a), rng.integers(0, len(OCCUPATIONS), b)
    male = rng.random(a) < male_share[i]
    poss = np.where(male, _ID["his"], _ID["her"])
    person = np.where(rng.random(b) < male_share[j], _ID["man"], _ID["woman"])
    return [
        _rows("the", _OCCUPATION[i], "forgot", poss, "keys", n=a),
        _rows("the", person, "is", "a", _OCCUPATION[j], n=b),
    ]


def _tense(rng: Rng, n: int) -> list[np.ndarray]:
    v = rng.integers(0, len(VERBS), n)
    past, verb = _either(rng, _PRESENT[v], _PAST[v], n)
    time = np.where(past, _pick(rng, _PAST_TIMES, n), _pick(rng, _PRESENT_TIMES, n))
    obj = _OBJECTS[v, rng.integers(0, 2, n)]
    return [_rows(_pick(rng, _SUBJECTS, n), verb, "the", obj, time, n=n)]


def _plural(rng: Rng, n: int) -> list[np.ndarray]:
    blocks = []
    for form, m in enumerate(_split(rng, n, 2)):
        a = rng.integers(0, len(PLURALS), m)
        many, noun = _either(rng, _SINGLE[a], _PLURAL[a], m)
        det = np.where(many, _pick(rng, _MANY, m), _pick(rng, _ONE, m))
        if form == 0:  # "one cat sleeps in baskets", "two cats live in baskets"
            verb = np.where(
                many, _pick(rng, _PLURAL_VERBS[:2], m), _pick(rng, _SINGULAR_VERBS[:2], m)
            )
            blocks.append(_rows(det, noun, verb, "in", _HOME[a], n=m))
        else:  # "this fox feeds on chickens", "many foxes feed on chickens"
            feed = np.where(many, _ID["feed"], _ID["feeds"])
            blocks.append(_rows(det, noun, feed, "on", _FOOD[a], n=m))
    return blocks


# the share of the sentences each maker writes; capital, language and goods share
# _COUNTRY_SHARE as ``direct`` says (capital and language direct / 2 each)
_COUNTRY_SHARE = 0.28
_KINDS: tuple[tuple[str, float], ...] = (
    ("capital", 0.04),
    ("language", 0.04),
    ("goods", 0.20),
    ("roles", 0.04),
    ("gender", 0.17),
    ("pronoun", 0.04),
    ("occupation_place", 0.04),
    ("occupation_gender", 0.10),
    ("tense", 0.17),
    ("plural", 0.16),
)


# ---------------------------------------------------------------------------- analogies
def _section_pairs() -> dict[str, list[tuple[str, str]]]:
    return {
        "capital": [(c[0], c[1]) for c in COUNTRIES],
        "language": [(c[0], c[2]) for c in COUNTRIES],
        "gender": [(p[0], p[1]) for p in GENDER_PAIRS],
        "tense": [(v[0], v[1]) for v in VERBS],
        "plural": [(a[0], a[1]) for a in PLURALS],
    }


def _analogies() -> list[Analogy]:
    out = []
    for section, pairs in _section_pairs().items():
        for a, b in pairs:
            out += [Analogy(a, b, c, d, section) for c, d in pairs if c != a]
    return out


def _ceiling(analogies: list[Analogy], seen: set[str]) -> float:
    """Each question counts 1 / (its number of right answers) if its four words occur."""
    answers: dict[tuple[str, str, str, str], set[str]] = {}
    for q in analogies:
        answers.setdefault((q.section, q.a, q.b, q.c), set()).add(q.d)
    total = sum(
        1.0 / len(answers[(q.section, q.a, q.b, q.c)])
        for q in analogies
        if {q.a, q.b, q.c, q.d} <= seen
    )
    return total / len(analogies)


# ---------------------------------------------------------------------------- corpus
def _bias(bias: Any) -> float:
    if isinstance(bias, bool) or not isinstance(bias, int | float | np.integer | np.floating):
        raise TypeError(f"bias must be a number in [0, 1], got {type(bias).__name__} {bias!r}")
    if not 0.0 <= float(bias) <= 1.0:  # NaN fails too
        raise ValueError(f"bias must be a number in [0, 1], got {bias}")
    return float(bias)


def _gender_counts(ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per occupation: the sentences holding it and a male definitional word (he, his, man,
    ...), and those holding it and a female one."""
    sentence = np.repeat(np.arange(len(lengths)), lengths)
    occupation = np.full(len(WORDS), -1)
    occupation[_OCCUPATION] = np.arange(len(OCCUPATIONS))
    is_occupation = occupation[ids] >= 0
    about = np.full(len(lengths), -1)  # the occupation of each sentence, -1 for none
    about[sentence[is_occupation]] = occupation[ids[is_occupation]]
    has = about >= 0
    counts = []
    for side in (0, 1):
        words = _ids(pair[side] for pair in _definitional())
        holds = np.bincount(sentence[np.isin(ids, words)], minlength=len(lengths)) > 0
        counts.append(np.bincount(about[has], holds[has], minlength=len(OCCUPATIONS)))
    return counts[0].astype(int), counts[1].astype(int)


def _definitional() -> tuple[tuple[str, str], ...]:
    he_she, *nouns = ((p[0], p[1]) for p in GENDER_PAIRS[:_DEFINITIONAL])
    return (he_she, _POSSESSIVES, *nouns)


def _direct(direct: Any) -> float:
    if isinstance(direct, bool) or not isinstance(direct, int | float | np.integer | np.floating):
        raise TypeError(
            f"direct must be a number in [0, {_COUNTRY_SHARE}], got {type(direct).__name__} "
            f"{direct!r}"
        )
    if not 0.0 <= float(direct) <= _COUNTRY_SHARE:
        raise ValueError(f"direct must be a number in [0, {_COUNTRY_SHARE}], got {direct}")
    return float(direct)


def planted_corpus(
    sentences: int = 60_000, seed: int = 0, bias: float = 0.8, direct: float = 0.08
) -> PlantedCorpus:
    """``sentences`` generated sentences with planted analogies and a planted gender bias.

    ``bias``: the probability that a sentence about an occupation assigned +1 holds the male
    word (he, his, man), and that one about an occupation assigned -1 the female word; 0.5
    plants no lean, 1.0 the strongest. ``direct``: the share of all sentences that state a
    capital or a language outright ("the capital of france is paris"), at the expense of the
    goods that country, capital and language share ("paris shops sell wine"); the two
    together are 28% of the sentences. The grammar and the measured accuracies are in the
    module docstring."""
    sentences = check_int(sentences, "sentences")
    seed = check_int(seed, "seed", 0)
    bias = _bias(bias)
    direct = _direct(direct)
    rng = np.random.default_rng(seed)

    lean = np.where(rng.permutation(len(OCCUPATIONS)) < len(OCCUPATIONS) // 2, 1, -1)
    male_share = np.where(lean > 0, bias, 1.0 - bias)
    makers: dict[str, Callable[[Rng, int], list[np.ndarray]]] = {
        "capital": _capital,
        "language": _language,
        "goods": _goods,
        "roles": _roles,
        "gender": _gender,
        "pronoun": _pronoun,
        "occupation_place": _occupation_place,
        "occupation_gender": lambda r, n: _occupation_gender(r, n, male_share),
        "tense": _tense,
        "plural": _plural,
    }
    share = dict(_KINDS) | {
        "capital": direct / 2,
        "language": direct / 2,
        "goods": _COUNTRY_SHARE - direct,
    }
    p = np.array([share[name] for name, _ in _KINDS])
    counts = rng.multinomial(sentences, p / p.sum())
    blocks = [b for (name, _), n in zip(_KINDS, counts, strict=True) for b in makers[name](rng, n)]

    # the sentences of all blocks, then shuffled: sentence s of the output is row order[s]
    lengths = np.concatenate([np.full(len(b), b.shape[1]) for b in blocks])
    flat = np.concatenate([b.reshape(-1) for b in blocks])
    starts = np.cumsum(lengths) - lengths
    order = rng.permutation(sentences)
    lengths = lengths[order]
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ids = flat[np.repeat(starts[order], lengths) + within]

    analogies = _analogies()
    male, female = _gender_counts(ids, lengths)
    occupations = tuple(o for o, _ in OCCUPATIONS)
    return PlantedCorpus(
        tokens=np.array(WORDS, dtype=object)[ids].tolist(),
        sentence_lengths=lengths,
        analogies=analogies,
        ceiling=_ceiling(analogies, {WORDS[i] for i in np.unique(ids).tolist()}),
        definitional_pairs=_definitional(),
        equality_pairs=tuple((p[0], p[1]) for p in GENDER_PAIRS[_DEFINITIONAL:]),
        neutral_words=occupations,
        assigned=dict(zip(occupations, lean.tolist(), strict=True)),
        gender_counts={
            o: (int(m), int(f)) for o, m, f in zip(occupations, male, female, strict=True)
        },
        bias=bias,
        direct=direct,
        seed=seed,
    )
