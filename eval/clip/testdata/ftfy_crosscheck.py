#!/usr/bin/env python3
"""Writes cases for the opt-in cross-check of eval/clip's text cleaning against the real thing.

Needs ftfy 6.3.1 importable (pip install ftfy==6.3.1, or PYTHONPATH pointing at a copy); it is
not needed by the build or the ordinary tests. Usage:

    python3 eval/clip/testdata/ftfy_crosscheck.py [seed] [count] > /tmp/ftfy_cases.jsonl
    CLIP_FTFY_CASES=/tmp/ftfy_cases.jsonl go test ./eval/clip -run TestCleanCrossCheck -v

Each line holds an input and what ftfy.is_bad, ftfy.fix_text, CLIP's cleaning
(whitespace_clean(basic_clean(text)).lower()) and html.unescape return for it. Inputs are random
mixes of the characters ftfy's heuristic looks at, HTML references, controls and words, some of
them turned into mojibake by encoding as UTF-8 and decoding with a single-byte codec.
"""
import html
import json
import random
import re
import sys

import ftfy
from ftfy.badness import is_bad

WORDS = [
    "café", "naïve", "São Paulo", "à la mode", "voilà", "Straße", "niño", "Čeština", "Łódź", "Ελληνικά",
    "ΟΔΟΣ ΣΑΣ", "Русский язык", "Москва", "日本語", "한국어", "emoji 😀🎉", "“quoted” ‘text’", "it’s", "10 €",
    "½ cup", "Ærøskøbing", "Ĳsselmeer", "ﬁne ﬂour", "ＦＵＬＬ　ｗｉｄｔｈ", "ﾊﾝｶｸ ｶﾞ", "a\u00a0b", "tab\there",
    "line\r\nbreak", "x\u2028y", "\ufeffbom", "ctl\x01\x7f\x1bchar", "\x1b[31mred\x1b[0m", "İstanbul",
    "&amp; &lt;b&gt; &eacute; &EACUTE; &#39; &#x2019; &nbsp; &ampx &notin; &notit; &#128512; &#1; &#x85;",
    "5 > 3 < 4 &amp;", "¿Qué?", "©2024 ®™", "«guillemets»", "Ã la", "Ã©tÃ©", "plain ascii text", "x…y", "—",
]
SPECIAL = list("ÃÂÎÐØÙ×àâéíóú€œŠšŸž¢£¥©®°±²³µ·¹»¼½¾¿¡«¦¤¨¬¯¸ƒˆˇ˘˛˜†‡‰⌐◊�ªº§¶‚„•‹›™–—‘’“”…")
SPECIAL += list("ВГРСЂўβΒΓΞΟā√≈∂≠≤≥πΩ│┌═╬▀█░") + ["\x85", "\x93", "\x94", "\x9d", "\x81", "\u2028", "\x1b", "\ufeff"]
SPECIAL += list("abcdefghijklmnopqrstuvwxyzABC .,?!'\"&;#<>\n\r\t0123")
CODECS = ["latin-1", "windows-1252", "windows-1251", "windows-1250", "windows-1253", "windows-1254",
          "windows-1257", "iso-8859-2", "mac_roman", "cp437", "sloppy-windows-1252", "sloppy-windows-1251"]


def clip_clean(text):
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip().lower()


def mojibake(rng, s):
    return s.encode("utf-8").decode(rng.choice(CODECS), errors="replace")


def sample(rng):
    if rng.random() < 0.5:
        parts = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
        for i in range(len(parts)):
            if rng.random() < 0.5:
                parts[i] = mojibake(rng, parts[i])
                if rng.random() < 0.2:
                    parts[i] = mojibake(rng, parts[i])
        s = " ".join(parts)
        if rng.random() < 0.15:
            s = s.replace("\u00a0", " ")
        return s
    return "".join(rng.choice(SPECIAL) for _ in range(rng.randint(1, 14)))


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rng = random.Random(seed)
    done = 0
    while done < count:
        s = sample(rng)
        fixed, cleaned = ftfy.fix_text(s), clip_clean(s)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in s + fixed + cleaned):
            continue  # a Go string cannot hold a lone surrogate
        row = {"in": s, "bad": is_bad(s), "ftfy": fixed, "clean": cleaned, "unescape": html.unescape(s)}
        print(json.dumps(row, ensure_ascii=True))
        done += 1


if __name__ == "__main__":
    main()
