"""What fine-tuning an encoder needs from the optimiser (trainer/finetuning.py): warm-up
then linear decay over the planned steps, and AdamW's weight decay of the encoder's
weight matrices alone, at the encoder's own rate."""
import numpy as np
import pytest
import tensorflow as tf

from charword.config import CharwordConfig, TrainingConfig
from tests.bert_helpers import write_checkpoint
from trainer.finetuning import WarmupLinearDecay
from trainer.fusion import BertEncoder
from trainer.model import build_models
from trainer.training import compile_classifier


def test_the_rate_warms_up_then_falls_linearly_to_zero_at_the_last_planned_step():
    schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_share=0.1)
    rates = {step: float(schedule(step)) for step in (0, 5, 10, 55, 100, 120)}
    assert rates == pytest.approx({0: 0.0, 5: 5e-4, 10: 1e-3, 55: 5e-4, 100: 0.0, 120: 0.0})
    assert float(WarmupLinearDecay(1e-3, total_steps=10, warmup_share=0.0)(0)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="need the planned steps"):
        WarmupLinearDecay(1e-3, total_steps=0, warmup_share=0.1)


@pytest.fixture(scope="module")
def teacher_cfg(tmp_path_factory):
    checkpoint = str(tmp_path_factory.mktemp("bert") / "checkpoint")
    write_checkpoint(checkpoint)
    return CharwordConfig().replace(teacher=dict(checkpoint=checkpoint, learning_rate=0.1, encoder_learning_rate=0.01,
                                                 weight_decay=0.5)).teacher_config()


def test_compile_follows_the_schedule_of_the_planned_steps(teacher_cfg):
    model = build_models(teacher_cfg.model, teacher_cfg.preprocessing, 20, 2).classifier
    compile_classifier(model, teacher_cfg.training, planned_steps=40)
    schedule = model.optimizer._learning_rate  # pylint: disable=protected-access
    assert isinstance(schedule, WarmupLinearDecay)
    assert (schedule.peak, schedule.total_steps, schedule.warmup_steps) == (0.1, 40, 4)
    with pytest.raises(ValueError, match="need the planned steps"):
        compile_classifier(model, teacher_cfg.training)


def test_weight_decay_shrinks_the_encoders_matrices_alone_at_the_encoders_rate(teacher_cfg):
    """One step with zero gradients (Adam moves nothing): only the decay acts. The encoder
    learns at 0.01 / 0.1 of the optimiser's rate, so its matrices shrink by
    ``1 - 0.5 * 0.01``; its biases and layer norms and every other layer stay."""
    training = TrainingConfig(learning_rate=0.1, weight_decay=0.5)
    models = build_models(teacher_cfg.model, teacher_cfg.preprocessing, 20, 2)
    model = compile_classifier(models.classifier, training)
    encoder = next(layer for layer in models.sentence_model.layers if isinstance(layer, BertEncoder))
    assert encoder.lr_scale == pytest.approx(0.1)
    effective = {name: (weight * encoder.lr_scale).numpy() for name, weight in encoder.stored.items()}
    others = {id(v): v.numpy() for v in model.trainable_variables if not v.name.startswith(encoder.name + "/")}
    model.optimizer.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    decayed = 0
    for name, before in effective.items():
        after = (encoder.stored[name] * encoder.lr_scale).numpy()
        exempt = name.endswith(".bias") or "LayerNorm" in name
        np.testing.assert_allclose(after, before if exempt else before * (1 - 0.5 * 0.01), rtol=1e-6, err_msg=name)
        decayed += not exempt
    assert decayed >= 10
    for variable in model.trainable_variables:
        if id(variable) in others:
            np.testing.assert_array_equal(variable.numpy(), others[id(variable)], err_msg=variable.name)


def test_no_weight_decay_without_an_encoder_or_at_zero(teacher_cfg):
    for cfg in (CharwordConfig(), teacher_cfg):
        model = build_models(cfg.model, cfg.preprocessing, 20, 2).classifier
        compile_classifier(model, TrainingConfig(weight_decay=0.5 if cfg is not teacher_cfg else 0.0))
        before = [v.numpy() for v in model.trainable_variables]
        model.optimizer.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
        for variable, value in zip(model.trainable_variables, before):
            np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.name)
