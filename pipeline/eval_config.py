"""The TFMA ``EvalConfig`` the Evaluator blesses models with."""
import tensorflow_model_analysis as tfma

from charword import contract
from charword.config import EvaluationConfig

ACCURACY = "sparse_categorical_accuracy"
SLICE_FEATURE = contract.HAS_OOV


def build_eval_config(cfg: EvaluationConfig, num_classes: int, gates: bool = True) -> tfma.EvalConfig:
    """Accuracy with an absolute bound and a change threshold against the last blessed
    model on the overall slice (plus an optional bound on the OOV slice); AUC (binary)
    or macro F1 (multi-class); metrics overall and by ``has_oov``. Without ``gates``, the
    same metrics and no thresholds: a report that blesses nothing (the distilled preset's
    teacher).

    Labels and the slice feature come from the model's ``transform_features``
    signature, so evaluation sees exactly the training preprocessing.
    """
    thresholds = [tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()],
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": cfg.min_accuracy}),
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -cfg.max_accuracy_drop})))]
    if cfg.min_oov_accuracy > 0:
        thresholds.append(tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec(feature_values={SLICE_FEATURE: "1"})],
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": cfg.min_oov_accuracy}))))
    accuracy = tfma.MetricConfig(class_name="SparseCategoricalAccuracy",
                                 per_slice_thresholds=thresholds if gates else [])
    ranking = "AUC" if num_classes == 2 else "F1Score"
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=contract.SERVING_DEFAULT, prediction_key=contract.PROBABILITIES,
                                    label_key=contract.LABEL_ID,
                                    preprocessing_function_names=[contract.TRANSFORM_FEATURES])],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[SLICE_FEATURE])],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount"), accuracy]),
            tfma.MetricsSpec(
                metrics=[tfma.MetricConfig(class_name=ranking)],
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_classes))}),
                aggregate=tfma.AggregationOptions(macro_average=True,
                                                  class_weights={i: 1.0 for i in range(num_classes)})),
        ])
