"""The benchmark: typo generator (unit tests) and a smoke run of bench.hybrid_report."""
import json
import math
import os
import random
import subprocess
import sys

import pytest

from bench import misspelled, typos
from bench.settings import BenchSettings
from tests.conftest import SHARED_DATA, learnable_pairs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEXTS = ["the movie was wonderful , really !", "a  dull   film about nothing", "i 'd say it 's okay ...",
         "Absolutely BRILLIANT acting", "x y z", "schlocky , over-long melodrama"] * 20


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insert, delete, substitute, adjacent swap."""
    d = [[max(i, j) if min(i, j) == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def changed_tokens(before, after):
    pairs = []
    for old, new in zip(before, after):
        old_tokens, new_tokens = old.split(), new.split()
        assert len(old_tokens) == len(new_tokens)
        pairs += [(o, n) for o, n in zip(old_tokens, new_tokens) if o != n]
    return pairs


def test_typos_are_deterministic_and_depend_on_the_seed():
    first, _ = typos.perturb_texts(TEXTS, 0.3, seed=7)
    again, _ = typos.perturb_texts(TEXTS, 0.3, seed=7)
    other, _ = typos.perturb_texts(TEXTS, 0.3, seed=8)
    assert first == again
    assert first != other


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.2, 0.3, 1.0])
def test_typos_change_the_requested_fraction_of_tokens_with_one_edit_each(rate):
    out, stats = typos.perturb_texts(TEXTS, rate, seed=3)
    eligible = sum(typos.is_eligible(token) for text in TEXTS for token in text.split())
    assert stats["eligible"] == eligible
    assert stats["perturbed"] == typos.typo_count(rate, eligible) == int(rate * eligible + 0.5)
    assert sum(stats[kind] for kind in typos.KINDS) == stats["perturbed"]
    changed = changed_tokens(TEXTS, out)
    assert len(changed) == stats["perturbed"]
    for old, new in changed:
        assert typos.is_eligible(old)
        assert edit_distance(old, new) == 1, (old, new)


def test_typos_keep_whitespace_and_skip_ineligible_tokens():
    out, _ = typos.perturb_texts(TEXTS, 1.0, seed=5)
    for old, new in zip(TEXTS, out):
        assert [len(s) for s in old.split(" ")].count(0) == [len(s) for s in new.split(" ")].count(0)
        for o, n in zip(old.split(), new.split()):
            if not typos.is_eligible(o):
                assert o == n
    assert out[4] == "x y z"


def test_typos_are_nested_across_rates():
    low, _ = typos.perturb_texts(TEXTS, 0.1, seed=11)
    high, _ = typos.perturb_texts(TEXTS, 0.3, seed=11)
    low_changes = set(changed_tokens(TEXTS, low))
    assert low_changes and low_changes <= set(changed_tokens(TEXTS, high))


def test_every_typo_kind_is_one_edit_and_differs():
    rng = random.Random(0)
    seen = set()
    for _ in range(400):
        word = rng.choice(["wonderful", "aa", "Film", "over-long", "it's", "ok"])
        new, kind = typos.typo(word, rng)
        seen.add(kind)
        assert new != word and edit_distance(word, new) == 1
        if kind == "substitute":
            (i,) = [k for k in range(len(word)) if word[k] != new[k]]
            assert new[i].lower() in typos.QWERTY_NEIGHBOURS[word[i].lower()]
    assert seen == set(typos.KINDS)
    with pytest.raises(ValueError):
        typos.typo(",", rng)


def test_qwerty_neighbours_are_symmetric():
    for key, neighbours in typos.QWERTY_NEIGHBOURS.items():
        assert neighbours
        for other in neighbours:
            assert key in typos.QWERTY_NEIGHBOURS[other]


def test_settings_reject_bad_values():
    with pytest.raises(ValueError):
        BenchSettings(typo_rates=(0.1, 0.2))
    with pytest.raises(ValueError):
        BenchSettings(variants=("nope",))


def _smoke_data(tmp_path):
    """A slice of SST-2 when it is there; generated sentiment data otherwise."""
    sst2 = os.path.abspath(os.path.join(SHARED_DATA, "sst2"))
    if os.path.exists(os.path.join(sst2, "train.tsv")) and os.path.exists(os.path.join(sst2, "dev.tsv")):
        return sst2
    data = tmp_path / "generated"
    data.mkdir()
    for name, count, seed in (("train.csv", 400, 1), ("dev.csv", 120, 2)):
        with open(data / name, "w", encoding="utf-8") as handle:
            handle.write("text,label\n")
            handle.writelines(f'"{text}",{label}\n' for text, label in learnable_pairs(count, seed))
    return str(data)


# Small enough to finish in about a minute; every phase still runs for real.
SMOKE_CONFIG = {
    "preprocessing": {"max_tokens": 16, "max_chars": 12},
    "model": {"word_dim": 16, "char_dim": 8, "char_filters": [[1, 8], [2, 8], [3, 16]], "char_lstm_units": 8,
              "char_output_dim": 16, "token_dim": 16, "sentence_encoder": "cnn", "sentence_units": 16},
    "training": {"eval_steps": 2, "epochs": 2},
}


SMOKE_ARMS = ("word_only", "char_only", "hybrid", "hybrid+noise+routing+aux")


def _lexicon(path, pairs):
    path.write_text("misspelling\tcorrection\n" + "".join(f"{wrong}\t{right}\n" for wrong, right in pairs))
    return str(path)


@pytest.mark.slow
def test_hybrid_report_smoke(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMOKE_CONFIG))
    out = tmp_path / "report"
    dev_lexicon = _lexicon(tmp_path / "dev.tsv", [("teh", "the"), ("adn", "and"), ("flim", "film"), ("moive", "movie"),
                                                  ("si", "is"), ("taht", "that"), ("wiht", "with")])
    train_lexicon = _lexicon(tmp_path / "train.tsv", [("hte", "the"), ("nad", "and"), ("fillm", "film")])
    command = [sys.executable, "-m", "bench.hybrid_report", "--data", _smoke_data(tmp_path), "--out", str(out),
               "--arms", ",".join(SMOKE_ARMS), "--dev-lexicon", dev_lexicon, "--train-lexicon", train_lexicon,
               "--train-limit", "200", "--seeds", "1", "--steps", "20", "--config", str(config),
               "--speed-tokens", "3000", "--speed-steps", "3", "--overhead-steps", "3",
               "--set", "speed_rounds=1", "--set", "overhead_rounds=1", "--set", "overhead_epochs=2",
               "--set", "speed_batches=6", "--set", "speed_warmup_steps=1",
               "--set", 'transform_speed_mode="multi_threading"', "--jobs", "2"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("report.md", "report.json", "robustness.png"):
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= {"meta", "data", "quality", "robustness", "speed", "memory", "targets"}
    assert set(report["quality"]) == set(SMOKE_ARMS)
    misspelled = report["misspelled"]
    assert set(misspelled["accuracy"]) == set(SMOKE_ARMS) == set(misspelled["nearest"])
    assert misspelled["stats"]["real 0.1"]["substituted"] > 0
    assert set(misspelled["mcnemar"]) == set(SMOKE_ARMS) - {"word_only"}
    assert "training lexicon" in report["selection_source"]
    for variant, quality in report["quality"].items():
        assert 0.0 <= quality["dev_accuracy"]["mean"] <= 1.0
        assert 0.0 <= quality["selection"]["misspelled"]["mean"] <= 1.0
        for rate in ("0", "0.1", "0.2", "0.3"):
            assert 0.0 <= report["robustness"]["accuracy"][variant][rate]["mean"] <= 1.0
    assert report["robustness"]["typo_stats"]["0.2"]["perturbed"] > 0
    speed = report["speed"]
    for scope in ("hybrid_classifier", "char_encoder_only"):
        assert speed["char_encoder"][scope]["cnn"]["examples_per_s"] > 0
        assert speed["char_encoder"][scope]["bilstm"]["examples_per_s"] > 0
    for side in ("run_fn", "keras_streamed", "keras_in_memory"):
        assert speed["trainer_overhead"][side]["examples_per_s"] > 0
    assert speed["char_encoder"]["hybrid_classifier"]["cnn_over_bilstm_per_cpu_s"] > 0
    assert all(run["tokens_per_s"] > 0 for run in speed["transform"]["runs"].values())
    assert len(speed["transform"]["runs"]) == 3
    assert all(cost["peak_rss_mb"] > 0 and cost["wall_s"] > 0 for cost in report["memory"].values())
    assert {t["status"] for t in report["targets"]} <= {"PASS", "MISS"} and len(report["targets"]) == 11
    markdown = (out / "report.md").read_text()
    for heading in ("## 1. Quality", "## 2. Robustness", "## 2b. Real misspellings", "## 3. Speed", "## 4. Memory",
                    "## 5. Targets"):
        assert heading in markdown


@pytest.mark.slow
def test_speed_report_smoke(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMOKE_CONFIG))
    out = tmp_path / "speed"
    command = [sys.executable, "-m", "bench.speed_report", "--data", _smoke_data(tmp_path), "--out", str(out),
               "--config", str(config), "--transform-tokens", "2000", "--rounds", "1", "--epochs", "2",
               "--steps-per-epoch", "3", "--serving-requests", "5", "--long-sentences", "3", "--no-pipeline"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert set(report["sets"]) == {"short", "long"}
    assert report["sets"]["long"]["tokens_per_row"] > 2 * report["sets"]["short"]["tokens_per_row"]
    for found in report["sets"].values():
        before, after = found["transform"]["before"], found["transform"]["after"]
        assert before["tokens_per_s"] > 0 and after["tokens_per_s"] > 0 and after["tenth_wall_s"] > 0
        assert before["serialized_bytes_per_example"] == after["serialized_bytes_per_example"] > 0
        assert set(found["trainer"]["examples_per_s"]) == {"word_only_before", "word_only_after", "hybrid_before",
                                                           "hybrid_after", "word_only_default", "hybrid_default"}
        assert all(rate > 0 for rate in found["trainer"]["examples_per_s"].values())
        for arm in ("hybrid_before", "hybrid_after"):
            assert found["serving"][arm]["batch_32"]["errors"] == 0
    assert {t["status"] for t in report["targets"]} <= {"PASS", "MISS"} and len(report["targets"]) == 8
    assert "Transform tokens/s before / after" in (out / "report.md").read_text()


def test_mcnemar_is_the_exact_binomial_test_on_discordant_pairs():
    first = [True] * 10 + [False] * 2 + [True] * 5
    second = [False] * 10 + [True] * 2 + [True] * 5
    result = misspelled.mcnemar(first, second)
    assert (result["only_first"], result["only_second"]) == (10, 2)
    assert result["p_value"] == pytest.approx(2 * sum(math.comb(12, i) for i in range(3)) / 2 ** 12)
    assert misspelled.mcnemar([True, False], [True, False])["p_value"] == 1.0
    with pytest.raises(ValueError, match="length"):
        misspelled.mcnemar([True], [True, False])


def test_real_misspelling_sets_are_nested_and_report_coverage(tmp_path):
    lexicon = _lexicon(tmp_path / "dev.tsv", [("teh", "the"), ("flim", "film"), ("grate", "great")])
    texts = ["the film was great .", "a great film , the best", "nothing here"]
    sets, stats = misspelled.real_sets(texts, lexicon, (0.1, 0.3), seed=3)
    assert stats["real 0.1"]["eligible"] == 6 and stats["real 0.1"]["pairs"] == 3
    assert stats["real 0.1"]["tokens"] == 13
    assert stats["real 0.1"]["substituted"] == 1 and stats["real 0.3"]["substituted"] == 4
    changed = {name: {(t, w) for t, (a, b) in enumerate(zip(texts, out)) for w, (x, y) in
                      enumerate(zip(a.split(), b.split())) if x != y} for name, out in sets.items()}
    assert changed["real 0.1"] < changed["real 0.3"]
