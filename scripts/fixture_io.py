"""JSON Lines reading and writing shared by the fixture generators (standard library only)."""

import json
import re

# Written as \u escapes: valid raw in JSON, but line-oriented readers (Python's str.splitlines,
# some editors) treat them as line breaks or mangle them.
_ESCAPED = ["\u2028", "\u2029", "\x7f"] + [chr(code) for code in range(0x80, 0xA0)]
_ESCAPE_TABLE = str.maketrans({char: f"\\u{ord(char):04x}" for char in _ESCAPED})
_NEEDS_ESCAPE = re.compile("[" + "".join(_ESCAPED) + "]")


def to_json_line(record):
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if _NEEDS_ESCAPE.search(line):
        line = line.translate(_ESCAPE_TABLE)
    return line + "\n"


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for record in records:
            out.write(to_json_line(record))


def read_texts(path):
    with path.open(encoding="utf-8", newline="\n") as f:
        return [json.loads(line)["text"] for line in f]
