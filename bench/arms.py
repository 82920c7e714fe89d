"""The arms a quality benchmark compares: charword configurations, each a set of
overrides of the project's defaults (``{}`` is ``charword run`` as shipped), and the
fastText peer.

An arm is named on the command line by its registry name, or defined there as
``NAME=JSON`` (overrides by section, e.g. ``wide={"model": {"token_dim": 256}}``). The
string ``$WORD_VECTORS`` in an override stands for ``--word-vectors``, ``$TEACHER_CHECKPOINT``
for ``--teacher-checkpoint``.

The ``teacher`` arm is the ``accurate`` preset's model (the encoder fine-tuned in the char +
word model, :meth:`CharwordConfig.teacher_config`); it does not depend on the seed, so
one teacher is trained and scored for every seed. The ``distilled`` arm is the default
model trained as that teacher's student (the ``distilled`` preset).
"""
import json
from typing import Dict, Optional, Tuple

from charword.config import CharwordConfig, ConfigError

FASTTEXT = "fasttext"
WORD_VECTORS = "$WORD_VECTORS"
TEACHER_CHECKPOINT = "$TEACHER_CHECKPOINT"

# Each lever of the default is an arm that takes it away (or swaps it), beside the default and
# the word-only baselines.
ARMS: Dict[str, dict] = {
    "default": {},
    "word_only": {"model": {"variant": "word_only"}, "noise": {"rate": 0.0}},
    "word_only+noise": {"model": {"variant": "word_only"}},
    "char_cnn": {"model": {"char_encoder": "cnn"}},
    "no_noise": {"noise": {"rate": 0.0}},
    "no_word_bigrams": {"model": {"word_bigram_buckets": 0}},
    "default+vectors": {"model": {"word_vectors": WORD_VECTORS}},
    "word_only+vectors": {"model": {"variant": "word_only", "word_vectors": WORD_VECTORS}, "noise": {"rate": 0.0}},
    "teacher": {"pipeline": {"preset": "accurate"}, "teacher": {"checkpoint": TEACHER_CHECKPOINT}},
    "distilled": {"pipeline": {"preset": "distilled"}, "teacher": {"checkpoint": TEACHER_CHECKPOINT}},
    FASTTEXT: {},
}
BASELINE = "word_only"


def parse_arm(spec: str) -> Tuple[str, dict]:
    """``(name, overrides)`` of a registry name or a ``NAME=JSON`` definition."""
    name, _, definition = spec.partition("=")
    if not definition:
        if name not in ARMS:
            raise ConfigError(f"unknown arm {name!r}; registered: {', '.join(ARMS)} (or define NAME=JSON)")
        return name, ARMS[name]
    try:
        overrides = json.loads(definition)
    except ValueError as error:
        raise ConfigError(f"arm {name!r}: its definition is not JSON: {error}") from None
    if not isinstance(overrides, dict):
        raise ConfigError(f"arm {name!r}: its definition must be a JSON object of config sections")
    return name, overrides


def arm_config(base: CharwordConfig, overrides: dict, seed: int, train_lexicon: Optional[str],
               word_vectors: Optional[str], teacher_checkpoint: Optional[str] = None) -> CharwordConfig:
    """``base`` with the arm's overrides and ``training.seed``; training noise draws from
    ``train_lexicon`` when the arm trains with noise and names no lexicon itself."""
    text = json.dumps(overrides)
    for placeholder, flag, value in ((WORD_VECTORS, "--word-vectors", word_vectors),
                                     (TEACHER_CHECKPOINT, "--teacher-checkpoint", teacher_checkpoint)):
        if placeholder in text:
            if not value:
                raise ConfigError(f"an arm uses {placeholder}: pass {flag}")
            text = text.replace(placeholder, value)
    cfg = base.replace(**json.loads(text)).replace(training={"seed": seed})
    if cfg.noise.rate > 0 and cfg.noise.lexicon is None and train_lexicon:
        cfg = cfg.replace(noise={"lexicon": train_lexicon})
    return cfg
