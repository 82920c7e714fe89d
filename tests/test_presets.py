"""The presets' configuration (charword/config.py): what each preset needs, the teacher's
configuration derived from the teacher section and preprocessing alone, and the fields of
the teacher, distillation and fine-tuning settings. Pure Python: no TensorFlow."""
import pytest

from charword.config import CharwordConfig, ConfigError, ModelConfig
from cli.main import build_parser, config_from_args

CHECKPOINT = "gs://bucket/all-MiniLM-L6-v2"
DISTILLED = CharwordConfig().replace(pipeline=dict(preset="distilled"), teacher=dict(checkpoint=CHECKPOINT))


@pytest.mark.parametrize("sections, message", [
    (dict(pipeline=dict(preset="accurate")),
     "teacher.checkpoint must name the encoder's checkpoint directory with pipeline.preset 'accurate'"),
    (dict(pipeline=dict(preset="distilled")),
     "teacher.checkpoint must name the encoder's checkpoint directory with pipeline.preset 'distilled'"),
    (dict(pipeline=dict(preset="distilled"), teacher=dict(checkpoint=CHECKPOINT),
          model=dict(sentence_path="gated", sentence_checkpoint=CHECKPOINT)),
     "model.sentence_path must be 'none' with pipeline.preset 'distilled': the student is the char + word model"),
    (dict(pipeline=dict(preset="fast")), "pipeline.preset must be one of ['default', 'accurate', 'distilled']"),
    (dict(teacher=dict(encoder_learning_rate=2e-3)), "teacher.encoder_learning_rate must be in (0, "),
    (dict(teacher=dict(fusion="none")), "teacher.fusion must be one of ['concat', 'gated']"),
    (dict(teacher=dict(max_epochs=0)), "teacher.max_epochs must be an integer > 0"),
    (dict(teacher=dict(warmup_share=1.0)), "teacher.warmup_share must be in [0, 1)"),
    (dict(distillation=dict(temperature=0.0)), "distillation.temperature must be > 0"),
    (dict(distillation=dict(soft_weight=1.5)), "distillation.soft_weight must be in [0, 1]"),
    (dict(training=dict(lr_schedule="cosine")), "training.lr_schedule must be one of"),
    (dict(training=dict(weight_decay=-0.1)), "training.weight_decay must be >= 0"),
    (dict(training=dict(class_weights="inverse")), "training.class_weights must be one of ['none', 'balanced']"),
])
def test_settings_that_cannot_work_name_the_field(sections, message):
    with pytest.raises(ConfigError) as error:
        CharwordConfig().replace(**sections)
    assert message in str(error.value)


def test_the_teacher_is_the_encoder_fine_tuned_in_the_default_model():
    teacher = CharwordConfig().replace(
        preprocessing=dict(max_tokens=32),
        teacher=dict(checkpoint=CHECKPOINT, learning_rate=1e-3, encoder_learning_rate=5e-5, max_pieces=48,
                     fusion="concat", weight_decay=0.02, warmup_share=0.2, max_epochs=3, train_steps=900,
                     batch_size=16)).teacher_config()
    default_model = ModelConfig()
    assert teacher.model.char_encoder == default_model.char_encoder
    assert teacher.model.word_dim == default_model.word_dim
    assert (teacher.model.sentence_path, teacher.model.sentence_checkpoint, teacher.model.sentence_placement,
            teacher.model.sentence_tuning, teacher.model.sentence_max_pieces) == (
        "concat", CHECKPOINT, "model", "trainable", 48)
    assert teacher.model.sentence_lr_scale == pytest.approx(0.05)  # the encoder at 5e-5 of the peak 1e-3
    training = teacher.training
    assert (training.lr_schedule, training.learning_rate, training.warmup_share, training.weight_decay,
            training.max_epochs, training.train_steps, training.batch_size) == (
        "warmup_linear_decay", 1e-3, 0.2, 0.02, 3, 900, 16)
    assert teacher.noise.rate == 0.0
    assert teacher.preprocessing.max_tokens == 32
    assert teacher.pipeline.preset == "default"  # its Trainer reads Transform's examples
    with pytest.raises(ConfigError, match="teacher.checkpoint must name the encoder's checkpoint directory"):
        CharwordConfig().teacher_config()


def test_changing_the_student_leaves_what_the_teacher_reads_unchanged():
    teacher = DISTILLED.teacher_config()
    student_changes = CharwordConfig().replace(
        pipeline=dict(preset="distilled", model_name="other"), teacher=dict(checkpoint=CHECKPOINT),
        model=dict(word_dim=32, char_encoder="cnn"), training=dict(learning_rate=1e-3, max_epochs=3, seed=7),
        noise=dict(rate=0.3), distillation=dict(temperature=4.0, soft_weight=0.5),
        evaluation=dict(min_accuracy=0.8), data=dict(eval_buckets=2))
    assert student_changes.teacher_config().to_dict() == teacher.to_dict()
    assert student_changes.teacher_config().transform_config() == teacher.transform_config()
    assert DISTILLED.replace(teacher=dict(max_epochs=3)).teacher_config().to_dict() != teacher.to_dict()
    assert DISTILLED.replace(preprocessing=dict(max_tokens=32)).teacher_config().to_dict() != teacher.to_dict()


def test_each_preset_pushes_its_model():
    assert CharwordConfig().pushed_model_config() == CharwordConfig()
    assert DISTILLED.pushed_model_config() == DISTILLED
    accurate = DISTILLED.replace(pipeline=dict(preset="accurate"))
    assert accurate.pushed_model_config() == accurate.teacher_config()


def test_the_flags_set_the_preset_and_the_teacher_checkpoint():
    args = build_parser().parse_args(["run", "--preset", "accurate", "--teacher-checkpoint", CHECKPOINT])
    cfg = config_from_args(args)
    assert (cfg.pipeline.preset, cfg.teacher.checkpoint) == ("accurate", CHECKPOINT)
    assert config_from_args(build_parser().parse_args(["run"])).pipeline.preset == "default"
