#!/usr/bin/env python3
"""Trains ward-prompt's hashed n-gram classifier (pure Python, stdlib only).

Reads the train split written by scripts/prompt_dataset.py plus the
hand-written benign prompts in scripts/prompt_hard_negatives.txt, fits an
L2-regularised logistic regression with plain SGD (fixed seed, fixed
order: reproducible bit for bit on one Python version), reports dev-split
figures, and writes crates/ward-prompt/model/prompt-ngram.bin (format in
crates/ward-prompt/src/model.rs) and the parity file that lets the Rust
tests check their feature extraction against this script's. The held-out
corpora (heldout.jsonl) are never read.

    python3 scripts/prompt_train.py [--data target/prompt-data] [--out crates/ward-prompt/model/prompt-ngram.bin]
"""

import argparse
import json
import math
import random
import struct
import zlib

BUCKETS = 1 << 17
MAX_CHARS = 6000


def collapse(text, max_chars=MAX_CHARS):
    s = " ".join(w.lower() for w in text.split())
    if max_chars and len(s) > max_chars:
        half = max_chars // 2
        s = s[:half] + " " + s[len(s) - half:]
    return s


def tokens(s):
    out, cur = [], []
    for c in s:
        if c.isalnum():
            cur.append(c)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def features(text):
    """Bucket -> count, and the total count (the reference for model.rs)."""
    s = collapse(text)
    counts = {}
    total = 0

    def add(prefix, feat):
        nonlocal total
        b = zlib.crc32(prefix + feat.encode("utf-8")) & (BUCKETS - 1)
        counts[b] = counts.get(b, 0) + 1
        total += 1

    prev = None
    for t in tokens(s):
        add(b"w", t)
        if prev is not None:
            add(b"b", prev + " " + t)
        prev = t
    if len(s) <= 4:
        if s:
            add(b"c", s)
    else:
        for i in range(len(s) - 3):
            add(b"c", s[i:i + 4])
    if total == 0:
        return []
    norm = 1.0 / math.sqrt(total)
    return [(b, c * norm) for b, c in counts.items()]


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            rows.append((d["text"], d["label"], d["source"]))
    return rows


def sigmoid(z):
    if z < -30:
        return 0.0
    if z > 30:
        return 1.0
    return 1.0 / (1.0 + math.exp(-z))


def train(xs, ys, epochs, l2, lr0, seed):
    w = [0.0] * BUCKETS
    bias = 0.0
    pos = sum(ys)
    neg = len(ys) - pos
    # Balanced class weights, so the rarer class is not drowned out.
    cw = {1: len(ys) / (2.0 * pos), 0: len(ys) / (2.0 * neg)}
    order = list(range(len(xs)))
    rng = random.Random(seed)
    step = 0
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            step += 1
            lr = lr0 / (1.0 + 1e-4 * step)
            x, y = xs[i], ys[i]
            z = bias + sum(w[b] * v for b, v in x)
            g = (sigmoid(z) - y) * cw[y]
            bias -= lr * g
            for b, v in x:
                w[b] -= lr * (g * v + l2 * w[b])
    return w, bias


def evaluate(w, bias, xs, ys, threshold=0.5):
    tp = fp = fn = tn = 0
    for x, y in zip(xs, ys):
        p = sigmoid(bias + sum(w[b] * v for b, v in x))
        if p >= threshold:
            tp += y
            fp += 1 - y
        else:
            fn += y
            tn += 1 - y
    return {"recall": tp / max(1, tp + fn), "fpr": fp / max(1, fp + tn), "tp": tp, "fn": fn,
            "fp": fp, "tn": tn}


def export(w, bias, path):
    scale = max(abs(v) for v in w) / 32767.0 or 1.0
    q = [max(-32767, min(32767, int(round(v / scale)))) for v in w]
    body = b"WPM1" + struct.pack("<IIff", BUCKETS, MAX_CHARS, bias, scale)
    body += struct.pack(f"<{BUCKETS}h", *q)
    body += struct.pack("<I", zlib.crc32(body))
    with open(path, "wb") as f:
        f.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="target/prompt-data")
    ap.add_argument("--out", default="crates/ward-prompt/model/prompt-ngram.bin")
    ap.add_argument("--hard-negatives", default="scripts/prompt_hard_negatives.txt")
    ap.add_argument("--parity-texts", default="crates/ward-prompt/tests/data/eval_sample.jsonl")
    ap.add_argument("--parity-out", default="crates/ward-prompt/tests/data/model_parity.jsonl")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--lr", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--fits", type=int, default=3, help="fits averaged (seeds seed..seed+fits-1)")
    args = ap.parse_args()
    tr = load(f"{args.data}/train.jsonl")
    with open(args.hard_negatives, encoding="utf-8") as f:
        tr += [(line.strip(), 0, "hard-negatives") for line in f
               if line.strip() and not line.startswith("#")]
    dv = load(f"{args.data}/dev.jsonl")
    xtr = [features(t) for t, _, _ in tr]
    ytr = [y for _, y, _ in tr]
    xdv = [features(t) for t, _, _ in dv]
    ydv = [y for _, y, _ in dv]
    # The average of several fits that differ only in the order of the
    # examples: one SGD fit moves texts near the threshold back and forth
    # with its seed; the average is steadier.
    fits = [train(xtr, ytr, args.epochs, args.l2, args.lr, args.seed + k) for k in range(args.fits)]
    w = [sum(f[0][i] for f in fits) / len(fits) for i in range(BUCKETS)]
    bias = sum(f[1] for f in fits) / len(fits)
    print(json.dumps({"train": evaluate(w, bias, xtr, ytr), "dev": evaluate(w, bias, xdv, ydv)}))
    export(w, bias, args.out)
    print(f"wrote {args.out}")
    write_parity(args.out, args.parity_texts, args.parity_out)
    print(f"wrote {args.parity_out}")


def write_parity(model_path, texts_path, out_path):
    """Probabilities of the exported (quantised) model on the checked-in
    evaluation sample: the Rust test suite checks that model.rs agrees."""
    with open(model_path, "rb") as f:
        blob = f.read()
    buckets, _max_chars, bias, scale = struct.unpack_from("<IIff", blob, 4)
    q = struct.unpack_from(f"<{buckets}h", blob, 20)
    with open(texts_path, encoding="utf-8") as f, open(out_path, "w", encoding="utf-8") as out:
        for line in f:
            text = json.loads(line)["text"]
            z = bias + sum(q[b] * scale * v for b, v in features(text))
            out.write(json.dumps({"text": text, "p": round(sigmoid(z), 6)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
