#!/usr/bin/env python3
"""Compare ward-redact with detect-secrets and presidio-analyzer on the labelled corpus.

Generates the corpus with redact_corpus.py (same seed as the Rust gate), runs
  * Ward: `cargo run --release -p ward-redact --example redact_lines -- --mode json-string`
  * detect-secrets (default plugins, `scan_line` per line)
  * presidio-analyzer pattern recognizers, with a blank spaCy pipeline
    (`spacy.blank("en")`, no model download) and only the entities that match
    labelled kinds (cards, SSN, IBAN, e-mail, phone, medical licence)
and prints recall per kind, false positives per 10,000 benign lines, and MB/s.

The peers are installed into a private venv (default: $REDACT_EVAL_VENV or
~/.cache/ward-redact-eval/venv) at pinned versions; nothing in the repository
depends on them.

A planted value counts as found by Ward when it no longer appears in the output;
by a peer when one of its findings overlaps the planted value's span.

Usage: scripts/redact_eval.py [--per-kind 200] [--benign 12000] [--seed 7] [--skip-peers]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = ["detect-secrets==1.5.0", "presidio-analyzer==2.2.366"]


def load_corpus(args):
    out = tempfile.mkdtemp(prefix="redact-eval-")
    subprocess.run([sys.executable, os.path.join(HERE, "redact_corpus.py"), "--out", out, "--seed", str(args.seed),
                    "--per-kind", str(args.per_kind), "--benign", str(args.benign)], check=True)
    with open(os.path.join(out, "corpus.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def spans(text, value):
    start = text.find(value)
    return (start, start + len(value)) if start >= 0 else None


def score(records, found_fn):
    """found_fn(record, label) -> bool; fp_fn via found_fn(record, None) -> bool (any finding)."""
    per_kind, fps, benign = {}, 0, 0
    for rec in records:
        if not rec["labels"]:
            benign += 1
            fps += 1 if found_fn(rec, None) else 0
            continue
        for label in rec["labels"]:
            planted, found = per_kind.get(label["kind"], (0, 0))
            per_kind[label["kind"]] = (planted + 1, found + (1 if found_fn(rec, label) else 0))
    return per_kind, fps * 10000.0 / max(benign, 1)


def run_ward(records):
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ward-redact", "--example", "redact_lines"], cwd=ROOT, env=env, check=True)
    exe = os.path.join(env["CARGO_TARGET_DIR"], "release", "examples", "redact_lines")
    payload = "".join(json.dumps(r["text"]) + "\n" for r in records)
    proc = subprocess.run([exe, "--mode", "json-string"], input=payload, capture_output=True, text=True, check=True)
    outputs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(outputs) == len(records), "redact_lines lost lines"
    mbps = float(proc.stderr.strip().splitlines()[-1].split(": ")[-1].split()[0])
    by_id = {r["id"]: o for r, o in zip(records, outputs)}

    def found(rec, label):
        out = by_id[rec["id"]]
        if label is None:
            return out != rec["text"]
        v = label["value"]
        if len(v) >= 8:
            return v not in out
        return out.count(v) < rec["text"].count(v)

    return found, mbps


def ensure_venv():
    venv = os.environ.get("REDACT_EVAL_VENV") or os.path.expanduser("~/.cache/ward-redact-eval/venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", *PEERS], check=True)
    return py


PEER_RUNNER = r'''
import json, sys, time
records = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
which = sys.argv[2]
results = {}
if which == "detect-secrets":
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings
    with default_settings():
        list(scan_line("warm up"))
        t0 = time.perf_counter()
        for r in records:
            found = []
            for line in r["text"].split("\n"):
                for s in scan_line(line):
                    if s.secret_value:
                        found.append(s.secret_value)
            results[r["id"]] = found
        elapsed = time.perf_counter() - t0
else:
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankEngine(SpacyNlpEngine):
        def __init__(self):
            super().__init__(models=[{"lang_code": "en", "model_name": "blank"}])
        def load(self):
            self.nlp = {"en": spacy.blank("en")}

    engine = BlankEngine()
    engine.load()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    entities = ["CREDIT_CARD", "US_SSN", "IBAN_CODE", "EMAIL_ADDRESS", "PHONE_NUMBER", "MEDICAL_LICENSE"]
    analyzer.analyze("warm up", language="en", entities=entities)
    t0 = time.perf_counter()
    for r in records:
        res = analyzer.analyze(r["text"], language="en", entities=entities)
        results[r["id"]] = [r["text"][x.start:x.end] for x in res]
    elapsed = time.perf_counter() - t0
size = sum(len(r["text"].encode()) + 1 for r in records)
json.dump({"results": results, "mbps": size / elapsed / 1e6}, sys.stdout)
'''


def run_peer(py, name, corpus_path):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(PEER_RUNNER)
    proc = subprocess.run([py, f.name, corpus_path, name], capture_output=True, text=True)
    os.unlink(f.name)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout)
    results = {int(k): v for k, v in data["results"].items()}

    def found(rec, label):
        hits = results.get(rec["id"], [])
        if label is None:
            return bool(hits)
        v = label["value"]
        return any(h and (h in v or v in h) and min(len(h), len(v)) >= min(4, len(v)) for h in hits)

    return found, data["mbps"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-kind", type=int, default=200)
    ap.add_argument("--benign", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-peers", action="store_true")
    args = ap.parse_args()
    records = load_corpus(args)
    corpus_path = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False).name
    with open(corpus_path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")

    tools = [("ward", *run_ward(records))]
    if not args.skip_peers:
        py = ensure_venv()
        for name in ["detect-secrets", "presidio"]:
            tools.append((name, *run_peer(py, name, corpus_path)))
    scored = [(name, *score(records, found), mbps) for name, found, mbps in tools]

    kinds = sorted({l["kind"] for r in records for l in r["labels"]})
    header = "| kind | " + " | ".join(name for name, *_ in scored) + " |"
    print(header)
    print("|" + "---|" * (len(scored) + 1))
    for k in kinds:
        cells = []
        for _, per_kind, _, _ in scored:
            planted, found = per_kind.get(k, (0, 0))
            cells.append(f"{100.0 * found / planted:.1f}%" if planted else "-")
        print(f"| {k} | " + " | ".join(cells) + " |")
    print("| **false positives per 10k benign lines** | " + " | ".join(f"{fp:.1f}" for _, _, fp, _ in scored) + " |")
    print("| **throughput (MB/s, one core)** | " + " | ".join(f"{mbps:.3g}" for *_, mbps in scored) + " |")
    os.unlink(corpus_path)


if __name__ == "__main__":
    main()
