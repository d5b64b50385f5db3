#!/usr/bin/env python3
"""Generates a deterministic, deliberately hostile text corpus for tokenizer and embedding tests.

    make_corpus.py [--out test-data/corpus.jsonl] [--count 20000] [--seed 20240917] [--sts FILE]

Writes one JSON object per line, {"text": ...}. The texts cover English prose (STS-B dev
sentences when the file is present, otherwise built-in words), many scripts, emoji sequences,
combining marks, control and invisible characters, Unicode spaces, compatibility forms, very
long words, code, URLs and empty or whitespace-only texts, alone and mixed inside one text.
Same seed, same bytes. Needs only the Python standard library.
"""

import argparse
import random
import sys
import unicodedata
from pathlib import Path

from fixture_io import write_jsonl

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STS = REPO_ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-dev.csv"

WORDS = """
the of and to in is was for on that with as by at from it this be are an or have not which his
her they had one all were we their been has more when there who will would can no if out so up
what about time only than into them some could these other people new year two after first made
many most over water long little very just world day great place through back much good before
man think also around where should each such down still well must between even under never high
life know last while might part state school house small found large again every city against
country children light without however government system often number family point always group
quick brown fox jumps lazy dog river mountain engine library window garden winter summer ocean
signal network memory kernel vector matrix compute token sentence embedding model search query
answer question running walked guitar playing cooking onion slicing woman horse riding dancing
""".split()

PUNCTUATION = list(".,;:!?-()[]{}\"'/\\@#$%^&*_+=<>|~`") + ["...", "--", "—", "–", "«", "»", "„", "“", "”", "‘", "’", "¿", "¡", "…", "·", "§", "¶", "†", "•"]

ACCENTED_LATIN = [
    "Le cœur a ses raisons que la raison ne connaît point.",
    "Où est la bibliothèque ? Ça dépend de l'été à Noël, déjà très âgé.",
    "Fête, naïve, garçon, élève, hôtel, Zoë, Noël, façade, crème brûlée.",
    "Größe, Straße, Fußgängerübergänge, Äpfel, Öl, Übermut, Mädchen, schön.",
    "Die Bürgerinnen und Bürger müssen die Gebühren bis Donnerstag überweisen.",
    "Tiếng Việt có nhiều dấu: ă â đ ê ô ơ ư, và các thanh điệu như ả ã ạ ấ ầ ẩ ẫ ậ.",
    "Xin chào, tôi là người Việt Nam; hôm nay trời đẹp quá!",
    "Zażółć gęślą jaźń. Łódź, Gdańsk, Kraków, źdźbło, pięść, chrząszcz.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy. Řeřicha, šťáva, čeština.",
    "El niño comió piña en el año pasado; ¿qué opinas? ¡Olé, señor Muñoz!",
    "Ação, coração, não, pão, avó, você, está, português, João.",
    "Þórður og Ægir fóru í ferð til Reykjavíkur; það var æðislegt.",
    "Åsa och Örjan äter smörgåsar på ön; Ærø, Øresund, blåbærsyltetøy.",
    "Árvíztűrő tükörfúrógép, Győr, Pécs, szőlő, gyűrű.",
    "Română: știință, țară, învățământ, mâine, pâine.",
    "Türkçe: İstanbul, Iğdır, ılık, şehir, çiçek, öğretmen, güneş, DİYARBAKIR.",
    "Latviešu: ķēniņš, ģimene, ļoti, ņemt; Lietuvių: ąžuolas, čia, ėjo, įėjimas, šūvis, ųjų, ž.",
    "Malti: ħobż, ġenn, żiemel, għandi; Esperanto: ĉiuj ŝatas ĝin, ĥoro, ĵaŭdo.",
    "Ŋ ŋ, Ɛ ɛ, Ɔ ɔ, Ʊ, ǂ, ʻōlelo Hawaiʻi, Māori: whānau, kōrero.",
]

CYRILLIC = [
    "Съешь же ещё этих мягких французских булок да выпей чаю.",
    "Москва, Санкт-Петербург, Новосибирск, Ёлка, ЁЖИК, щука, объём.",
    "Україна: їжак, ґанок, єнот, Київ, Запоріжжя.",
    "Българският език използва кирилица; Ђорђе, Љубљана, Његош, Џеп.",
    "Қазақ тілі: әже, ғалым, қала, ңғ, өмір, ұл, үй, һ, і.",
]

GREEK = [
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    "ΟΔΥΣΣΕΥΣ ΚΑΙ ΣΙΣΥΦΟΣ: ο Οδυσσεύς, ο Σίσυφος, λόγος, κόσμος.",
    "ΣΑΣ ΛΕΩ ΟΤΙ Ο ΚΟΣΜΟΣ ΕΙΝΑΙ ΜΙΚΡΟΣ. Ἀρχὴ ἥμισυ παντός. ᾅδης, ῥήτωρ, ὦ.",
    "Ελληνικά με τόνους και διαλυτικά: ϊ ΐ ϋ ΰ, Άά Έέ Ήή Ίί Όό Ύύ Ώώ, τέλος σ.",
]

CJK = [
    "我能吞下玻璃而不伤身体。", "漢字と仮名が混ざった文章です。", "北京大学的学生正在学习机器学习。",
    "中华人民共和国成立于一九四九年。", "繁體中文：臺灣、香港、學習、體驗。", "𠀀𠀁𪚥 (astral CJK Extension B).",
    "今日は良い天気ですね。東京タワーに行きましょう！", "一二三四五六七八九十百千万億",
]

KANA = [
    "ひらがなとカタカナ：あいうえお、アイウエオ、ゃゅょ、ッ、ー。",
    "ｶﾀｶﾅ ﾊﾝｶｸ (halfwidth katakana) ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟﾌﾟ",
    "ガギグゲゴ vs ガギグゲゴ (decomposed dakuten)", "コンピューター、インターネット、スマートフォン",
]

HANGUL = [
    "다람쥐 헌 쳇바퀴에 타고파.", "안녕하세요, 세계! 한국어 텍스트입니다.",
    "\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af (conjoining jamo)",
    "ㄱㄴㄷㄹ ㅏㅑㅓㅕ (compatibility jamo)", "서울특별시 강남구 테헤란로 123",
]

THAI = ["ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ", "สวัสดีครับ ยินดีต้อนรับสู่ประเทศไทย", "กรุงเทพมหานคร ๑๒๓๔๕"]
ARABIC = [
    "اللغة العربية جميلة جداً.", "مَرْحَبًا بِكُمْ فِي الْعَالَمِ", "الرقم ١٢٣٤٥٦٧٨٩٠ والنسبة ٪٥٠",
    "فارسی: سلام دنیا، گچ پژمرده", "ﷺ ﷲ ﻻ (presentation forms)",
]
HEBREW = ["עברית נכתבת מימין לשמאל.", "שָׁלוֹם עֲלֵיכֶם", "ירושלים 2024 – תל־אביב"]
DEVANAGARI = [
    "हिन्दी भाषा देवनागरी लिपि में लिखी जाती है।", "नमस्ते दुनिया! क्षत्रिय, ज्ञान, श्री",
    "संस्कृतम् ॐ १२३४५", "বাংলা ভাষা, தமிழ் மொழி, ગુજરાતી, ਪੰਜਾਬੀ, ಕನ್ನಡ, മലയാളം",
]
OTHER_SCRIPTS = [
    "ქართული ენა", "Հայերեն լեզու", "አማርኛ ቋንቋ", "ᏣᎳᎩ", "ᠮᠣᠩᠭᠣᠯ", "ᚠᚢᚦᚨᚱᚲ", "ꦗꦮ", "မြန်မာ", "ខ្មែរ", "ລາວ",
    "བོད་ཡིག", "𓀀𓀁𓂀 hieroglyphs", "𐌰𐌱𐌲 Gothic", "ᐃᓄᒃᑎᑐᑦ",
]

EMOJI = [
    "😀", "😂", "🥲", "❤️", "❤", "👍", "👍🏻", "👍🏽", "👍🏿", "🙋🏾‍♀️", "👨‍👩‍👧‍👦", "👩‍💻", "🧑🏽‍🚀",
    "🏳️‍🌈", "🏴‍☠️", "🇫🇷", "🇯🇵", "🇺🇸", "🇩🇪🇫🇷🇮🇹", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "#️⃣", "*️⃣", "©️", "™️", "☺︎",
    "🫶🏼", "🧔‍♂️", "👁️‍🗨️", "🐈‍⬛", "😶‍🌫️", "🇦", "🇿🇿", "\U0001F1E6\U0001F1E7\U0001F1E8",
]

COMBINING = [chr(c) for c in range(0x300, 0x370)] + ["\u0483", "\u0591", "\u05b4", "\u064b", "\u0650",
                                                       "\u093c", "\u094d", "\u0e31", "\u0e48", "\u20d7", "\u20e3",
                                                       "\u302a", "\u3099", "\ufe20", "\U0001d165"]

CONTROL = ([chr(c) for c in range(0x00, 0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)])

UNICODE_SPACES = ["\u00a0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005",
                  "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u202f", "\u205f", "\u3000",
                  "\u2028", "\u2029", "\u0085", "\t", "\r", "\n", "\r\n", "\x0b", "\x0c", " "]

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u180e", "\u2061", "\u2063",
             "\u202a", "\u202b", "\u202c", "\u202e", "\u2066", "\u2069", "\u061c", "\u034f", "\ufe0f",
             "\ufe0e", "\U000e0001", "\U000e0041"]

COMPATIBILITY = [
    "ﬁnance ﬂow oﬀice eﬃcient ﬄuff ﬆ", "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３ ！？", "x² + y³ = z¹⁰, Hⁿ, H₂O, CO₂",
    "Ⅰ Ⅱ Ⅲ Ⅳ Ⅻ ⅰ ⅱ ⅻ Ⅿ", "① ② ⑩ ⑳ ㉑ ㊿ ⓐ Ⓩ ❶ ➓", "𝐀𝐁𝐂 𝒜𝒞 𝔸𝔹ℂ 𝕏 𝖆𝖇 𝟎𝟏𝟐 𝛼𝛽𝛾",
    "℃ ℉ № ℡ ™ ℠ Å K Ω µ ſ ﬀ", "½ ¼ ¾ ⅓ ⅞ ‰ ‱", "ǅungla ǈubav ǋina", "ẞ ß Straße STRASSE",
    "ℌ ℍ ℎ ℏ ℐ ℑ", "㍿ ㌀ ㎏ ㎞ ㏄ ㋿", "⁰¹²³⁴⁵⁶⁷⁸⁹ ₀₁₂₃₄₅₆₇₈₉", "ＡＢＣｄｅｆ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "İ ı I i İstanbul ISPARTA ıspanak", "ﾟ ﾞ ･ ｰ", "ﹰ ﹱ ︵ ︶ ﹏", "ᴬᴮᴰ ᵃᵇᶜ",
]

RARE = ["\ue000", "\uf8ff", "\U000f0000", "\U0010fffd", "\ufffd", "\ufffe", "\uffff", "\U0001fffe",
        "\u0378", "\u0e80", "\U000e007f", "\U0001f9ff", "\u2e3b", "\ufdd0"]

CODE = [
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    '{"key": [1, 2.5e-3, null, true], "nested": {"a": "b"}}',
    "<div class=\"main\" id='x'>Hello &amp; welcome</div>",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "$ git commit -m \"fix: handle \\n in paths\" && make -j2",
    "std::vector<std::pair<int,std::string>> v{{1,\"a\"}};",
    "fn main() { println!(\"{:?}\", vec![1, 2, 3]); }",
    "x = lambda *args, **kw: (args, kw)",
    "#include <stdio.h>\nint main(void){printf(\"%d\\n\",42);}",
    "if [[ -z \"${VAR:-}\" ]]; then echo 'empty'; fi",
    "a_b_c snake_case camelCase PascalCase kebab-case SCREAMING_CASE __dunder__",
    "first line<br>second line <br> third line  <br>",
]

URLS = [
    "https://example.com/path/to/page?query=1&lang=en#section-2", "http://www.example.org",
    "ftp://files.example.net/pub/file.tar.gz", "https://例え.テスト/パス?q=値",
    "https://en.wikipedia.org/wiki/Unicode_equivalence", "www.some-site.co.uk/a/b/c.html",
    "https://user:pass@host.example:8080/x/y;z?a=b", "mailto:someone@example.com",
]

EMAILS = ["john.doe@example.com", "first+tag@sub.domain.org", "UPPER.Case@Example.COM",
          "名前@例え.jp", "user_name-123@mail-server.io"]


# Written first, so every consumer sees them whatever the count.
EDGE_CASES = ["", " ", "a", "[CLS]", "[SEP] [PAD] [UNK] [MASK]", "<s> </s> <pad> <unk> <mask>", "x<mask>y  <mask> z",
              "a<br>b  <br>", "[MASK]ed [CLS]x[SEP]", "hello world", "Hello World!", "\u00a0", "\x00",
              "\ufeff" + "BOM first", "İ", "ΣΑΣ", "ﬁ", "👨‍👩‍👧‍👦"]


def load_sts_sentences(path):
    if path is None or not path.is_file():
        return []
    sentences = []
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.split("\t")
        if len(columns) >= 7:
            sentences.extend((columns[5].strip(), columns[6].strip()))
    return [s for s in dict.fromkeys(sentences) if s]


class Generator:
    def __init__(self, seed, sts_sentences):
        self.rng = random.Random(seed)
        self.sts = sts_sentences
        self.categories = [
            (self.english, 20), (self.accented_latin, 6), (self.decomposed_latin, 2), (self.cyrillic, 3),
            (self.greek, 3), (self.cjk, 4), (self.kana, 2), (self.hangul, 2), (self.thai, 2),
            (self.arabic, 2), (self.hebrew, 1), (self.devanagari, 2), (self.other_scripts, 1),
            (self.emoji, 4), (self.combining, 3), (self.control, 3), (self.spaces, 3),
            (self.invisible, 3), (self.long_word, 2), (self.numbers, 3), (self.urls_emails, 2),
            (self.code, 2), (self.turkish, 1), (self.compatibility, 3), (self.rare, 1),
            (self.punctuation, 2), (self.whitespace_padded, 2), (self.empty_or_blank, 1),
            (self.mixed, 10), (self.long_text, 3), (self.random_codepoints, 2),
        ]
        self.weights = [weight for _, weight in self.categories]

    def pick(self, items):
        return self.rng.choice(items)

    def vary(self, items):
        """One or two entries of items, cut to a random window of words, sometimes case-changed."""
        words = " ".join(self.pick(items) for _ in range(self.rng.randint(1, 2))).split(" ")
        start = self.rng.randrange(len(words))
        end = self.rng.randint(start + 1, len(words))
        text = " ".join(words[start:end] if self.rng.random() < 0.6 else words)
        case = self.rng.random()
        if case < 0.1:
            text = text.upper()
        elif case < 0.2:
            text = text.lower()
        if self.rng.random() < 0.25:
            text = f"{text} {self.sentence()}" if self.rng.random() < 0.5 else f"{self.sentence()} {text}"
        return text

    def sentence(self):
        if self.sts and self.rng.random() < 0.7:
            return self.pick(self.sts)
        words = [self.pick(WORDS) for _ in range(self.rng.randint(3, 18))]
        if self.rng.random() < 0.3:
            words[0] = words[0].capitalize()
        if self.rng.random() < 0.15:
            words = [w.upper() if self.rng.random() < 0.3 else w for w in words]
        return " ".join(words) + self.pick([".", ".", "!", "?", "", ",", ";"])

    def english(self):
        return " ".join(self.sentence() for _ in range(self.rng.randint(1, 3)))

    def accented_latin(self):
        return self.vary(ACCENTED_LATIN)

    def decomposed_latin(self):
        form = self.pick(["NFD", "NFKD", "NFC", "NFKC"])
        return unicodedata.normalize(form, self.pick(ACCENTED_LATIN + GREEK + COMPATIBILITY))

    def cyrillic(self):
        return self.vary(CYRILLIC)

    def greek(self):
        return self.vary(GREEK)

    def cjk(self):
        return self.vary(CJK)

    def kana(self):
        return self.vary(KANA)

    def hangul(self):
        return self.vary(HANGUL)

    def thai(self):
        return self.vary(THAI)

    def arabic(self):
        return self.vary(ARABIC)

    def hebrew(self):
        return self.vary(HEBREW)

    def devanagari(self):
        return self.vary(DEVANAGARI)

    def other_scripts(self):
        return " ".join(self.pick(OTHER_SCRIPTS) for _ in range(self.rng.randint(1, 4)))

    def emoji(self):
        parts = [self.pick(EMOJI) for _ in range(self.rng.randint(1, 6))]
        glue = self.pick(["", " ", "", "!", " and "])
        text = glue.join(parts)
        return text if self.rng.random() < 0.5 else f"{self.pick(WORDS)} {text} {self.pick(WORDS)}"

    def combining(self):
        out = []
        for word in self.sentence().split()[:6]:
            chars = list(word)
            position = self.rng.randrange(len(chars) + 1)
            marks = "".join(self.pick(COMBINING) for _ in range(self.rng.randint(1, 5)))
            chars.insert(position, marks)
            out.append("".join(chars))
        text = " ".join(out)
        variant = self.rng.random()
        if variant < 0.15:
            text = self.pick(COMBINING) + text  # a mark with no base character
        elif variant < 0.3:
            text = "e\u0301\u0323 a\u0323\u0301 o\u0308\u0304\u0331 " + text  # out of canonical order
        return text

    def control(self):
        words = self.sentence().split()
        for _ in range(self.rng.randint(1, 4)):
            words.insert(self.rng.randrange(len(words) + 1), self.pick(CONTROL))
        glue = self.pick([" ", "", " "])
        return glue.join(words)

    def spaces(self):
        words = self.sentence().split()
        return "".join(w + "".join(self.pick(UNICODE_SPACES) for _ in range(self.rng.randint(1, 3)))
                       for w in words)

    def invisible(self):
        words = self.sentence().split()
        out = []
        for word in words:
            if self.rng.random() < 0.5:
                cut = self.rng.randrange(len(word) + 1)
                word = word[:cut] + self.pick(INVISIBLE) + word[cut:]
            out.append(word)
        return " ".join(out)

    def long_word(self):
        kind = self.rng.randrange(6)
        length = self.rng.choice([99, 100, 101, 102, 150, 250, 600])
        if kind == 0:
            word = "".join(self.pick("abcdefghijklmnopqrstuvwxyz") for _ in range(length))
        elif kind == 1:
            word = "".join(self.pick(WORDS) for _ in range(length // 4))
        elif kind == 2:
            word = "".join(self.pick("0123456789") for _ in range(length))
        elif kind == 3:
            word = "".join(self.pick("漢字仮名文章東京大学") for _ in range(length // 2))
        elif kind == 4:
            word = "é" * length if self.rng.random() < 0.5 else "e\u0301" * (length // 2)
        else:
            word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
        return f"{self.sentence()} {word} {self.pick(WORDS)}"

    def numbers(self):
        forms = [
            str(self.rng.randint(0, 10**self.rng.randint(1, 12))), f"{self.rng.uniform(-1e4, 1e4):.3f}",
            f"{self.rng.randint(1, 999)},{self.rng.randint(100, 999)},{self.rng.randint(100, 999)}.{self.rng.randint(0, 99):02d}",
            f"{self.rng.uniform(0, 10):.2e}", f"+1 ({self.rng.randint(200, 999)}) 555-{self.rng.randint(1000, 9999)}",
            f"{self.rng.randint(1900, 2100)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}",
            f"{self.rng.randint(0, 100)}%", f"${self.rng.randint(1, 10000)}.{self.rng.randint(0, 99):02d}",
            f"€{self.rng.randint(1, 500)},{self.rng.randint(0, 99):02d}", f"{self.rng.randint(0, 23)}:{self.rng.randint(0, 59):02d}",
            "3.14159265358979323846", "1st 2nd 3rd 4th", "0x1F600 0b1010 0o777", "٣٤٥ ۴۵۶ ४५६ ৪৫৬ ๔๕๖",
        ]
        return " ".join(self.pick(forms) for _ in range(self.rng.randint(1, 5)))

    def urls_emails(self):
        return f"{self.pick(['See', 'Mail', 'Visit', 'Contact:', ''])} {self.pick(URLS + EMAILS)} {self.pick(['now', 'today', '', '.'])}"

    def code(self):
        return self.vary(CODE)

    def turkish(self):
        return self.pick(["İİİ ııı", "İstanbul'da ılık bir gün.", "DİKKAT: ışık", "i̇ (i + combining dot)",
                          "İi Iı", "SIĞIR İNEK"]) + " " + self.pick(WORDS)

    def compatibility(self):
        return self.vary(COMPATIBILITY)

    def rare(self):
        return f"{self.pick(WORDS)}{self.pick(RARE)} {self.pick(RARE)}{self.pick(WORDS)}"

    def punctuation(self):
        return self.pick([self.pick(PUNCTUATION), "".join(self.pick(PUNCTUATION) for _ in range(self.rng.randint(2, 12))),
                          " ".join(self.pick(PUNCTUATION) for _ in range(self.rng.randint(2, 8)))])

    def whitespace_padded(self):
        pad = lambda: "".join(self.pick([" ", "\t", "\n", "\u00a0", "\u3000", "  "]) for _ in range(self.rng.randint(1, 4)))
        return f"{pad()}{self.sentence()}{pad()}"

    def empty_or_blank(self):
        return self.pick(["", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u200b", "\ufeff", " \n\t "])

    def mixed(self):
        simple = [c for c, _ in self.categories if c not in (self.mixed, self.long_text, self.empty_or_blank)]
        parts = [self.rng.choice(simple)() for _ in range(self.rng.randint(2, 5))]
        return self.pick([" ", "", "\n", " | ", ". "]).join(parts)

    def long_text(self):
        # Long enough to exceed a 256-token limit, sometimes far beyond 512.
        count = self.rng.randint(12, 60)
        return " ".join(self.sentence() if self.rng.random() < 0.85 else self.mixed() for _ in range(count))

    def random_codepoints(self):
        # Any scalar value except surrogates, which cannot be encoded in UTF-8.
        out = []
        for _ in range(self.rng.randint(1, 20)):
            plane = self.rng.random()
            top = 0x7FF if plane < 0.4 else (0xFFFF if plane < 0.85 else 0x10FFFF)
            code = self.rng.randint(0x20, top)
            while 0xD800 <= code <= 0xDFFF:
                code = self.rng.randint(0x20, top)
            out.append(chr(code))
        return "".join(out)

    def text(self):
        generate = self.rng.choices([c for c, _ in self.categories], weights=self.weights)[0]
        return generate()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "test-data" / "corpus.jsonl")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=20240917)
    parser.add_argument("--sts", type=Path, default=DEFAULT_STS, help="STS-B dev file (optional)")
    args = parser.parse_args()

    sts = load_sts_sentences(args.sts)
    if not sts:
        print(f"make_corpus: {args.sts} not found; English comes from the built-in word list", file=sys.stderr)
    generator = Generator(args.seed, sts)
    # Duplicates only cost time downstream: draw until the count is reached with distinct texts.
    texts = dict.fromkeys(EDGE_CASES)
    while len(texts) < args.count:
        texts.setdefault(generator.text())
    texts = list(texts)
    for text in texts:
        text.encode("utf-8")  # raises on a lone surrogate
    write_jsonl(args.out, ({"text": text} for text in texts))
    print(f"make_corpus: wrote {len(texts)} texts to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
