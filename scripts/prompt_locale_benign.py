#!/usr/bin/env python3
"""Benign multilingual texts for a false-positive check of ward-prompt.

Reads the gettext catalogues installed under /usr/share/locale (translated
program messages: "ignore unknown options", "forget the saved password"…)
for the languages of the evaluation, keeps distinct translations of at least
20 characters, a hash-ordered sample of up to 1,500 per language, and writes
JSON lines {"text", "label": 0, "source", "lang"} for
`cargo run --release -p ward-prompt --example prompt_eval -- FILE`.
What it finds depends on the packages installed, so it is a check, not part
of the held-out evaluation. Standard library only.

    python3 scripts/prompt_locale_benign.py > target/prompt-data/locale-benign.jsonl
"""

import gettext
import glob
import hashlib
import json
import struct
import sys

LANGS = ["de", "fr", "es", "it", "pt", "pt_BR", "ru", "zh_CN", "ja", "ko", "ar", "nl", "pl",
         "tr", "hi", "id", "vi"]
PER_LANG = 1500


def main():
    for lang in LANGS:
        seen = set()
        for mo in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
            try:
                with open(mo, "rb") as f:
                    catalogue = gettext.GNUTranslations(f)._catalog
            except (OSError, UnicodeDecodeError, struct.error):
                continue
            seen.update(v for v in catalogue.values() if isinstance(v, str) and len(v) >= 20)
        for text in sorted(seen, key=lambda s: hashlib.sha256(s.encode()).hexdigest())[:PER_LANG]:
            print(json.dumps({"text": text, "label": 0, "source": f"locale/{lang}", "lang": lang},
                             ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
