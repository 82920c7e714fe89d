"""Inspecting a trained model's token vectors: per-branch vectors of any word, projector
files, the PNG map, intrinsic scores and the ``charword inspect`` command."""
import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from scipy import stats
from tensorboard.plugins import projector as tb_projector

import charword
from charword import contract
from cli.main import main as cli_main
from embeddings import intrinsic, plot, projector, report
from embeddings.model import load
from embeddings.neighbours import VocabularyIndex, unit

# (misspelling, correction): corrections are words of conftest.learnable_pairs.
LEXICON = [("wonderfull", "wonderful"), ("terible", "terrible"), ("Awfull", "awful"), ("moive", "movie"),
           ("zzzq", "notaword")]
SIMILARITY = [("wonderful", "excellent", 9.0), ("wonderful", "terrible", 1.0), ("awful", "terrible", 8.5),
              ("movie", "film", 8.0), ("plot", "boring", 2.0), ("superb", "brilliant", 9.5),
              ("wonderfull", "horible", 0.5)]


@pytest.fixture(scope="module")
def model(trained_model):
    return load(trained_model.model_dir)


@pytest.fixture
def lexicon(tmp_path):
    path = tmp_path / "lexicon.tsv"
    path.write_text("misspelling\tcorrection\n" + "".join(f"{a}\t{b}\n" for a, b in LEXICON), encoding="utf-8")
    return str(path)


@pytest.fixture
def similarity(tmp_path):
    path = tmp_path / "tiny_sim.txt"
    path.write_text("# a comment\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in SIMILARITY), encoding="utf-8")
    return str(path)


def _alone(model_dir, words):
    """Each word's vectors from the signature, one text per word, first token."""
    out = charword.load_model(model_dir).signatures[contract.EMBED_TOKENS](text=tf.constant(words))
    return {name: out[key].numpy()[:, 0] for name, key in
            (("merged", contract.EMBEDDINGS), ("word", contract.WORD_EMBEDDINGS), ("char", contract.CHAR_EMBEDDINGS))}


def test_packed_words_get_the_vectors_they_get_alone(model, trained_model):
    words = ["wonderful", "wonderfull", "the", "Zebra", "日本"] * 20  # 100 words: several packed texts
    embedded = model.embed(words)
    alone = _alone(trained_model.model_dir, words[:5])
    assert model.branches == ["word", "char", "merged"]
    assert embedded.tokens[3] == ("zebra",) and embedded.tokens[4] == ("日", "本")
    for branch in model.branches:
        np.testing.assert_allclose(embedded.vectors[branch][:3], alone[branch][:3], atol=1e-5)
        np.testing.assert_allclose(embedded.vectors[branch][100 - 5:100 - 2], alone[branch][:3], atol=1e-5)


def test_split_words_get_the_mean_of_their_tokens_and_empty_words_nan(model, trained_model):
    embedded = model.embed(["good-ish", " ", "film"])
    out = charword.load_model(trained_model.model_dir).signatures[contract.EMBED_TOKENS](text=tf.constant(["good-ish"]))
    assert embedded.tokens[0] == ("good", "-", "ish")
    np.testing.assert_allclose(embedded.vectors["merged"][0], out[contract.EMBEDDINGS].numpy()[0, :3].mean(axis=0),
                               atol=1e-5)
    assert np.isnan(embedded.vectors["char"][1]).all() and embedded.tokens[1] == ()
    assert np.isfinite(embedded.vectors["char"][2]).all()


def test_nearest_words_are_ranked_by_cosine_over_the_vocabulary(model):
    index = VocabularyIndex(model, "char")
    query = model.embed(["wonderfull"]).vectors["char"]
    found = index.nearest(query, 5, exclude=["wonderfull"])[0]
    vocabulary = unit(model.vocabulary_vectors().vectors["char"])
    expected = np.argsort(-(vocabulary @ unit(query[0])))[:5]
    assert [word for word, _ in found] == [model.vocabulary[i] for i in expected]
    assert [score for _, score in found] == sorted((score for _, score in found), reverse=True)


def test_projector_files_load_with_matching_rows(model, lexicon, tmp_path):
    misspellings = report.read_misspellings(lexicon, model)
    paths = projector.write(model, str(tmp_path), words=30, misspellings=misspellings)
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), tb_projector.ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == ["word branch", "char branch", "merged token vectors"]
    metadata = (tmp_path / projector.METADATA).read_text(encoding="utf-8").splitlines()
    assert metadata[0].split("\t") == list(projector.METADATA_COLUMNS)
    rows = [line.split("\t") for line in metadata[1:]]
    assert [row[0] for row in rows[:30]] == model.vocabulary[:30]
    assert [row[1] for row in rows[:3]] == ["1", "2", "3"]
    misspelled = {row[0]: row[3] for row in rows if row[3].strip()}
    in_rows = {row[0] for row in rows[:30]}
    assert misspelled == {model.normalize(a): b for a, b in LEXICON if b in in_rows}
    assert all(row[2] == "OOV" and row[1] == "" for row in rows if row[0] in misspelled)
    for embedding in config.embeddings:
        vectors = np.loadtxt(tmp_path / embedding.tensor_path, delimiter="\t", ndmin=2)
        assert vectors.shape == (len(rows), embedding.tensor_shape[1]) == tuple(embedding.tensor_shape)
        assert embedding.metadata_path == projector.METADATA
    assert set(paths) == {"metadata", "word", "char", "merged", "config"}


def test_map_is_a_readable_png(model, lexicon, tmp_path):
    from PIL import Image  # pylint: disable=import-outside-toplevel
    path = tmp_path / "map.png"
    points = plot.draw(model, None, str(path), report.read_misspellings(lexicon, model))
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (1320, 990)
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    assert pixels.std() > 5  # not a blank canvas
    kinds = {point.kind for point in points}
    assert "word" in kinds and "misspelling" in kinds
    assert sum(point.kind == "word" for point in points) == 12  # 6 per class of the binary task


def test_spearman_equals_scipy_on_cosines_from_the_signature(model, trained_model, similarity, tmp_path):
    vectors_file = tmp_path / "v.txt"
    rng = np.random.default_rng(3)
    file_words = sorted({w for a, b, _ in SIMILARITY for w in (a, b)} - {"plot"})
    vectors_file.write_text("".join(f"{w.upper()} " + " ".join(f"{v:.4f}" for v in rng.normal(size=4)) + "\n"
                                    for w in file_words), encoding="utf-8")
    scores = report.similarity_scores(model, [similarity], str(vectors_file))["tiny_sim"]

    def direct(vector_of, pairs):
        cosines = [float(unit(vector_of(a)) @ unit(vector_of(b))) for a, b, _ in pairs]
        return stats.spearmanr(cosines, [s for _, _, s in pairs]).correlation

    words = sorted({w for a, b, _ in SIMILARITY for w in (a, b)})
    alone = _alone(trained_model.model_dir, words)
    for branch, title in (("merged", "merged token vectors"), ("char", "char branch")):
        expected = direct(lambda w, b=branch: alone[b][words.index(w)], SIMILARITY)
        assert scores[title] == {"spearman": pytest.approx(expected, abs=1e-6), "pairs_used": 7, "pairs": 7}
    in_vocabulary = [p for p in SIMILARITY if p[0] in model.vocabulary and p[1] in model.vocabulary]
    assert scores["word branch"]["pairs_used"] == len(in_vocabulary) == 6  # "wonderfull" is not a vocabulary word
    table = {line.split()[0].lower(): np.array(line.split()[1:], dtype=np.float32)
             for line in vectors_file.read_text().splitlines()}
    covered = [p for p in SIMILARITY if "plot" not in p[:2]]
    assert scores[report.PRETRAINED]["pairs_used"] == 6
    assert scores[report.PRETRAINED]["spearman"] == pytest.approx(direct(table.get, covered), abs=1e-6)


def test_misspelling_hits_match_a_brute_force_ranking(model, lexicon):
    scores = report.misspelling_scores(model, lexicon)["merged token vectors"]
    vocabulary = unit(model.vocabulary_vectors().vectors["merged"])
    used = [(model.normalize(a), b) for a, b in LEXICON if b in model.vocabulary]
    ranks = []
    for wrong, right in used:
        similarity = vocabulary @ unit(model.embed([wrong]).vectors["merged"][0])
        order = [model.vocabulary[i] for i in np.argsort(-similarity) if model.vocabulary[i] != wrong]
        ranks.append(order.index(right) + 1)
    assert scores["pairs_used"] == len(used) == 4 and scores["pairs"] == len(LEXICON)
    for k in (1, 5, 10):
        assert scores[f"hits_at_{k}"] == pytest.approx(sum(r <= k for r in ranks) / len(ranks))


def test_similarity_file_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("# header\nold\tnew\t1.5\nsmart intelligent 9\n", encoding="utf-8")
    with pytest.raises(intrinsic.SimilarityFileError, match=r"bad\.txt, line 3: expected 'word1<TAB>word2<TAB>score'"):
        intrinsic.read_similarity(str(path))


def test_inspect_command_writes_files_and_prints_neighbours(trained_model, lexicon, similarity, tmp_path, capsys):
    out = tmp_path / "inspect"
    code = cli_main(["inspect", "--model-dir", trained_model.model_dir, "--out", str(out), "--nearest", "wonderfull",
                     "--nearest", "film", "--count", "3", "--similarity", similarity, "--lexicon", lexicon,
                     "--projector-words", "20"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "wonderfull (out of vocabulary): " in printed and "film (in vocabulary): " in printed
    assert "| merged token vectors | " in printed
    for name in ("report.md", "report.json", "map.png", "metadata.tsv", "merged.tsv", "projector_config.pbtxt"):
        assert os.path.getsize(out / name) > 0, name
