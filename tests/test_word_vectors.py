"""Reading pretrained word vectors: formats, compression, header, duplicates, bad files."""
import gzip

import numpy as np
import pytest

from charword.word_vectors import WordVectorsError, normalize_word, read_word_vectors

GLOVE = "the 0.1 0.2 0.3\nfilm -1 0.5 2e-1\nboring 3 3 3\n"


def _write(path, text, compress=False):
    data = text.encode("utf-8")
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)
    return str(path)


def test_glove_format_gives_each_word_its_vector(tmp_path):
    vectors = read_word_vectors(_write(tmp_path / "v.txt", GLOVE))
    assert vectors.dim == 3 and vectors.lines == 3
    assert vectors.vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors.get("film"), np.float32([-1, 0.5, 0.2]))
    assert vectors.get("missing") is None


def test_gzip_file_reads_the_same_as_plain(tmp_path):
    plain = read_word_vectors(_write(tmp_path / "v.txt", GLOVE))
    packed = read_word_vectors(_write(tmp_path / "v.txt.gz", GLOVE, compress=True))
    assert packed.index == plain.index
    np.testing.assert_array_equal(packed.vectors, plain.vectors)


def test_word2vec_header_line_gives_count_and_dimension(tmp_path):
    vectors = read_word_vectors(_write(tmp_path / "v.vec", "3 3\n" + GLOVE))
    assert vectors.lines == 3 and vectors.dim == 3 and "3" not in vectors.index


def test_header_announcing_another_count_is_an_error(tmp_path):
    path = _write(tmp_path / "v.vec", "5 3\n" + GLOVE)
    with pytest.raises(WordVectorsError, match=r"v\.vec: the header announces 5 vectors, the file holds 3"):
        read_word_vectors(path)


def test_fasttext_trailing_space_and_blank_lines_are_accepted(tmp_path):
    vectors = read_word_vectors(_write(tmp_path / "v.vec", "2 2\nthe 1 2 \n\nfilm 3 4 \n"))
    np.testing.assert_array_equal(vectors.get("film"), np.float32([3, 4]))


def test_duplicate_words_first_occurrence_wins_after_lower_casing(tmp_path):
    path = _write(tmp_path / "v.txt", "Film 1 1\nfilm 2 2\nFILM 3 3\n")
    np.testing.assert_array_equal(read_word_vectors(path).get("film"), np.float32([1, 1]))
    kept_case = read_word_vectors(path, lowercase=False)
    np.testing.assert_array_equal(kept_case.get("film"), np.float32([2, 2]))
    np.testing.assert_array_equal(kept_case.get("FILM"), np.float32([3, 3]))


def test_wrong_dimension_names_the_file_and_line(tmp_path):
    path = _write(tmp_path / "v.txt.gz", GLOVE + "dull 1 2\n", compress=True)
    with pytest.raises(WordVectorsError, match=r"v\.txt\.gz, line 4: 2 values, expected 3"):
        read_word_vectors(path)


def test_only_wanted_words_are_parsed_but_every_line_is_counted(tmp_path):
    path = _write(tmp_path / "v.txt", GLOVE + "skipped 1 x 3\n")
    vectors = read_word_vectors(path, words={"film"})
    assert list(vectors.index) == ["film"] and vectors.lines == 4
    with pytest.raises(WordVectorsError, match=r"line 4: a value is not a number"):
        read_word_vectors(path, words={"skipped"})


@pytest.mark.parametrize("text,message", [("", r"no vectors in the file \(empty\)"), ("\n\n", "no vectors"),
                                          ("2 3\n", "no vectors")])
def test_empty_file_is_an_error(tmp_path, text, message):
    with pytest.raises(WordVectorsError, match=message):
        read_word_vectors(_write(tmp_path / "v.txt", text))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(WordVectorsError, match=r"nothing\.txt: no such file"):
        read_word_vectors(str(tmp_path / "nothing.txt"))


def test_binary_word2vec_file_is_refused_with_the_line(tmp_path):
    path = tmp_path / "v.bin"
    path.write_bytes(b"2 3\nthe " + np.float32([0.5, -1.25, 3.0]).tobytes() + b"\nfilm "
                     + np.float32([1, 2, 3]).tobytes())
    with pytest.raises(WordVectorsError, match=r"v\.bin, line 2: the values are not text \(binary word2vec"):
        read_word_vectors(str(path))


def test_word_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"the 1 2\ncaf\xe9 3 4\n")
    with pytest.raises(WordVectorsError, match=r"v\.txt, line 2: the word is not UTF-8 text"):
        read_word_vectors(str(path))


def test_non_ascii_words_are_normalised_like_the_text(tmp_path):
    path = _write(tmp_path / "v.txt", "Café 1 0\n\ufb01lm 0 1\n日本 1 1\n")
    vectors = read_word_vectors(path)
    assert set(vectors.index) == {"café", "film", "日本"}
    assert normalize_word("ＣＡＦÉ", lowercase=True) == "café"
    assert normalize_word("Cafe\u0301", lowercase=False) == "Café"
