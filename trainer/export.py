"""Exports the trained model as a SavedModel with charword's signature contract.

Signatures (all apply the same tf.Transform layer, so serving runs the training
preprocessing):
  serving_default     examples: serialized tf.Example [B] with the raw ``text``
                      -> probabilities [B, classes]            (TFX Evaluator, TF Serving)
  predict_text        text [B] -> probabilities [B, classes], label [B] (class name),
                      classes [B, classes] (all class names, repeated per row)
  embed_tokens        text [B] -> tokens [B, max_tokens] (string, "" = padding),
                      embeddings [B, max_tokens, dim], mask [B, max_tokens] (bool),
                      word_embeddings [B, max_tokens, word_dim] and char_embeddings
                      [B, max_tokens, char_output_dim]: each branch's vectors before the
                      merge ([B, max_tokens, 0] for the branch a variant lacks)
  transform_features  examples [B] (with or without label) -> transformed features (TFMA)
  embed_sentence      text [B] -> sentence_vector [B, dim], the pretrained encoder's pooled
                      vector (only models with a sentence path, see trainer/fusion.py)

A pretrained language model (``charword pretrain``) exports ``embed_tokens`` (its contextual
vectors) and ``transform_features`` only (:func:`export_encoder`).

Exported with ``tf.saved_model.save`` and explicit signatures (not ``model.save``):
TFMA then scores through the signature, which is far faster and lighter.
"""
from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft

from charword import contract
from charword.config import PreprocessingConfig
from preprocessing import text_ops
from trainer.data import raw_text_input
from trainer.model import Models


def label_names(tf_transform_output: tft.TFTransformOutput) -> list:
    """Class names in class-id order, from the label vocabulary Transform wrote."""
    return [name.decode("utf-8") for name in tf_transform_output.vocabulary_by_name(contract.LABEL_VOCAB)]


class _Untracked:
    """Holds Keras models out of the SavedModel's object graph (a plain object, which
    ``tf.Module`` does not track): the signatures still capture their variables, tracked
    through ``_Exporter.model_variables``, but the Keras layers' own per-call traces, which
    no signature uses, are not written (they were most of the export's time)."""

    def __init__(self, models):
        self.models = models  # Models, or a BiLanguageModel


class _TextExporter(tf.Module):
    """What every export holds: the transform layer (so the SavedModel tracks it and its
    assets) and the step from raw text to model inputs."""

    def __init__(self, tf_transform_output: tft.TFTransformOutput, prep_cfg: PreprocessingConfig):
        super().__init__()
        self.tft_layer = tf_transform_output.transform_features_layer()
        self.raw_spec = tf_transform_output.raw_feature_spec()
        self.prep_cfg = prep_cfg

    def _model_inputs(self, raw: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        return contract.model_features(self.tft_layer(raw))

    def _from_text(self, text: tf.Tensor) -> Dict[str, tf.Tensor]:
        return self._model_inputs({contract.RAW_TEXT: raw_text_input(text, self.raw_spec[contract.RAW_TEXT])})

    def _embedded(self, text: tf.Tensor, inputs: Dict[str, tf.Tensor], vectors: tf.Tensor,
                  branches: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """``embed_tokens``' outputs for ``text``: its tokens, ``vectors`` [B, T, D] and
        each branch's vectors (empty for a branch the model lacks)."""
        tokens = text_ops.tokenize(text, self.prep_cfg.lowercase)[:, : self.prep_cfg.max_tokens]
        absent = tf.zeros(tf.concat([tf.shape(vectors)[:2], [0]], axis=0), vectors.dtype)
        return {
            contract.TOKENS: tokens.to_tensor(default_value="", shape=[None, self.prep_cfg.max_tokens]),
            contract.EMBEDDINGS: vectors,
            contract.MASK: tf.not_equal(inputs[contract.WORD_IDS], contract.WORD_PAD_ID),
            **{name: branches.get(name, absent) for name in (contract.WORD_EMBEDDINGS, contract.CHAR_EMBEDDINGS)},
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)])
    def transform_features(self, examples):
        return self.tft_layer(tf.io.parse_example(examples, self.raw_spec))


class _Exporter(_TextExporter):
    """The classifier's export: its models' variables and every signature."""

    def __init__(self, models: Models, tf_transform_output: tft.TFTransformOutput, prep_cfg: PreprocessingConfig):
        super().__init__(tf_transform_output, prep_cfg)
        self.keras = _Untracked(models)
        self.model_variables = list({id(v): v for model in (models.classifier, models.token_encoder,
                                                            models.branch_encoder, models.sentence_model)
                                     if model is not None for v in model.variables}.values())
        self.classes = tf.constant(label_names(tf_transform_output))
        if models.sentence_model is not None:
            self.embed_sentence = tf.function(
                self._embed_sentence, input_signature=[tf.TensorSpec([None], tf.string, name=contract.TEXT_INPUT)])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)])
    def serve_examples(self, examples):
        spec = {k: v for k, v in self.raw_spec.items() if k != contract.RAW_LABEL}
        inputs = self._model_inputs(tf.io.parse_example(examples, spec))
        probabilities = self.keras.models.classifier(inputs, training=False)
        return {contract.PROBABILITIES: probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TEXT_INPUT)])
    def predict_text(self, text):
        probabilities = self.keras.models.classifier(self._from_text(text), training=False)
        batch = tf.shape(text)[0]
        return {
            contract.PROBABILITIES: probabilities,
            contract.LABEL: tf.gather(self.classes, tf.argmax(probabilities, axis=-1)),
            contract.CLASSES: tf.tile(tf.expand_dims(self.classes, 0), [batch, 1]),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TEXT_INPUT)])
    def embed_tokens(self, text):
        inputs = self._from_text(text)
        return self._embedded(text, inputs, self.keras.models.token_encoder(inputs, training=False),
                              self.keras.models.branch_encoder(inputs, training=False))

    def _embed_sentence(self, text):
        inputs = self._from_text(text)
        sentence_inputs = {name: inputs[name] for name in contract.SENTENCE_INPUTS if name in inputs}
        vector = self.keras.models.sentence_model(sentence_inputs, training=False)
        return {contract.SENTENCE_VECTOR: vector}



class _EncoderExporter(_TextExporter):
    """A pretrained language model's export: ``embed_tokens`` with its contextual vectors."""

    def __init__(self, language_model, tf_transform_output: tft.TFTransformOutput, prep_cfg: PreprocessingConfig):
        super().__init__(tf_transform_output, prep_cfg)
        self.keras = _Untracked(language_model)
        self.model_variables = list(language_model.variables)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TEXT_INPUT)])
    def embed_tokens(self, text):
        inputs = self._from_text(text)
        language_model = self.keras.models
        states = language_model(inputs, training=False)
        return self._embedded(text, inputs, tf.concat([states["forward"], states["backward"]], axis=-1),
                              language_model.branch_encoder(inputs, training=False))


def export_saved_model(models: Models, tf_transform_output: tft.TFTransformOutput, prep_cfg: PreprocessingConfig,
                       export_dir: str) -> None:
    """Writes the SavedModel with all four signatures to ``export_dir``."""
    exporter = _Exporter(models, tf_transform_output, prep_cfg)
    signatures = {
        contract.SERVING_DEFAULT: exporter.serve_examples,
        contract.PREDICT_TEXT: exporter.predict_text,
        contract.EMBED_TOKENS: exporter.embed_tokens,
        contract.TRANSFORM_FEATURES: exporter.transform_features,
    }
    if models.sentence_model is not None:
        signatures[contract.EMBED_SENTENCE] = exporter.embed_sentence
    tf.saved_model.save(exporter, export_dir, signatures=signatures)


def export_encoder(language_model, tf_transform_output: tft.TFTransformOutput, prep_cfg: PreprocessingConfig,
                   export_dir: str) -> None:
    """Writes a pretrained language model (:class:`trainer.language_model.BiLanguageModel`)
    as a SavedModel with ``embed_tokens`` (``embeddings``: the forward and backward states
    of each token, concatenated: [B, max_tokens, 2 x units]) and ``transform_features``."""
    exporter = _EncoderExporter(language_model, tf_transform_output, prep_cfg)
    tf.saved_model.save(exporter, export_dir, signatures={contract.EMBED_TOKENS: exporter.embed_tokens,
                                                          contract.TRANSFORM_FEATURES: exporter.transform_features})
