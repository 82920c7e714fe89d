"""Speed of the char branch and of Transform, before and after, side by side in one run.

  python -m bench.speed_report --data ../shared/data/sst2 [--out outputs/bench/speed]
      [--transform-tokens 1000000] [--rounds 2] [--epochs 6 --steps-per-epoch 50]
      [--serving-requests 300] [--long-sentences 4] [--no-pipeline]

Two data sets from the training file: its sentences as they are (``short``) and a
long-text set whose texts join ``--long-sentences`` sentences of one label (``long``).
For each, every phase in its own process (:mod:`bench.phases`):

* Transform of the same ``--transform-tokens`` sample (and of its first tenth, for the
  marginal rate without start-up costs) with one in-memory Beam worker,
  the way the standalone harness moved data before (one Python dict per example,
  ``ExampleProtoCoder``) and now (Arrow record batches and tfx_bsl's C++ encoder, as
  TFX's Transform component does, reading the rows from files as ExampleGen writes
  them): tokens/s, bytes of transformed output per example, peak memory. The transform
  graph is the same in both; it is also timed alone, without Beam, on the same texts.
* Trainer (the real ``run_fn``, default model configuration) for ``word_only`` and the
  ``hybrid``, each computing every token slot (``model.compact_batches: false``, the
  old path) and as they are now, all without training noise (what the char branch
  itself costs), and both variants
  with the default noise and losses (what ``charword run`` costs), in ``--rounds``
  rounds of rotating order; examples/s is the median over rounds of the median of
  epochs 2 on (epoch 1 traces).
* Serving: ``bench.serving_latency`` against the exported hybrid models of both paths
  (one client; 1 and 32 sentences per request).
* With the pipeline phase (default), ``charword run`` on the demo data with the old and
  the new char path: the run's wall time.

Writes ``report.md`` and ``report.json`` under ``--out`` and prints the targets.
"""
import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import charword  # noqa: E402,F401  pylint: disable=wrong-import-position  (Keras flavour before TensorFlow)
from bench import inputs  # noqa: E402  pylint: disable=wrong-import-position
from bench.phases import PhaseRunner, progress  # noqa: E402  pylint: disable=wrong-import-position
from bench.settings import BenchSettings  # noqa: E402  pylint: disable=wrong-import-position
from charword import contract  # noqa: E402  pylint: disable=wrong-import-position
from charword.config import CharwordConfig, load_config  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENCODINGS = {"before": "instance_dicts", "after": "record_batches"}
# The model alone (no training noise, so no robustness losses): what the char branch costs.
PLAIN = {"noise": {"rate": 0.0}}
ARMS = {"word_only_before": {"model": {"variant": "word_only", "compact_batches": False}, **PLAIN},
        "word_only_after": {"model": {"variant": "word_only", "compact_batches": True}, **PLAIN},
        "hybrid_before": {"model": {"variant": "hybrid", "compact_batches": False}, **PLAIN},
        "hybrid_after": {"model": {"variant": "hybrid", "compact_batches": True}, **PLAIN},
        # As `charword run` trains them: the default noise and losses of each variant.
        "word_only_default": {"model": {"variant": "word_only"}},
        "hybrid_default": {"model": {"variant": "hybrid"}}}
TARGETS = {"short_step_ratio": 1.3, "long_step_ratio": 1.6, "transform_speedup": 5.0, "serving_speedup": 3.0}


def long_rows(rows: Sequence[tuple], per_text: int, seed: int) -> List[tuple]:
    """Texts of ``per_text`` sentences of one label each, joined; seeded."""
    by_label: Dict[object, List[str]] = {}
    for text, label in rows:
        by_label.setdefault(label, []).append(text)
    joined = []
    rng = random.Random(seed)
    for label, texts in sorted(by_label.items(), key=lambda item: str(item[0])):
        rng.shuffle(texts)
        joined += [(" ".join(texts[i:i + per_text]), label) for i in range(0, len(texts) - per_text + 1, per_text)]
    rng.shuffle(joined)
    return joined


def transform_phase(rows, eval_rows, cfg: CharwordConfig, out_dir: str, encoding: str) -> dict:
    """One standalone Transform run; wall time and the size of what it wrote."""
    from harness.transform import rows_from_pairs, transform_rows  # pylint: disable=import-outside-toplevel
    started = time.perf_counter()
    data = transform_rows(rows_from_pairs(rows), rows_from_pairs(eval_rows), cfg, out_dir,
                          ("--direct_running_mode=in_memory", "--direct_num_workers=1"), encoding=encoding)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "data": list(data), **_written_bytes(data.train_pattern)}


def graph_phase(graph_dir: str, rows, batch_size: int = 1000) -> dict:
    """The transform graph alone, without Beam: the sample's texts in batches of
    ``batch_size`` through the graph's ``TransformFeaturesLayer`` (what serving runs),
    timed after one warm-up batch."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import tensorflow_transform as tft  # pylint: disable=import-outside-toplevel

    from trainer.data import raw_text_input  # pylint: disable=import-outside-toplevel
    output = tft.TFTransformOutput(graph_dir)
    layer = output.transform_features_layer()
    spec = output.raw_feature_spec()[contract.RAW_TEXT]
    apply = tf.function(lambda text: layer({contract.RAW_TEXT: raw_text_input(text, spec)}))
    texts = [text for text, _ in rows]
    apply(tf.constant(texts[:batch_size]))
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        apply(tf.constant(texts[start:start + batch_size]))
    return {"wall_s": time.perf_counter() - started}


def _written_bytes(pattern: str) -> dict:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    files = tf.io.gfile.glob(pattern)
    records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
    return {"examples": len(records), "serialized_bytes_per_example": sum(map(len, records)) / len(records),
            "gzip_bytes_per_example": sum(tf.io.gfile.stat(f).length for f in files) / len(records)}


def trainer_phase(data, cfg: CharwordConfig, work_dir: str, label: str) -> dict:
    from bench.training import run_trainer  # pylint: disable=import-outside-toplevel
    from harness.transform import TransformedData  # pylint: disable=import-outside-toplevel
    return run_trainer(TransformedData(*data), cfg, work_dir, label)


def serving_phase(model_dir: str, requests: int, out_path: str) -> dict:
    from bench import serving_latency  # pylint: disable=import-outside-toplevel
    serving_latency.main(["--model-dir", model_dir, "--requests", str(requests), "--clients", "1",
                          "--batches", "1,32", "--output", out_path])
    with open(out_path, encoding="utf-8") as handle:
        return {f"batch_{r['sentences_per_request']}": r for r in json.load(handle)["results"]}


def pipeline_phase(out_dir: str, config_path: Optional[str]) -> dict:
    """Wall time of ``charword run`` on the demo data into a fresh ``out_dir``."""
    command = [sys.executable, "-m", "cli", "run", "--output-dir", out_dir] + (
        ["--config", config_path] if config_path else [])
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"charword run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    trainer = [line for line in done.stdout.splitlines() if line.strip().startswith("Trainer ")]
    return {"wall_s": wall, "trainer_line": trainer[0].strip() if trainer else "",
            "summary": done.stdout[done.stdout.find("charword run summary"):]}


def _epoch_rate(run: dict) -> float:
    rates = run["epoch_rates"][1:] or run["epoch_rates"]
    return statistics.median(rates)


def _measure_set(name: str, rows, validation, cfg: CharwordConfig, args, phase: PhaseRunner, work: str) -> dict:
    sample = inputs.token_sample(rows, args.transform_tokens, seed=5)
    small = sample[: max(1, len(sample) // 10)]
    tokens = sum(len(text.split()) for text, _ in sample)
    small_tokens = sum(len(text.split()) for text, _ in small)
    transform = {}
    for when, encoding in ENCODINGS.items():
        runs = {}
        for size, rows_of_size in (("tenth", small), ("full", sample)):
            label = f"{name}: Transform, {encoding}, {size} sample"
            runs[size] = phase(f"{name}_transform_{when}_{size}", label, transform_phase, rows_of_size, validation,
                               cfg, os.path.join(work, name, f"transform_{when}_{size}"), encoding)
            runs[size]["cost"] = phase.costs[label]
        value = runs["full"]
        value["tokens_per_s"] = tokens / value["wall_s"]
        # What one more token costs, start-up left out: the slope between the two sample sizes.
        value["marginal_tokens_per_s"] = (tokens - small_tokens) / (value["wall_s"] - runs["tenth"]["wall_s"])
        value["tenth_wall_s"] = runs["tenth"]["wall_s"]
        transform[when] = value
    data = transform["after"]["data"]
    graph = phase(f"{name}_transform_graph", f"{name}: transform graph alone", graph_phase, data[0], sample)
    transform["graph_tokens_per_s"] = tokens / graph["wall_s"]
    train_cfg = cfg.replace(training={"epochs": args.epochs, "train_steps": args.epochs * args.steps_per_epoch})
    runs: Dict[str, List[dict]] = {arm: [] for arm in ARMS}
    for round_index in range(args.rounds):
        order = list(ARMS)[round_index % len(ARMS):] + list(ARMS)[:round_index % len(ARMS)]
        for arm in order:
            label = f"{name}: Trainer {arm}, round {round_index + 1}"
            runs[arm].append(phase(f"{name}_train_{arm}_{round_index}", label, trainer_phase, data,
                                   train_cfg.replace(**ARMS[arm]),
                                   os.path.join(work, name, arm, str(round_index)), label))
    rates = {arm: statistics.median(_epoch_rate(run) for run in arm_runs) for arm, arm_runs in runs.items()}
    serving = {arm: phase(f"{name}_serving_{arm}", f"{name}: serving {arm}", serving_phase,
                          runs[arm][0]["model_dir"], args.serving_requests,
                          os.path.join(work, name, f"serving_{arm}.json"))
               for arm in ("hybrid_before", "hybrid_after")}
    return {"rows": len(sample), "tokens": tokens, "tokens_per_row": tokens / len(sample), "transform": transform,
            "trainer": {"examples_per_s": rates, "runs": {arm: [_epoch_rate(r) for r in v] for arm, v in runs.items()},
                        "step_ratio_before": rates["word_only_before"] / rates["hybrid_before"],
                        "step_ratio_after": rates["word_only_after"] / rates["hybrid_after"],
                        "step_ratio_default": rates["word_only_default"] / rates["hybrid_default"]},
            "serving": serving}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.speed_report", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with train + dev .tsv/.csv, or one file")
    parser.add_argument("--out", default=os.path.join("outputs", "bench", "speed"), help="report directory")
    parser.add_argument("--config", help="JSON file of CharwordConfig sections")
    parser.add_argument("--transform-tokens", type=int, default=1_000_000, help="Transform sample, in tokens")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three Trainer runs")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per Trainer run (the first is left out)")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--serving-requests", type=int, default=300, help="requests per serving configuration")
    parser.add_argument("--long-sentences", type=int, default=4, help="sentences per text of the long-text set")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the charword run phases")
    return parser


def _markdown(report: dict) -> str:
    lines = [f"Command: `{report['meta']['command']}`  ", f"Started {report['meta']['started']}, "
             f"{report['meta']['wall_s'] / 60:.1f} min, {report['meta']['cpus']} CPU cores, "
             f"load {report['meta']['load_start']} -> {report['meta']['load_end']}.", "",
             "| data | tokens/text | Transform tokens/s before / after (1 worker) | speed-up | marginal tokens/s "
             "before / after (start-up left out) | speed-up | graph alone, no Beam | bytes/example (serialized, gzip) "
             "| peak RSS MB before / after |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, found in report["sets"].items():
        before, after = found["transform"]["before"], found["transform"]["after"]
        lines.append(f"| {name} | {found['tokens_per_row']:.1f} | {before['tokens_per_s']:,.0f} / "
                     f"{after['tokens_per_s']:,.0f} | {after['tokens_per_s'] / before['tokens_per_s']:.2f}x | "
                     f"{before['marginal_tokens_per_s']:,.0f} / {after['marginal_tokens_per_s']:,.0f} | "
                     f"{after['marginal_tokens_per_s'] / before['marginal_tokens_per_s']:.2f}x | "
                     f"{found['transform']['graph_tokens_per_s']:,.0f} | "
                     f"{after['serialized_bytes_per_example']:,.0f}, {after['gzip_bytes_per_example']:,.0f} | "
                     f"{before['cost']['peak_rss_mb']:,.0f} / {after['cost']['peak_rss_mb']:,.0f} |")
    lines += ["", "| data | Trainer examples/s before: word_only / hybrid | after: word_only / hybrid | step time "
              "hybrid / word_only before | after | with the default training noise and losses: word_only / hybrid | "
              "step time hybrid / word_only |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, found in report["sets"].items():
        rates, trainer = found["trainer"]["examples_per_s"], found["trainer"]
        lines.append(f"| {name} | {rates['word_only_before']:.0f} / {rates['hybrid_before']:.0f} | "
                     f"{rates['word_only_after']:.0f} / {rates['hybrid_after']:.0f} | "
                     f"{trainer['step_ratio_before']:.2f}x | "
                     f"{trainer['step_ratio_after']:.2f}x | {rates['word_only_default']:.0f} / "
                     f"{rates['hybrid_default']:.0f} | {trainer['step_ratio_default']:.2f}x |")
    lines += ["", "| data | serving (1 client) | p50 / p99 ms before | after | sentences/s before | after |",
              "|---|---|---:|---:|---:|---:|"]
    for name, found in report["sets"].items():
        for batch in ("batch_1", "batch_32"):
            before, after = (found["serving"][arm][batch] for arm in ("hybrid_before", "hybrid_after"))
            lines.append(f"| {name} | {batch.split('_')[1]} sentence(s)/request | {before['p50_ms']:.1f} / "
                         f"{before['p99_ms']:.1f} | {after['p50_ms']:.1f} / {after['p99_ms']:.1f} | "
                         f"{before['sentences_per_s']:,.0f} | {after['sentences_per_s']:,.0f} |")
    if report.get("pipeline"):
        lines += ["", "| `charword run` on the demo data | wall s | Trainer |", "|---|---:|---|"]
        for when, found in report["pipeline"].items():
            lines.append(f"| {when} | {found['wall_s']:.0f} | {found['trainer_line']} |")
    lines += ["", "| target | result |", "|---|---|"]
    lines += [f"| {t['name']} | {t['status']}: {t['shown']} |" for t in report["targets"]]
    return "\n".join(lines) + "\n"


def _targets(sets: dict) -> List[dict]:
    found = []
    for name, limit in (("short", TARGETS["short_step_ratio"]), ("long", TARGETS["long_step_ratio"])):
        ratio = sets[name]["trainer"]["step_ratio_after"]
        found.append({"name": f"hybrid step time <= {limit}x word_only ({name} texts)", "value": ratio,
                      "status": "PASS" if ratio <= limit else "MISS", "shown": f"{ratio:.2f}x"})
    for name, entry in sets.items():
        before, after = entry["transform"]["before"], entry["transform"]["after"]
        goal = TARGETS["transform_speedup"]
        for kind, key in (("", "tokens_per_s"), (" marginal", "marginal_tokens_per_s")):
            speedup = after[key] / before[key]
            found.append({"name": f"Transform{kind} tokens/s per worker >= {goal:.0f}x ({name})",
                          "value": speedup, "status": "PASS" if speedup >= TARGETS["transform_speedup"] else "MISS",
                          "shown": f"{speedup:.2f}x"})
        serving = entry["serving"]
        speedup = (serving["hybrid_after"]["batch_32"]["sentences_per_s"]
                   / serving["hybrid_before"]["batch_32"]["sentences_per_s"])
        found.append({"name": f"serving sentences/s, 32 per request >= {TARGETS['serving_speedup']:.0f}x ({name})",
                      "value": speedup, "status": "PASS" if speedup >= TARGETS["serving_speedup"] else "MISS",
                      "shown": f"{speedup:.2f}x"})
    return found


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    cfg = load_config(args.config)
    out_dir = os.path.abspath(args.out)
    work = os.path.join(out_dir, "work")
    os.makedirs(work, exist_ok=True)
    started, load_start = time.time(), os.getloadavg()
    splits = inputs.load_splits(args.data, None, None, None, BenchSettings(), work)
    sets = {"short": splits.train, "long": long_rows(splits.train, args.long_sentences, seed=3)}
    validation = {"short": splits.validation, "long": long_rows(splits.validation, args.long_sentences, seed=4)}
    progress(f"Data: {len(sets['short'])} texts, and {len(sets['long'])} texts of {args.long_sentences} sentences")
    sys.argv = sys.argv[:1]  # TFX/Beam parse sys.argv with absl flags
    import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import  (once, before forking)
    phases = 2 * (5 + len(ARMS) * args.rounds + 2) + (0 if args.no_pipeline else 2)
    phase = PhaseRunner(phases, os.path.join(out_dir, "logs"), 0.2)
    report = {"sets": {name: _measure_set(name, rows, validation[name], cfg, args, phase, work)
                       for name, rows in sets.items()}}
    if not args.no_pipeline:
        old = os.path.join(work, "old_char_path.json")
        with open(old, "w", encoding="utf-8") as handle:
            json.dump({"model": {"compact_batches": False}}, handle)
        report["pipeline"] = {when: phase(f"pipeline_{when}", f"charword run, char path {when}", pipeline_phase,
                                          tempfile.mkdtemp(dir=work, prefix=f"run_{when}_"), config)
                              for when, config in (("before", old), ("after", None))}
    phase.close()
    report["targets"] = _targets(report["sets"])
    report["meta"] = {"command": "python -m bench.speed_report " + " ".join(shlex.quote(a) for a in argv),
                      "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
                      "wall_s": time.time() - started, "cpus": os.cpu_count(),
                      "load_start": " ".join(f"{x:.1f}" for x in load_start),
                      "load_end": " ".join(f"{x:.1f}" for x in os.getloadavg()), "costs": phase.costs}
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, default=str)
    markdown = _markdown(report)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
