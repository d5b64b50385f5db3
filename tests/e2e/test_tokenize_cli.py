"""`embedrt tokenize` against sentence-transformers / HF tokenizers, and its input conventions."""
import json
import shutil

from conftest import (MINILM, TEST_DATA, assert_one_line_error, jsonl_input, read_jsonl, require,
                      run_cli)


def tokenize(*args, input_bytes: bytes):
    out = run_cli("tokenize", "--model", require(MINILM), *args, input_bytes=input_bytes)
    return [json.loads(line) for line in out.stdout.decode().splitlines()], out


def test_matches_sentence_transformers_on_the_corpus():
    records = read_jsonl(require(TEST_DATA / "tokenizer-parity"
                                 / "minilm.sentence-transformers.jsonl"))
    assert len(records) >= 20000
    ids, _ = tokenize("--input-format", "jsonl", input_bytes=jsonl_input(r["text"] for r in records))
    assert len(ids) == len(records)
    mismatches = [i for i, (got, r) in enumerate(zip(ids, records)) if got != r["ids"]]
    assert not mismatches, (f"{len(mismatches)} of {len(records)} texts differ; first: "
                            f"{records[mismatches[0]]['text']!r}: {ids[mismatches[0]]} != "
                            f"{records[mismatches[0]]['ids']}")


def test_lines_convention():
    # Trailing newline adds no text, \r before \n is dropped, other bytes (including \r elsewhere
    # and leading spaces) belong to the text.
    ids, _ = tokenize(input_bytes=b"hello world\r\n\n  spaced  \nlast")
    assert len(ids) == 4
    assert ids[0] == [101, 7592, 2088, 102]
    assert ids[1] == [101, 102]  # an empty text is valid
    assert ids[2] == [101, 19835, 102]
    assert ids[3] == [101, 2197, 102]
    ids, _ = tokenize(input_bytes=b"")
    assert ids == []
    ids, _ = tokenize(input_bytes=b"\n")
    assert ids == [[101, 102]]


def test_jsonl_convention():
    data = b'"first line\\nsecond line"\n{"text": "hello world", "id": 7}\n'
    ids, _ = tokenize("--input-format", "jsonl", input_bytes=data)
    assert ids == [[101, 2034, 2240, 2117, 2240, 102], [101, 7592, 2088, 102]]


def test_jsonl_error_names_the_line():
    result = run_cli("tokenize", "--model", require(MINILM), "--input-format", "jsonl",
                     input_bytes=b'"ok"\n{"txt": 1}\n', check=False)
    assert_one_line_error(result, "line 2", '"text"')
    result = run_cli("tokenize", "--model", MINILM, "--input-format", "jsonl",
                     input_bytes=b'"ok"\n"unterminated\n', check=False)
    assert_one_line_error(result, "line 2", "invalid JSON")


def test_invalid_utf8_is_replaced_and_counted():
    ids, out = tokenize(input_bytes=b"caf\xc3 ok\nfine\n\xff\xfe")
    assert len(ids) == 3
    reference, _ = tokenize(input_bytes="caf\ufffd ok\nfine\n\ufffd\ufffd".encode())
    assert ids == reference
    assert b"warning: replaced 3 invalid UTF-8 sequence(s) in 2 text(s)" in out.stderr


def test_truncation_default_raw_and_max_length():
    text = ("word " * 600).encode()
    ids, _ = tokenize(input_bytes=text)
    assert len(ids[0]) == 256  # sentence_bert_config.json max_seq_length
    assert ids[0][0] == 101 and ids[0][-1] == 102
    ids, _ = tokenize("--max-length", "16", input_bytes=text)
    assert len(ids[0]) == 16 and ids[0][-1] == 102
    # --raw keeps tokenizer.json's own truncation (128) and does not strip.
    ids, _ = tokenize("--raw", input_bytes=text)
    assert len(ids[0]) == 128
    # As with sentence-transformers' max_seq_length, the limit can go past the configured 256 up
    # to the 512 position embeddings, and no further.
    ids, _ = tokenize("--max-length", "512", input_bytes=text)
    assert len(ids[0]) == 512 and ids[0][-1] == 102
    result = run_cli("tokenize", "--model", MINILM, "--max-length", "513", input_bytes=b"x",
                     check=False)
    assert_one_line_error(result, "max length 513 exceeds the model's limit of 512 tokens "
                          "(config.json max_position_embeddings)")


def test_output_file_and_threads(tmp_path):
    out_file = tmp_path / "ids.jsonl"
    texts = [f"sentence number {i} with some words" for i in range(5000)]
    run_cli("tokenize", "--model", require(MINILM), "--threads", "2", "--output", out_file,
            input_bytes="\n".join(texts).encode())
    one_thread, _ = tokenize("--threads", "1", input_bytes="\n".join(texts).encode())
    assert [json.loads(line) for line in out_file.read_text().splitlines()] == one_thread


def test_bad_model_folders(tmp_path):
    result = run_cli("tokenize", "--model", tmp_path / "nope", input_bytes=b"x", check=False)
    assert_one_line_error(result, "nope")
    broken = tmp_path / "broken"
    shutil.copytree(require(MINILM), broken)
    (broken / "tokenizer.json").write_text('{"model": ')
    result = run_cli("tokenize", "--model", broken, input_bytes=b"x", check=False)
    assert_one_line_error(result, "tokenizer.json")
    (broken / "tokenizer.json").write_text(json.dumps({"model": {"type": "Magic"}}))
    result = run_cli("tokenize", "--model", broken, input_bytes=b"x", check=False)
    assert_one_line_error(result, "tokenizer.json", "Magic")
    (broken / "tokenizer.json").unlink()
    result = run_cli("tokenize", "--model", broken, input_bytes=b"x", check=False)
    assert_one_line_error(result, "tokenizer.json")


def test_missing_input_file(tmp_path):
    result = run_cli("tokenize", "--model", require(MINILM), "--input", tmp_path / "none.txt",
                     check=False)
    assert_one_line_error(result, "none.txt")
