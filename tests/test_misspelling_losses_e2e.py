"""End to end through Transform and run_fn: a model with the CNN char encoder trained
with misspelling noise, OOV routing and the auxiliary loss reads misspelled opinion words
it never saw better than the same model trained without them."""
import pytest
import tensorflow as tf

import charword
from charword import contract
from charword.config import CharwordConfig
from standalone.fn_args import make_fn_args
from standalone.transform import rows_from_pairs, transform_rows
from tests.conftest import SUBJECTS, learnable_pairs
from trainer import task

# Misspellings of the opinion words of learnable_pairs, none of them in the training data
# (it spells every opinion word correctly).
HELD_OUT = {"positive": ("exellent", "excelent", "wonderfull", "wonderfl", "brillant", "briliant", "delightfull",
                         "delihgtful", "fantastik", "fantasitc", "suberb", "superbb"),
            "negative": ("terible", "terrble", "horible", "horrilbe", "dreadfull", "dredful", "awfull", "aweful",
                         "boaring", "borring", "disapointing", "dissappointing")}
OFF = {"noise": {"rate": 0.0, "aux_weight": 0.0}, "model": {"oov_routing": "none"}}
ON = {"noise": {"rate": 0.3, "aux_weight": 1.0, "aux_target": "token", "lexicon": None},
      "model": {"oov_routing": "zero"}}


def _held_out_sentences():
    return [(f"{SUBJECTS[i % len(SUBJECTS)]} was {word} .", label)
            for label, words in HELD_OUT.items() for i, word in enumerate(words)]


def _accuracy(model_dir, pairs):
    signature = charword.load_model(model_dir).signatures[contract.PREDICT_TEXT]
    labels = signature(**{contract.TEXT_INPUT: tf.constant([text for text, _ in pairs])})[contract.LABEL]
    return sum(label.decode() == gold for label, (_, gold) in zip(labels.numpy(), pairs)) / len(pairs)


@pytest.fixture(scope="module")
def accuracies(tmp_path_factory):
    work = tmp_path_factory.mktemp("robust_e2e")
    base = CharwordConfig().replace(
        preprocessing=dict(max_tokens=10, max_chars=16, frequency_threshold=2),
        # The CNN char encoder: the n-gram bag (the default) shares most n-grams of a word with
        # its misspellings and reads these without any of the three.
        model=dict(char_encoder="cnn", word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32,
                   char_filters=((1, 16), (2, 16), (3, 32), (4, 32))),
        training=dict(batch_size=16, train_steps=160, eval_steps=4, learning_rate=5e-3, seed=3))
    data = transform_rows(rows_from_pairs(learnable_pairs(480, 11, typo_rate=0.0)),
                          rows_from_pairs(learnable_pairs(64, 12, typo_rate=0.0)), base, str(work))
    held_out = _held_out_sentences()
    found = {}
    for name, parts in (("without", OFF), ("with", ON)):
        fn_args = make_fn_args(data, base.replace(**parts), str(work / name))
        task.run_fn(fn_args)
        found[name] = _accuracy(fn_args.serving_model_dir, held_out)
    return found


@pytest.mark.slow
def test_noise_routing_and_aux_loss_read_unseen_misspellings_better(accuracies):
    assert accuracies["with"] >= 0.8
    assert accuracies["with"] >= accuracies["without"] + 0.15
