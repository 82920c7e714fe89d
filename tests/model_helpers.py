"""The smallest model the model-level tests build: a few units a layer and small hash
tables (the default 100,000-row n-gram and bigram tables make building and the first
traced step several times slower), so a build and a few training steps take seconds."""
from charword.config import CharwordConfig

TINY_MODEL = dict(word_dim=8, char_dim=4, char_output_dim=8, token_dim=8, sentence_units=4,
                  char_filters=((1, 4), (3, 4)), char_ngram_buckets=500, word_bigram_buckets=500)


def tiny_config(**model) -> CharwordConfig:
    """The project's defaults with :data:`TINY_MODEL` and ``model``'s overrides."""
    return CharwordConfig().replace(model={**TINY_MODEL, **model})
