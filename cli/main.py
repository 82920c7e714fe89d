"""charword: train hybrid character+word text models with TFX and push only validated ones.

  charword run [--data PATH --eval-data PATH --text-column C --label-column L]   run the pipeline locally
      [--preset accurate|distilled --teacher-checkpoint DIR]
  charword pretrain [--data TEXTS]                               pretrain an encoder on unlabelled texts
      (then: charword run --init-from PUSHED_ENCODER_DIR)
  charword compile-kubeflow --output PATH --pipeline-root URI     write a KFP v2 pipeline file
      --serving-dir URI --data-root URI [--schema FILE]
  charword serve --model-dir DIR --name NAME [--port 8501]      serve pushed versions (TF Serving REST API)
  charword predict "text" ... (--model-dir DIR | --url URL)     label and probability per text
  charword embed "text" ... (--model-dir DIR | --url URL)       token vectors: norms and nearest words
  charword inspect --model-dir DIR [--out DIR] [--nearest W]     projector files, map, intrinsic report, neighbours
  charword beam-cluster start|status|stop [--state-dir DIR]     a local Beam job service + worker pool

Heavy libraries (TensorFlow, TFX) load only when a command needs them, so ``--help``
answers at once.
"""
import argparse
import json
import logging
import os
import sys
import time
import warnings
from typing import List, Optional

from charword import contract
from charword.config import (
    INIT_FROM_LAYERS,
    PRESETS,
    VARIANTS,
    WORD_VECTORS_MODES,
    CharwordConfig,
    ConfigError,
    load_config,
)
from charword.demo_data import DEMO_DATA


class UsageError(Exception):
    """A command line that cannot work, found before any work starts."""


# Flags that set a configuration field: (flag, section, field, argparse options, help).
CONFIG_FLAGS = (
    ("--output-dir", "pipeline", "output_dir", {}, "directory for every artefact of the run"),
    ("--text-column", "data", "text_column", {}, "name of the text column in the data"),
    ("--label-column", "data", "label_column", {}, "name of the label column in the data"),
    ("--eval-data", "data", "eval_data", {"metavar": "PATH"},
     "held-out CSV/TSV file or directory (e.g. a dev set) that becomes the eval split, same columns; without it "
     "staging splits the data, keeping every class in training"),
    ("--max-epochs", "training", "max_epochs", {"type": int},
     "passes over the training data at most; early stopping usually ends training sooner"),
    ("--train-steps", "training", "train_steps", {"type": int},
     "a fixed number of training steps instead of passes over the data"),
    ("--variant", "model", "variant", {"choices": VARIANTS}, "model variant"),
    ("--word-vectors", "model", "word_vectors", {"metavar": "PATH"},
     "pretrained word vectors (GloVe, word2vec or fastText text file, plain or .gz) that initialise the word "
     "embedding"),
    ("--word-vectors-mode", "model", "word_vectors_mode", {"choices": WORD_VECTORS_MODES},
     "how the pretrained word vectors train"),
    ("--preset", "pipeline", "preset", {"choices": PRESETS},
     "what to train and push: default (the char + word model), accurate (a BERT-family encoder fine-tuned in the "
     "model; needs --teacher-checkpoint) or distilled (that model teaches the default one, which is pushed)"),
    ("--teacher-checkpoint", "teacher", "checkpoint", {"metavar": "DIR"},
     "the encoder the accurate and distilled presets fine-tune: a Hugging Face checkpoint directory, e.g. "
     "../shared/models/all-MiniLM-L6-v2"),
    ("--init-from", "model", "init_from", {"metavar": "DIR"},
     "a pretrained encoder (a version folder charword pretrain pushed, e.g. "
     "outputs/serving/charword-encoder/1) that starts the token layer and the sentence BiLSTM; the run uses its "
     "vocabulary"),
    ("--init-from-mode", "model", "init_from_mode", {"choices": WORD_VECTORS_MODES},
     "how the pretrained encoder's weights train"),
    ("--init-from-layers", "model", "init_from_layers", {"choices": INIT_FROM_LAYERS},
     "what starts from the pretrained encoder: the token layer and the sentence BiLSTM, or the token layer alone"),
)
_FLAGS = {flag[0]: flag for flag in CONFIG_FLAGS}
# Flags of charword pretrain: where its artefacts go, where the texts are, how long it trains, where its words start.
PRETRAIN_FLAGS = (
    _FLAGS["--output-dir"], _FLAGS["--text-column"],
    ("--max-epochs", "pretraining", "max_epochs", {"type": int},
     "passes over the texts at most; early stopping on the held-out perplexity may end sooner"),
    _FLAGS["--train-steps"], _FLAGS["--word-vectors"], _FLAGS["--word-vectors-mode"],
    ("--num-sampled", "pretraining", "num_sampled", {"type": int},
     "word classes each training step's sampled softmax draws"),
)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _add_config_args(parser: argparse.ArgumentParser, flags=CONFIG_FLAGS) -> None:
    defaults = CharwordConfig().to_dict()
    parser.set_defaults(config_flags=flags)
    parser.add_argument("--config", help="JSON file with configuration sections (see charword/config.py)")
    for flag, section, name, options, text in flags:
        default = json.dumps(defaults[section][name])
        parser.add_argument(flag, **options, help=f"{text} (default: {default}; {section}.{name})")
    parser.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                        help="Beam pipeline argument, passed through unchanged (repeatable), e.g. "
                             "--beam-arg=--runner=DataflowRunner (pipeline.beam_args)")


def config_from_args(args: argparse.Namespace) -> CharwordConfig:
    """The configuration: defaults, then ``--config`` JSON, then command-line flags. An
    error caused by a flag names the flag."""
    cfg = load_config(args.config)
    given = {(section, name): (flag, getattr(args, _dest(flag))) for flag, section, name, _, _ in args.config_flags
             if getattr(args, _dest(flag)) is not None}
    if args.beam_arg:
        given[("pipeline", "beam_args")] = ("--beam-arg", tuple(args.beam_arg))
    changes: dict = {}
    for (section, name), (_, value) in given.items():
        changes.setdefault(section, {})[name] = value
    try:
        return cfg.replace(**changes)
    except ConfigError as error:
        flags = [f"{flag} {value!r}" for (section, name), (flag, value) in given.items()
                 if str(error).startswith(f"{section}.{name} ")]
        raise ConfigError(f"{error} (from {flags[0]})" if flags else str(error)) from None


def _configure_logging(verbose: bool) -> None:
    # Before TensorFlow loads. Level 3 also hides the CUDA plugin and oneDNN start-up
    # messages TensorFlow prints on a machine without a GPU; it reaches Beam's workers
    # and ServableCheck's probe process too.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else "3"
    if not verbose:
        # Reaches Beam's worker processes too, which otherwise flood the log with FutureWarnings.
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
        warnings.simplefilter("ignore")
        from absl import logging as absl_logging  # pylint: disable=import-outside-toplevel
        absl_logging.set_verbosity(absl_logging.ERROR)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("charword", "pipeline", "trainer", "components", "serving"):
        logging.getLogger(name).setLevel(logging.INFO)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _check_summary_path(path: Optional[str]) -> None:
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--summary-json {path}: the folder {folder} does not exist; create it or name a file in "
                         "an existing folder")
    if os.path.isdir(path):
        raise UsageError(f"--summary-json {path} is a directory; name a file in it, e.g. "
                         f"{os.path.join(path, 'summary.json')}")


def _run_and_summarize(args: argparse.Namespace, pretraining: bool) -> int:
    """Runs the classification pipeline (or, ``pretraining``, the pretraining one) on
    ``args.data``, prints its summary and writes it to ``--summary-json`` when given."""
    cfg = config_from_args(args)
    _check_summary_path(args.summary_json)
    from pipeline import local_run  # pylint: disable=import-outside-toplevel
    started = time.time()
    run = local_run.run_pretraining_local if pretraining else local_run.run_local
    summary = run(cfg, args.data, progress=_progress)
    from pipeline.run_summary import format_summary  # pylint: disable=import-outside-toplevel  (after staging)
    print(format_summary(summary))
    if pretraining and summary.pushed:
        print(f"  fine-tune from it: charword run --data YOUR_LABELLED_DATA --init-from {summary.pushed_to}")
    print(f"  total: {time.time() - started:.0f} s; all artefacts under {os.path.abspath(cfg.pipeline.output_dir)}")
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as handle:
            handle.write(summary.to_json())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    return _run_and_summarize(args, pretraining=False)


def cmd_pretrain(args: argparse.Namespace) -> int:
    return _run_and_summarize(args, pretraining=True)


def cmd_compile_kubeflow(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    from pipeline import kubeflow_dag, layout  # pylint: disable=import-outside-toplevel
    serving_dir = kubeflow_dag.require_shared_location(
        args.serving_dir or cfg.pipeline.serving_dir,
        "where pushed models go, as <serving-dir>/<model_name>/<version>, e.g. gs://BUCKET/serving "
        "(or pipeline.serving_dir in --config)",
        "--serving-dir")
    pipeline_cfg = cfg.replace(pipeline={"serving_dir": serving_dir}).pipeline
    if args.pretraining:
        from pipeline.pretraining import pretraining_pipeline_config  # pylint: disable=import-outside-toplevel
        pipeline_cfg = pretraining_pipeline_config(cfg.replace(pipeline={"serving_dir": serving_dir}))
    push_dir = layout.push_dir(pipeline_cfg)
    schema = kubeflow_dag.stage_schema(args.schema, args.pipeline_root) if args.schema else None
    vertex = None
    if args.vertex_project or args.vertex_region:
        from pipeline.vertex_training import VertexTraining  # pylint: disable=import-outside-toplevel
        vertex = VertexTraining(project=args.vertex_project, region=args.vertex_region, image=args.image,
                                workers=args.vertex_workers, machine_type=args.vertex_machine_type,
                                accelerator_type=args.vertex_accelerator_type,
                                accelerator_count=args.vertex_accelerator_count)
    path = kubeflow_dag.compile_pipeline(cfg, output_path=args.output, image=args.image, data_root=args.data_root,
                                         num_classes=args.num_classes, pipeline_root=args.pipeline_root,
                                         push_dir=push_dir, schema_file=schema, vertex_training=vertex,
                                         pretraining=args.pretraining)
    print(f"Wrote the Kubeflow Pipelines (v2) definition{' of pretraining' if args.pretraining else ''} to {path}")
    print(f"  image:             {args.image}")
    print(f"  pipeline root:     {args.pipeline_root}")
    print(f"  push destination:  {push_dir}/<version>")
    print(f"  data-root default: {args.data_root} (runtime parameter)")
    print(f"  schema:            {args.schema} (read from {schema})" if schema else
          "  schema:            none: each run validates against the schema inferred from its own data "
          "(--schema pins one)")
    accelerators = (f", {vertex.accelerator_count} x {vertex.accelerator_type} each" if vertex and
                    vertex.accelerator_count else "")
    print(f"  trainer:           Vertex AI job in {vertex.project}/{vertex.region}: 1 chief + {vertex.workers} "
          f"worker(s), {vertex.machine_type}{accelerators}" if vertex else
          "  trainer:           in the Trainer step's pod (--vertex-project trains on Vertex AI worker pools)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from serving.rest import Limits  # pylint: disable=import-outside-toplevel
    from serving.server import serve  # pylint: disable=import-outside-toplevel
    given = {"max_body_bytes": args.max_body_bytes, "max_instances": args.max_instances,
             "inference_threads": args.inference_threads}
    serve(args.model_dir, args.name, host=args.host, port=args.port, poll_seconds=args.poll_seconds,
          limits=Limits(**{name: value for name, value in given.items() if value is not None}))
    return 0


def _answer(args: argparse.Namespace, signature: str):
    """(version, TF Serving prediction rows, local model or None) for ``args.texts``."""
    from serving import client  # pylint: disable=import-outside-toplevel
    if args.url:
        return (*client.remote(args.url, signature, args.texts), None)
    from serving.registry import open_model  # pylint: disable=import-outside-toplevel
    model = open_model(args.model_dir)
    return (*client.local(model, signature, args.texts), model)


def cmd_predict(args: argparse.Namespace) -> int:
    version, rows, _ = _answer(args, contract.PREDICT_TEXT)
    width = max(len(row[contract.LABEL]) for row in rows)
    for text, row in zip(args.texts, rows):
        note = "  [empty text: nothing to read, the label is a guess]" if row.get(contract.EMPTY) else ""
        print(f"{row[contract.LABEL]:<{width}}  {max(row[contract.PROBABILITIES]):.3f}  {text}{note}")
    print(f"(model version {version})")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np  # pylint: disable=import-outside-toplevel
    version, rows, model = _answer(args, contract.EMBED_TOKENS)
    index = None
    if model is not None and args.nearest > 0:
        from embeddings.model import ModelEmbeddings  # pylint: disable=import-outside-toplevel
        from embeddings.neighbours import VocabularyIndex  # pylint: disable=import-outside-toplevel
        index = VocabularyIndex(ModelEmbeddings(model.run, model.asset_lines(contract.WORD_VOCAB)))
    for text, row in zip(args.texts, rows):
        tokens = [token for token, kept in zip(row[contract.TOKENS], row[contract.MASK]) if kept]
        vectors = np.asarray(row[contract.EMBEDDINGS], dtype=np.float32)[: len(tokens)]
        print(f"{text!r}: {len(tokens)} token(s), {vectors.shape[-1]}-dimensional vectors")
        width = max([len(token) for token in tokens] + [5])
        print(f"  {'token':<{width}}  {'norm':>6}" + ("  nearest vocabulary words (cosine)" if index else ""))
        neighbours = index.nearest(vectors, args.nearest, exclude=tokens) if index and tokens else [[]] * len(tokens)
        for token, vector, near in zip(tokens, vectors, neighbours):
            words = ", ".join(f"{word} {score:.2f}" for word, score in near)
            print(f"  {token:<{width}}  {np.linalg.norm(vector):6.3f}  {words}".rstrip())
    print(f"(model version {version})")
    return 0


def cmd_beam_cluster(args: argparse.Namespace) -> int:
    from pipeline import beam_cluster  # pylint: disable=import-outside-toplevel
    if args.action == "stop":
        stopped = beam_cluster.stop(args.state_dir)
        print(f"Stopped the Beam cluster of {args.state_dir} (pids {stopped})" if stopped else
              f"No Beam cluster runs from {args.state_dir}")
        return 0
    cluster = beam_cluster.start(args.state_dir) if args.action == "start" else beam_cluster.running(args.state_dir)
    if cluster is None:
        print(f"No Beam cluster runs from {args.state_dir}")
        return 1
    print(f"Beam cluster of {cluster.state_dir}: job service {cluster.job_endpoint}, worker pool "
          f"{cluster.worker_pool_endpoint} (pids {list(cluster.pids)}; logs in that directory)")
    print("Run the pipeline on it with:")
    print("  charword run " + " ".join(f"--beam-arg={arg}" for arg in cluster.beam_args(args.workers)))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from embeddings import report  # pylint: disable=import-outside-toplevel
    from embeddings.model import ModelEmbeddings  # pylint: disable=import-outside-toplevel
    from embeddings.neighbours import VocabularyIndex  # pylint: disable=import-outside-toplevel
    from serving.registry import open_model  # pylint: disable=import-outside-toplevel
    if not args.out and not args.nearest:
        raise ValueError("nothing to do: give --out DIR (files and report) and/or --nearest WORD")
    served = open_model(args.model_dir)
    model = ModelEmbeddings(served.run, served.asset_lines(contract.WORD_VOCAB))
    print(f"{served.path}: {len(model.vocabulary)} vocabulary words; vectors: "
          + ", ".join(f"{branch} {model.dims[branch]}-d" for branch in model.branches))
    if args.nearest:
        index = VocabularyIndex(model, args.branch)
        embedded = model.embed(args.nearest)
        normalised = [model.normalize(word) for word in args.nearest]
        print(f"Nearest vocabulary words ({args.branch} vectors, cosine similarity):")
        for word, tokens, near in zip(normalised, embedded.tokens,
                                      index.nearest(embedded.vectors[args.branch], args.count, normalised)):
            where = "in vocabulary" if word in index.position else "out of vocabulary"
            split = f", tokens: {' '.join(tokens)}" if len(tokens) != 1 else ""
            print(f"  {word} ({where}{split}): " + ", ".join(f"{other} {score:.3f}" for other, score in near))
    if args.out:
        words = [word for word in args.words.split(",") if word] if args.words else None
        classifies = contract.PREDICT_TEXT in served.input_names  # a pretrained encoder has no classes to colour by
        if not classifies and not args.no_map:
            print("  map.png: not drawn (it colours words by predicted class; a pretrained encoder has none)")
        result = report.write_report(model, args.out, args.similarity, args.lexicon, args.vectors,
                                     args.projector_words, words, classifies and not args.no_map, args.map_method)
        if result.get("markdown"):
            print(result["markdown"])
        for name, path in result["paths"].items():
            print(f"  {name:<9} {path}")
        if args.projector_words:
            print(f"Projector: tensorboard --logdir {args.out} (tab Projector)")
    return 0


def _add_model_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="text(s) to run")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", help="a SavedModel directory, or a directory of version subdirectories "
                                            "(the newest valid version is used)")
    source.add_argument("--url", help="a running server's model URL, http://127.0.0.1:8501/v1/models/NAME")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it has none or its help already says it."""

    def _get_help_string(self, action):
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Commands:
    """Adds subcommands that share the help format and ``--verbose``, with their help line
    as their description."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        self._common = argparse.ArgumentParser(add_help=False)
        # SUPPRESS: a subcommand's --verbose sets the flag, its absence keeps the main parser's value.
        self._common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE)

    def add(self, name: str, text: str) -> argparse.ArgumentParser:
        return self._commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                                         parents=[self._common], formatter_class=_HelpFormatter)


_VERBOSE = "show every log: TFX, Beam, and TensorFlow's own start-up messages"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="charword", description=__doc__.split("\n")[0],
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--verbose", action="store_true", help=_VERBOSE)
    commands = _Commands(parser)

    run = commands.add("run", "run the full pipeline locally (LocalDagRunner, Beam DirectRunner)")
    run.add_argument("--data", default=DEMO_DATA, help="CSV/TSV file or directory (default: bundled demo data)")
    run.add_argument("--summary-json", help="also write the run summary as JSON here")
    _add_config_args(run)
    run.set_defaults(handler=cmd_run)

    pretrain = commands.add("pretrain", "pretrain the token layer and a BiLSTM as a language model on unlabelled "
                                        "texts (forward and backward next-word prediction) and push the encoder "
                                        "that charword run --init-from starts from")
    pretrain.add_argument("--data", default=DEMO_DATA,
                          help="text file(s), one text a line (.txt), or CSV/TSV with a --text-column; a directory "
                               "of them (default: the bundled demo data's texts, labels ignored)")
    pretrain.add_argument("--summary-json", help="also write the run summary as JSON here")
    _add_config_args(pretrain, PRETRAIN_FLAGS)
    pretrain.set_defaults(handler=cmd_pretrain)

    compile_kfp = commands.add("compile-kubeflow", "compile the pipeline for Kubeflow Pipelines v2")
    compile_kfp.add_argument("--output", required=True, help="pipeline file to write (.json)")
    compile_kfp.add_argument("--image", default="charword-pipeline:latest", help="container image of the pipeline")
    compile_kfp.add_argument("--pipeline-root", required=True,
                             help="where TFX writes artefacts, reachable from every step, e.g. "
                                  "gs://BUCKET/charword/pipeline_root")
    compile_kfp.add_argument("--serving-dir", help="push destination, reachable from every step; models go to "
                                                   "SERVING_DIR/<model_name>/<version>, e.g. gs://BUCKET/serving "
                                                   "(default: pipeline.serving_dir of --config)")
    compile_kfp.add_argument("--data-root", required=True,
                             help="default of the data-root runtime parameter: staged CSV files, e.g. "
                                  "gs://BUCKET/charword/data")
    compile_kfp.add_argument("--schema", help="schema to validate the data against (ImportSchemaGen), e.g. a local "
                                              "run's outputs/schema/charword/schema.pbtxt; a local file is copied "
                                              "under the pipeline root")
    compile_kfp.add_argument("--num-classes", type=int, default=2, help="classes of the label")
    compile_kfp.add_argument("--pretraining", action="store_true",
                             help="compile the pretraining pipeline (charword pretrain; staged text files with a "
                                  "text column under <data-root>/train and /eval) instead of the classifier's")
    vertex = compile_kfp.add_argument_group("Trainer as a Vertex AI training job (TFX's Vertex AI Trainer); every "
                                            "replica runs --image under MultiWorkerMirroredStrategy")
    vertex.add_argument("--vertex-project", help="Google Cloud project of the training job (turns the option on)")
    vertex.add_argument("--vertex-region", help="Vertex AI region, e.g. europe-west4")
    vertex.add_argument("--vertex-workers", type=int, default=0, help="workers besides the chief (default: 0)")
    vertex.add_argument("--vertex-machine-type", default="n1-standard-8",
                        help="machine type of every replica (default: n1-standard-8)")
    vertex.add_argument("--vertex-accelerator-type", help="accelerator of every replica, e.g. NVIDIA_TESLA_T4")
    vertex.add_argument("--vertex-accelerator-count", type=int, default=0, help="accelerators per replica")
    _add_config_args(compile_kfp)
    compile_kfp.set_defaults(handler=cmd_compile_kubeflow)

    serve_cmd = commands.add("serve", "serve a model directory with TF Serving's REST API; new versions are loaded, "
                                      "warmed up and swapped in while serving")
    serve_cmd.add_argument("--model-dir", required=True,
                           help="directory of integer version subdirectories (<serving_dir>/<model name>)")
    serve_cmd.add_argument("--name", required=True, help="model name in URLs: /v1/models/NAME")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=8501, help="REST port (default: 8501, as TF Serving)")
    serve_cmd.add_argument("--poll-seconds", type=float, default=5.0, help="how often to look for new versions")
    serve_cmd.add_argument("--max-body-bytes", type=int, help="largest request body; 413 beyond (default: 1 MiB)")
    serve_cmd.add_argument("--max-instances", type=int, help="most instances per request; 400 beyond (default: 256)")
    serve_cmd.add_argument("--inference-threads", type=int, help="requests the model runs at once (default: 4)")
    serve_cmd.set_defaults(handler=cmd_serve)

    predict = commands.add("predict", "print the predicted label and its probability for each text")
    _add_model_source_args(predict)
    predict.set_defaults(handler=cmd_predict)

    embed = commands.add("embed", "print each token's vector norm (and, with --model-dir, its nearest vocabulary "
                                  "words)")
    _add_model_source_args(embed)
    embed.add_argument("--nearest", type=int, default=3, help="nearest vocabulary words per token, with "
                                                              "--model-dir (0: none)")
    embed.set_defaults(handler=cmd_embed)

    inspect = commands.add("inspect", "inspect a model's token vectors: TensorBoard projector files, a PNG map, "
                                      "word-similarity and misspelling scores (--out), nearest vocabulary words of any "
                                      "word (--nearest)")
    inspect.add_argument("--model-dir", required=True, help="a SavedModel directory (a Trainer output or a pushed "
                                                            "version), or a directory of version subdirectories")
    inspect.add_argument("--out", help="directory for the projector files, map.png, report.md and report.json")
    inspect.add_argument("--nearest", action="append", default=[], metavar="WORD",
                         help="print the nearest vocabulary words of WORD, in the vocabulary or not (repeatable)")
    inspect.add_argument("--count", type=int, default=10, help="neighbours per --nearest word (default 10)")
    inspect.add_argument("--branch", choices=("merged", "word", "char"), default="merged",
                         help="vectors for --nearest (default: merged)")
    inspect.add_argument("--similarity", action="append", default=[], metavar="FILE",
                         help="word-similarity file (word1<TAB>word2<TAB>score) to score (repeatable)")
    inspect.add_argument("--lexicon", help="misspelling lexicon (misspelling<TAB>correction): misspelling "
                                           "neighbour scores, misspellings in the projector and the map")
    inspect.add_argument("--vectors", help="the pretrained word vectors, scored as loaded beside the model's")
    inspect.add_argument("--projector-words", type=int, default=5000,
                         help="most frequent vocabulary words in the projector files (0: no projector files)")
    inspect.add_argument("--words", help="comma-separated words for the map (default: the model's most class-"
                                         "associated frequent words)")
    inspect.add_argument("--map-method", choices=("pca", "tsne"), default="pca", help="2-D projection of the map")
    inspect.add_argument("--no-map", action="store_true", help="do not draw map.png")
    inspect.set_defaults(handler=cmd_inspect)

    cluster = commands.add("beam-cluster", "start, check or stop a local Beam job service and SDK worker pool for "
                                           "--runner=PortableRunner")
    cluster.add_argument("action", choices=("start", "status", "stop"))
    cluster.add_argument("--state-dir", default=os.path.join("outputs", "beam-cluster"),
                         help="where the cluster keeps its endpoints, pids and logs (default: outputs/beam-cluster)")
    cluster.add_argument("--workers", type=int, default=1,
                         help="SDK worker processes per stage in the printed flags (default: 1)")
    cluster.set_defaults(handler=cmd_beam_cluster)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # TFX's Beam executors parse sys.argv with absl flags; charword's own flags are not theirs.
    sys.argv = sys.argv[:1]
    _configure_logging(args.verbose)
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"charword: configuration error: {error}", file=sys.stderr)
        return 2
    except UsageError as error:
        print(f"charword: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # pylint: disable=broad-except
        if args.verbose:
            raise
        print(f"charword: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
