"""Invented demo data: short film and product reviews labelled positive or negative.

Sentiment is carried by opinion words from families with many inflections and
derivations (loved, lovely, loveliest, lovingly). Most reviews use a common form; about
a fifth carry their opinion only in a rare form ("disappointingly", "amazement") or a
misspelling ("amazng", "terible", "exellent"), which a word vocabulary sees as unknown
while the characters still show the stem. Brands and people are invented.

    python -m charword.demo_data --output charword/demo_data/reviews.csv
"""
import argparse
import csv
import os
import random
from typing import List, Tuple

DEMO_DATA = os.path.join(os.path.dirname(__file__), "demo_data", "reviews.csv")  # the bundled file
LABELS = ("positive", "negative")
HARD_FRACTION = 0.2      # opinion only in a rare form or a misspelling
NEGATED_FRACTION = 0.06  # "the plot was not great" -> negative

# Opinion words by polarity and part of speech: (common forms, rare forms).
OPINIONS = {
    "positive": {
        "adj": (["good", "great", "excellent", "amazing", "wonderful", "lovely", "brilliant", "enjoyable",
                 "delightful", "impressive", "fantastic", "charming", "superb"],
                ["lovable", "adorable", "delightsome", "enchanting", "marvellous"]),
        "adv": (["beautifully", "perfectly"],
                ["lovingly", "amazingly", "delightfully", "wonderfully", "brilliantly", "charmingly", "impressively",
                 "superbly", "fantastically", "excellently"]),
        "noun": (["delight", "joy"],
                 ["amazement", "enjoyment", "excellence", "brilliance", "loveliness", "adoration", "greatness"]),
        "verb_i": (["loved", "enjoyed", "liked"], ["adored", "relished", "cherished"]),
        "verb_me": (["impressed", "delighted"], ["amazed", "charmed", "enchanted"]),
        "sup": (["best", "greatest"], ["loveliest", "finest", "grandest"]),
    },
    "negative": {
        "adj": (["bad", "terrible", "awful", "boring", "disappointing", "annoying", "frustrating", "horrible",
                 "dreadful", "mediocre", "useless", "poor"],
                ["regrettable", "hateful", "wasteful", "horrendous", "lamentable", "underwhelming"]),
        "adv": (["badly", "poorly"],
                ["terribly", "horribly", "dreadfully", "disappointingly", "boringly", "annoyingly", "frustratingly",
                 "lamentably", "shoddily"]),
        "noun": (["disappointment", "waste"],
                 ["boredom", "annoyance", "frustration", "awfulness", "mediocrity", "uselessness", "regret"]),
        "verb_i": (["hated", "disliked"], ["regretted", "loathed", "detested"]),
        "verb_me": (["disappointed", "bored"], ["annoyed", "frustrated", "irritated"]),
        "sup": (["worst"], ["dullest", "dreariest", "shoddiest"]),
    },
}

# {T}: what is judged, {item}: the reviewed thing, {w}: the opinion word.
TEMPLATES = {
    "adj": ["{T} was {w}", "{T} is {w}", "{item} is really {w}", "{w} {kind}, {t} included"],
    "adv": ["{T} was {w} done", "{item} is {w} put together", "{w} made {kind}"],
    "noun": ["{T} was pure {w}", "{w} from start to finish", "{item}: total {w}"],
    "verb_i": ["I {w} {item}", "we {w} {t}", "my {relative} {w} it"],
    "verb_me": ["{T} {w} me", "{item} {w} us", "honestly, {t} {w} me"],
    "sup": ["{item} is the {w} {kind} this year", "{T} was the {w} part"],
}
NEGATED = ["{T} was not {w}", "{item} is not {w} at all", "honestly {t} was never {w}"]

BRANDS = ["Zentrix", "Quorvo", "Lumexa", "Brivana", "Kestrelon", "Velmora", "Ostriq", "Nuvique", "Fennlow",
          "Tarvix", "Crémora", "Élanvo", "Pohjola", "Driftwick"]
PEOPLE = ["Marisol Quandt", "Deshawn Okafor", "Ingrid Vålstad", "Tomás Ferreira", "Renée Dubois", "Kenji Arakawa",
          "Zoë Lindqvist", "Bartholomew Fitch", "Anouk Brèval", "Priya Venkatesan", "Oskar Møllerup"]
DOMAINS = {  # things reviewed, what is judged, and neutral filler sentences
    "film": (["film", "movie", "sequel", "documentary", "thriller", "series"],
             ["the plot", "the acting", "the soundtrack", "the ending", "the dialogue", "the cinematography",
              "{person}'s performance"],
             ["Watched it with my {relative}.", "Saw it after dinner at a café.", "Directed by {person}.",
              "We had crème brûlée during the intermission.", "Total déjà vu, by the way.",
              "It runs about {n}0 minutes longer than the trailer suggests.", "Saw it on a {day} night."]),
    "product": (["blender", "kettle", "backpack", "desk lamp", "phone case", "keyboard", "tent", "headphones"],
                ["the battery", "the screen", "the zipper", "the build quality", "the packaging", "the manual",
                 "customer service"],
                ["I bought it last {day}.", "It arrived on {day}.", "Shipping took {n} days.",
                 "The box said {brand} on the side.", "It comes in grey and blue.", "Paid about {n}0 euros.",
                 "I have used it for {n} weeks.", "Got it for my {relative}'s birthday."]),
}
RELATIVES = ["sister", "brother", "cousin", "roommate", "grandmother", "neighbour", "nephew"]
COMMON_FILLERS = ["My {relative} told me about it.", "It was raining in São Paulo that day.",
                  "Second one I have tried this month."]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ENDINGS = [".", ".", ".", ".", "!", "!!", "...", "?!"]
EMOJI = {"positive": ["😍", "👍", "🙂"], "negative": ["😡", "👎", "🙄"], "neutral": ["🎬", "📦", "🍿", "☕"]}


def typo(word: str, rng: random.Random) -> str:
    """A realistic misspelling: two neighbouring letters swapped, one dropped or one doubled."""
    i = rng.randrange(1, len(word) - 1)  # the first letter stays
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1:]


def _review(rng: random.Random) -> Tuple[str, str]:
    """One (text, label) pair: one or two opinion clauses among neutral filler sentences."""
    label = rng.choice(LABELS)
    domain = rng.choice(sorted(DOMAINS))
    kinds, aspects, fillers = DOMAINS[domain]
    slots = _slots(rng, domain, rng.choice(kinds), aspects)
    roll = rng.random()
    if roll < NEGATED_FRACTION:
        other = LABELS[1 - LABELS.index(label)]
        clauses = [_clause(rng, NEGATED, rng.choice(OPINIONS[other]["adj"][0]), slots)]
    elif roll < NEGATED_FRACTION + HARD_FRACTION:
        clauses = [_opinion(rng, label, slots, hard=True)]
    else:
        clauses = [_opinion(rng, label, slots, hard=False) for _ in range(rng.choice((1, 1, 2)))]
        if rng.random() < 0.1:
            clauses[-1] += " " + rng.choice(EMOJI[label])
    sentences = [f.format(**slots) for f in rng.sample(fillers + COMMON_FILLERS, rng.choice((0, 1, 1, 2)))]
    for clause in clauses:
        sentences.insert(rng.randint(0, len(sentences)), clause)
    if rng.random() < 0.05:
        sentences.append(rng.choice(EMOJI["neutral"]))
    return " ".join(sentences), label


def _slots(rng: random.Random, domain: str, kind: str, aspects: List[str]) -> dict:
    """Values of the template fields: names, numbers, the item reviewed and what is judged."""
    slots = {"person": rng.choice(PEOPLE), "brand": rng.choice(BRANDS), "relative": rng.choice(RELATIVES),
             "day": rng.choice(DAYS), "n": str(rng.randint(2, 9)), "kind": kind}
    slots["item"] = rng.choice([f"this {kind}", f"the {slots['brand']} {kind}",
                                f"{slots['person']}'s new {kind}" if domain == "film"
                                else f"the {slots['brand']} {kind} X{rng.randint(10, 999)}"])
    slots["t"] = rng.choice(aspects + ["{item}"]).format(**slots)
    slots["T"] = slots["t"][0].upper() + slots["t"][1:]
    return slots


def _opinion(rng: random.Random, label: str, slots: dict, hard: bool) -> str:
    """A clause with a common opinion word or, when ``hard``, a rare form or a misspelling."""
    part = rng.choice(sorted(OPINIONS[label]))
    common, rare = OPINIONS[label][part]
    if not hard:
        word = rng.choice(common)
        word = word.upper() if rng.random() < 0.03 else word
    elif rng.random() < 0.4:
        word = rng.choice(rare)
    else:
        word = typo(rng.choice([w for w in common + rare if len(w) > 3]), rng)
    return _clause(rng, TEMPLATES[part], word, slots)


def _clause(rng: random.Random, templates: List[str], word: str, slots: dict) -> str:
    text = rng.choice(templates).format(w=word, **slots)
    return text[0].upper() + text[1:] + rng.choice(ENDINGS)


def generate(num_rows: int = 3000, seed: int = 7) -> List[Tuple[str, str]]:
    """``num_rows`` (text, label) pairs; the same seed always gives the same rows."""
    rng = random.Random(seed)
    return [_review(rng) for _ in range(num_rows)]


def write_csv(path: str, rows: List[Tuple[str, str]]) -> None:
    """Writes ``rows`` as UTF-8 CSV with the header ``text,label``."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", required=True, help="CSV file to write")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write_csv(args.output, generate(args.rows, args.seed))


if __name__ == "__main__":
    main()
