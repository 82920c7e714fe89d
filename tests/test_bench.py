"""The benchmarks: data splits, perturbed sets, the fastText peer, statistics, the arms,
the quality report's arithmetic, and a smoke run of each report."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from bench import arms, data, fasttext_arm, label_curve, perturb, probe, quality_report, stats
from charword.config import CharwordConfig, ConfigError
from tests.bert_helpers import write_checkpoint
from tests.conftest import learnable_pairs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_paired_test_is_the_exact_binomial_test_on_discordant_pairs():
    first = [True] * 10 + [False] * 2 + [True] * 5
    second = [False] * 10 + [True] * 2 + [True] * 5
    result = stats.paired_test(first, second)
    assert (result["only_first"], result["only_second"]) == (10, 2)
    assert result["p_value"] == pytest.approx(2 * sum(math.comb(12, i) for i in range(3)) / 2 ** 12)
    assert stats.paired_test([True, False], [True, False])["p_value"] == 1.0
    with pytest.raises(ValueError, match="length"):
        stats.paired_test([True], [True, False])


def test_macro_f1_averages_each_gold_class_f1():
    gold = ["a", "a", "a", "b", "c"]
    predicted = ["a", "a", "b", "b", "b"]
    # a: precision 1, recall 2/3 -> 0.8; b: precision 1/3, recall 1 -> 0.5; c: 0
    assert stats.macro_f1(predicted, gold) == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert stats.accuracy(predicted, gold) == pytest.approx(0.6)
    assert stats.summarize([0.5, 0.7])["std"] == pytest.approx(math.sqrt(0.02))


def _rows():
    sentence = "the film is a sharp , funny and moving portrait of a family"
    words = sentence.split()
    phrases = [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)]
    others = [f"another text number {i} about something else entirely" for i in range(200)]
    return [(text, i % 2) for i, text in enumerate(phrases + others)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hold_out_shares_no_text_of_five_tokens_with_training(seed):
    rows = _rows()
    train, held = data.hold_out(rows, 0.1, seed)
    assert sorted(train + held) == sorted(rows) and len(held) >= 0.1 * len(rows)
    held_texts = [f" {text} " for text, _ in held]
    for text, _ in train:
        if len(text.split()) >= 5:
            assert not any(f" {text} " in other for other in held_texts), text
    for text, _ in data.whole_texts(held):
        assert not any(f" {text} " in f" {other} " for other, _ in train), text


def test_whole_texts_are_the_rows_no_other_row_contains():
    rows = [("a b c", 1), ("b c", 1), ("d e", 0), ("e", 0), ("f", 1)]
    assert data.whole_texts(rows) == [("a b c", 1), ("d e", 0), ("f", 1)]


def _lexicon(path, pairs):
    path.write_text("misspelling\tcorrection\n" + "".join(f"{wrong}\t{right}\n" for wrong, right in pairs))
    return str(path)


def test_misspelled_sets_are_real_with_a_lexicon_and_typos_without(tmp_path):
    lexicon = _lexicon(tmp_path / "dev.tsv", [("teh", "the"), ("flim", "film"), ("grate", "great")])
    texts = ["the film was great .", "a great film , the best", "nothing here"]
    real, real_stats = perturb.misspelled_sets(texts, (0.1, 0.3), 3, lexicon)
    assert list(real) == ["real 0.1", "real 0.3"] and real_stats["real 0.3"]["pairs"] == 3
    assert real_stats["real 0.1"]["substituted"] == 1 and real_stats["real 0.3"]["substituted"] == 4
    assert "grate" in " ".join(real["real 0.3"]) or "flim" in " ".join(real["real 0.3"])
    synthetic, _ = perturb.misspelled_sets(texts, (0.3,), 3)
    assert list(synthetic) == ["typos 0.3"] and synthetic["typos 0.3"] != texts
    selection = perturb.selection_set([(t, 1) for t in texts], 0.3, 3, lexicon)
    assert selection["clean"] == texts and selection["labels"] == ["1"] * 3
    assert selection["misspelled"] == real["real 0.3"] and "lexicon" in selection["source"]


def test_fasttext_reads_text_as_the_preprocessing_does():
    assert fasttext_arm.normalise("Ｇreat  film!") == "great film !"
    settings = fasttext_arm.grid()
    assert fasttext_arm.DEFAULTS in settings
    assert len(settings) == math.prod(len(values) for values in fasttext_arm.GRID.values())
    assert all(s["maxn"] == 0 for s in settings if s["minn"] == 0)


def test_fasttext_arm_selects_trains_and_repeats_with_the_seed(tmp_path, monkeypatch):
    pytest.importorskip("fasttext")
    rows = learnable_pairs(300, 1, typo_rate=0.0)
    held = learnable_pairs(60, 2, typo_rate=0.0)
    selection = {"clean": [text for text, _ in held], "misspelled": [text for text, _ in held],
                 "labels": [label for _, label in held]}
    monkeypatch.setattr(fasttext_arm, "GRID", {"epoch": (1, 10)})
    setting, scores = fasttext_arm.select(rows, selection, str(tmp_path))
    assert len(scores) == 2 and setting == max(scores, key=lambda s: s["clean"])["setting"]
    model = fasttext_arm.train(rows, setting, 1, str(tmp_path))
    assert fasttext_arm.accuracy(model, selection["clean"], selection["labels"]) > 0.9
    again = fasttext_arm.train(rows, setting, 1, str(tmp_path))
    texts = selection["clean"]
    assert fasttext_arm.predict(model, texts) == fasttext_arm.predict(again, texts)
    assert model.predict(fasttext_arm.normalise(texts[0]))[1][0] == pytest.approx(
        again.predict(fasttext_arm.normalise(texts[0]))[1][0])
    # The search is kept for the same rows, selection set and grid, and redone for others.
    monkeypatch.setattr(fasttext_arm, "train", lambda *args: pytest.fail("the kept search trained again"))
    assert fasttext_arm.select(rows, selection, str(tmp_path)) == (setting, scores)
    monkeypatch.setattr(fasttext_arm, "GRID", {"epoch": (1,)})
    with pytest.raises(pytest.fail.Exception, match="trained again"):
        fasttext_arm.select(rows, selection, str(tmp_path))


def test_arms_are_overrides_of_the_defaults():
    name, overrides = arms.parse_arm('wide={"model": {"token_dim": 256}}')
    cfg = arms.arm_config(CharwordConfig(), overrides, 2, "train.tsv", None)
    assert name == "wide" and cfg.model.token_dim == 256 and cfg.training.seed == 2
    assert cfg.noise.lexicon == "train.tsv"  # noise draws from the training lexicon
    word_only = arms.arm_config(CharwordConfig(), arms.ARMS["word_only"], 1, "train.tsv", None)
    assert word_only.noise.lexicon is None and word_only.model.variant == "word_only"
    vectors = arms.arm_config(CharwordConfig(), arms.ARMS["default+vectors"], 1, None, "glove.txt")
    assert vectors.model.word_vectors == "glove.txt"
    with pytest.raises(ConfigError, match="--word-vectors"):
        arms.arm_config(CharwordConfig(), arms.ARMS["default+vectors"], 1, None, None)
    student = arms.arm_config(CharwordConfig(), arms.ARMS["distilled"], 3, None, None, "ckpt")
    assert student.pipeline.preset == "distilled" and student.teacher.checkpoint == "ckpt"
    teacher = arms.arm_config(CharwordConfig(), arms.ARMS["teacher"], 3, None, None, "ckpt")
    assert teacher.pipeline.preset == "accurate" and teacher.teacher_config().model.sentence_checkpoint == "ckpt"
    with pytest.raises(ConfigError, match="--teacher-checkpoint"):
        arms.arm_config(CharwordConfig(), arms.ARMS["teacher"], 1, None, None)
    with pytest.raises(ConfigError, match="unknown arm"):
        arms.parse_arm("nope")
    with pytest.raises(ConfigError, match="not JSON"):
        arms.parse_arm("x={bad")


def _raw(predictions, gold):
    """A quality run's raw results: predictions[arm][seed] = labels on every set."""
    sets = ("clean", "real 0.1", "selection clean", "selection misspelled")
    runs = {(arm, seed): {"train": {"wall_s": 10.0, "train_examples": 100, "passes": 2.0, "stop_reason": "x"},
                          "predictions": {s: labels for s in sets}}
            for arm, by_seed in predictions.items() for seed, labels in by_seed.items()}
    return {"meta": {"seeds": [1, 2], "arms": {arm: {} for arm in predictions}, "command": "c", "started": "s",
                     "wall_s": 60, "cpus": 2, "tensorflow": "2", "load_start": "0", "load_end": "0"},
            "data": {"name": "d", "labels": ["0", "1"], "misspelled": {"real 0.1": {"substituted": 1, "tokens": 9}},
                     "dev_has_oov": [i % 2 == 0 for i in range(len(gold))], "train_rows": 100, "train_file": "t",
                     "held_out_rows": 10, "selection_rows": 5, "selection_source": "x", "dev_file": "d",
                     "dev_rows": len(gold)},
            "gold": {"dev": gold, "selection": gold}, "runs": runs}


def test_quality_report_pairs_every_arm_with_fasttext_and_says_who_wins(tmp_path):
    gold = ["1"] * 60 + ["0"] * 40
    right = list(gold)
    wrong_20 = ["0"] * 20 + gold[20:]
    raw = _raw({"default": {1: right, 2: right}, "fasttext": {1: wrong_20, 2: wrong_20},
                "word_only": {1: wrong_20, 2: right}, "distilled": {1: wrong_20, 2: wrong_20}}, gold)
    report = quality_report.build(raw)
    assert report["metric"] == "accuracy"
    assert report["results"]["default"]["scores"]["accuracy"]["clean"]["mean"] == 1.0
    assert report["results"]["fasttext"]["scores"]["accuracy"]["clean"]["mean"] == 0.8
    test = report["paired_tests"]["default"]["clean"]
    assert (test["only_first"], test["only_second"]) == (40, 0) and test["p_value"] < 1e-6
    assert report["verdicts"][0].startswith("clean: accuracy default 100.0 vs fastText 80.0 (+20.0 points")
    assert report["verdicts"][0].endswith("default wins")
    statuses = {t["target"]: t["status"] for t in report["targets"]}
    assert statuses["default >= fastText + 2 points, clean"] == "PASS"
    assert statuses["default clean >= the best word-only arm's (word_only)"] == "PASS"
    assert statuses["distilled >= fastText + 2 points, clean"] == "MISS"  # the student is held to the same lead
    assert report["results"]["default"]["training"]["ms_per_example"]["mean"] == pytest.approx(50.0)
    assert report["results"]["default"]["oov_slice"]["examples"] == 50
    paths = quality_report.write(report, str(tmp_path))
    markdown = open(paths["markdown"], encoding="utf-8").read()
    assert "## Against fastText" in markdown and "## Paired tests against fastText" in markdown
    assert os.path.getsize(paths["plot"]) > 0


def test_quality_report_calls_a_small_difference_level():
    gold = ["1"] * 50 + ["0"] * 50
    one_off = ["0"] + gold[1:]
    raw = _raw({"default": {1: gold, 2: gold}, "fasttext": {1: one_off, 2: one_off}}, gold)
    report = quality_report.build(raw)
    assert report["verdicts"][0].endswith("level (p >= 0.05)")
    assert {t["status"] for t in report["targets"]} == {"MISS"}  # +1 point: short of +2 and not significant


def _smoke_data(tmp_path):
    data_dir = tmp_path / "generated"
    data_dir.mkdir()
    for name, count, seed in (("train.csv", 400, 1), ("dev.csv", 120, 2)):
        with open(data_dir / name, "w", encoding="utf-8") as handle:
            handle.write("text,label\n")
            handle.writelines(f'"{text}",{label}\n' for text, label in learnable_pairs(count, seed))
    return str(data_dir)


# Small enough to finish in a few minutes; every step still runs for real.
SMOKE_CONFIG = {
    "preprocessing": {"max_tokens": 16, "max_chars": 12},
    "model": {"word_dim": 16, "char_dim": 8, "char_filters": [[1, 8], [2, 8], [3, 16]], "char_output_dim": 16,
              "token_dim": 16, "sentence_encoder": "cnn", "sentence_units": 16, "char_ngram_buckets": 1000},
    "training": {"max_epochs": 2},
    "teacher": {"max_pieces": 16},  # the tiny checkpoint's positions
}


def _size_report(train_rows: int, accuracy: dict) -> dict:
    """A quality report.json of one label-curve size: ``accuracy`` arm -> set -> mean."""
    return {"data": {"train_rows": train_rows, "held_out_rows": 0},
            "results": {arm: {"scores": {"accuracy": {name: {"mean": mean, "std": 0.01}
                                                      for name, mean in sets.items()}}}
                        for arm, sets in accuracy.items()}}


def test_label_curve_orders_sizes_and_holds_pretraining_to_its_targets(tmp_path):
    def arms(random_init, pretrained):
        return {"default": dict(zip(label_curve.SETS, random_init)),
                "pretrained": dict(zip(label_curve.SETS, pretrained))}
    reports = {"all": _size_report(60000, arms((0.83, 0.82, 0.81), (0.845, 0.83, 0.825))),
               "1000": _size_report(1000, arms((0.60, 0.58, 0.55), (0.66, 0.64, 0.60)))}
    result = label_curve.curve(reports)
    assert list(result["points"]) == ["1000", "all"]
    verdicts = {(t["rows"], t["set"]): t["verdict"] for t in result["targets"]}
    assert verdicts == {(1000, "clean"): "PASS", ("all", "clean"): "PASS", ("all", "real 0.2"): "MISS by 0.5"}
    text = label_curve.markdown(result, "python -m bench label-curve ...")
    assert "| 1000 (1000) | 60.0 ± 1.0 | 66.0 ± 1.0 | - |" in text
    label_curve.plot(result, str(tmp_path / "curve.png"))
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_probe_averages_real_tokens_and_chooses_regularisation_on_held_out_rows():
    vectors = np.array([[[1.0, 2.0], [3.0, 4.0], [50.0, 50.0]], [[0.0, 0.0], [9.0, 9.0], [9.0, 9.0]]])
    mask = np.array([[True, True, False], [False, False, False]])
    assert probe.mean_over_tokens(vectors, mask).tolist() == [[2.0, 3.0], [0.0, 0.0]]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    informative = np.stack([labels + 0.3 * rng.standard_normal(400), rng.standard_normal(400)], axis=1)
    noise = rng.standard_normal((400, 2))
    for features, lowest, highest in ((informative, 0.9, 1.0), (noise, 0.3, 0.7)):
        parts = {"train": slice(0, 200), "held_out": slice(200, 300), "dev": slice(300, 400)}
        result = probe.probe({part: features[rows] for part, rows in parts.items()},
                             {part: labels[rows] for part, rows in parts.items()})
        assert result["C"] in probe.C_GRID and lowest <= result["dev"] <= highest, result


@pytest.mark.slow
def test_quality_report_smoke(tmp_path):
    """Every kind of arm on generated data, the teacher and its student with a tiny random BERT."""
    pytest.importorskip("fasttext")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMOKE_CONFIG))
    checkpoint = str(tmp_path / "bert")
    write_checkpoint(checkpoint)
    out = tmp_path / "report"
    dev_lexicon = _lexicon(tmp_path / "dev.tsv", [("teh", "the"), ("wsa", "was"), ("flim", "film")])
    train_lexicon = _lexicon(tmp_path / "train.tsv", [("hte", "the"), ("waas", "was")])
    command = [sys.executable, "-m", "bench", "quality", "--data", _smoke_data(tmp_path), "--out", str(out),
               "--arms", "default,fasttext,teacher,distilled",  # registered arms; a word-only arm defined as JSON:
               "--arm", 'word_only_json={"model": {"variant": "word_only"}, "noise": {"rate": 0.0}}',
               "--dev-lexicon", dev_lexicon, "--train-lexicon", train_lexicon, "--seeds", "1",
               "--config", str(config), "--teacher-checkpoint", checkpoint]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["arms"] == ["default", "fasttext", "teacher", "distilled", "word_only_json"]
    for arm in report["arms"]:
        for set_name in ("clean", "real 0.05", "real 0.1", "real 0.2", "selection clean"):
            assert 0.0 <= report["results"][arm]["scores"]["accuracy"][set_name]["mean"] <= 1.0
    assert set(report["paired_tests"]) == {"default", "teacher", "distilled", "word_only_json"}
    assert len(report["verdicts"]) == 4 and "clean: accuracy default" in done.stdout
    assert any(target["target"].endswith("word-only arm's (word_only_json)") for target in report["targets"])
    assert report["meta"]["fasttext"]["setting"] in fasttext_arm.grid()
    work = out / "work"
    labelled = json.loads(next(work.glob("teacher_labels*/result.json")).read_text())["result"]["data"]
    assert _probabilities_of(labelled[1]).shape == (report["data"]["train_rows"], 2)  # every training row
    # A second run reuses every finished step: 2 Transforms, 4 Trainers (the teacher once), the labelling.
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0 and again.stderr.count("reusing the finished run") == 7, again.stderr[-2000:]


def _probabilities_of(pattern):
    """The teacher probabilities of the raw examples the labelling step wrote: [rows, classes]."""
    import numpy as np  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from charword import contract  # pylint: disable=import-outside-toplevel
    rows = []
    for record in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        rows.append(list(example.features.feature[contract.TEACHER_PROBABILITIES].float_list.value))
    probabilities = np.array(rows)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    return probabilities


@pytest.mark.slow
def test_speed_report_smoke(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMOKE_CONFIG))
    out = tmp_path / "speed"
    command = [sys.executable, "-m", "bench", "speed", "--data", _smoke_data(tmp_path), "--out", str(out),
               "--config", str(config), "--rounds", "2", "--steps", "12", "--serving-requests", "5"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["transform"]["tokens_per_s"] > 0
    rates = report["trainer"]["examples_per_s"]
    assert set(rates) == {"default", "word_only"} and all(len(r) == 2 and min(r) > 0 for r in rates.values())
    assert report["trainer"]["time_per_example_vs_first"]["default"] == 1.0
    assert all(result["errors"] == 0 for results in report["serving"].values() for result in results)
    assert all(size > 0 for size in report["model_mb"].values())
