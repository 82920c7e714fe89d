"""Misspelling lexicons, synthetic typos and misspellings substituted into texts."""
import random

import pytest

from charword import misspellings

TEXTS = ["The movie was great, and the acting was good.", "A boring film; the plot was terrible!",
         "Good acting , great plot and a good ending ."]
LEXICON = {"great": ("grate", "graet"), "good": ("goood",), "the": ("teh",), "acting": ("actng",)}


def test_the_lexicon_reader_takes_the_header_and_names_a_bad_row(tmp_path):
    path = tmp_path / "lexicon.tsv"
    path.write_text("misspelling\tcorrection\nteh\tthe\n\nGoood\tGood\n", encoding="utf-8")
    assert misspellings.read_lexicon(str(path)) == [("teh", "the"), ("Goood", "Good")]
    path.write_text("teh\tthe\nbroken line\n", encoding="utf-8")
    with pytest.raises(misspellings.LexiconError, match=r"lexicon.tsv, row 2: expected 'misspelling<TAB>correction'"):
        misspellings.read_lexicon(str(path))
    with pytest.raises(misspellings.LexiconError, match="cannot read"):
        misspellings.read_lexicon(str(tmp_path / "missing.tsv"))


def test_by_correction_lowercases_and_drops_misspellings_equal_to_the_word():
    pairs = [("Teh", "The"), ("teh", "the"), ("THE", "the"), ("hte", "the"), ("Goood", "Good")]
    assert misspellings.by_correction(pairs, lowercase=True) == {"the": ("teh", "hte"), "good": ("goood",)}
    assert misspellings.by_correction(pairs, lowercase=False)["the"] == ("teh", "THE", "hte")


def test_synthetic_typos_are_distinct_single_edits_and_repeat_with_the_seed():
    typos = misspellings.synthetic_typos("terrible", 6, seed=3)
    assert len(typos) == 6 == len(set(typos)) and "terrible" not in typos
    assert all(abs(len(t) - len("terrible")) <= 1 for t in typos)
    assert typos == misspellings.synthetic_typos("terrible", 6, seed=3)
    assert typos != misspellings.synthetic_typos("terrible", 6, seed=4)
    assert misspellings.synthetic_typos("a", 3, seed=1) == []


@pytest.mark.parametrize("lexicon", [LEXICON, None])
def test_substitution_misspells_the_requested_share_of_tokens_nested_across_fractions(lexicon):
    low, low_stats = misspellings.substitute(TEXTS, 0.1, seed=5, lexicon=lexicon)
    high, high_stats = misspellings.substitute(TEXTS, 0.2, seed=5, lexicon=lexicon)
    tokens = low_stats["tokens"]
    assert tokens == 30  # words and punctuation marks, each its own token
    assert low_stats["substituted"] == round(0.1 * tokens) and high_stats["substituted"] == round(0.2 * tokens)
    changed = lambda out: {(t, i) for t, (a, b) in enumerate(zip(TEXTS, out))  # noqa: E731
                           for i, (x, y) in enumerate(zip(a.split(), b.split())) if x != y}
    assert len(changed(low)) == low_stats["substituted"]
    assert changed(low) <= changed(high)
    assert misspellings.substitute(TEXTS, 0.1, seed=5, lexicon=lexicon)[0] == low
    assert misspellings.substitute(TEXTS, 0.1, seed=6, lexicon=lexicon)[0] != low


def test_real_misspellings_keep_case_and_stop_at_the_lexicon_coverage():
    out, stats = misspellings.substitute(TEXTS, 1.0, seed=1, lexicon=LEXICON)
    assert stats["eligible"] == 10 == stats["substituted"] < stats["wanted"]
    assert out[0].startswith("Teh movie was gr") and out[2].startswith("Goood actng")
    assert "terrible" in out[1]  # not in the lexicon


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insert, delete, substitute, adjacent swap."""
    d = [[max(i, j) if min(i, j) == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_every_typo_kind_is_one_edit_and_differs():
    rng = random.Random(0)
    seen = set()
    for _ in range(400):
        word = rng.choice(["wonderful", "aa", "Film", "over-long", "it's", "ok"])
        new, kind = misspellings.typo(word, rng)
        seen.add(kind)
        assert new != word and _edit_distance(word, new) == 1
        if kind == "substitute":
            (i,) = [k for k in range(len(word)) if word[k] != new[k]]
            assert new[i].lower() in misspellings.QWERTY_NEIGHBOURS[word[i].lower()]
    assert seen == set(misspellings.KINDS)
    with pytest.raises(ValueError):
        misspellings.typo(",", rng)


def test_qwerty_neighbours_are_symmetric():
    for key, neighbours in misspellings.QWERTY_NEIGHBOURS.items():
        assert neighbours
        for other in neighbours:
            assert key in misspellings.QWERTY_NEIGHBOURS[other]


def test_split_tokens_splits_punctuation_and_symbols_off_words():
    assert misspellings.split_tokens("It's great!! 10/10 :)") == ["It", "'", "s", "great", "!", "!", "10", "/", "10",
                                                                    ":", ")"]
