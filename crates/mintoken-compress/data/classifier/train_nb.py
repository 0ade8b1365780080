#!/usr/bin/env python3
"""Trains the naive Bayes layer of smart detection (stdlib only, deterministic).

Binary task: "bypass" (label security or legal) vs everything else, on the *user* text of
every labelled prompt in data/classifier/*.jsonl. Features: lowercased word unigrams and
bigrams (a word is a run of ASCII letters/digits or non-ASCII bytes; ASCII is lowercased),
each counted once per prompt, hashed with 32-bit FNV-1a into 2^BITS buckets (a bigram
hashes "w1 w2" with one space). Model: multinomial NB on the binary counts with Laplace
smoothing ALPHA; the score of a prompt is

    prior + sum(weight[bucket] for each distinct feature) / sqrt(number of distinct features)

(the sqrt keeps long prompts from piling up evidence). The threshold is chosen by
stratified K-fold cross-validation: the lowest threshold at which the out-of-fold benign
prompts scored above it stay within BENIGN_BUDGET. The Rust side (src/classifier/nb.rs)
computes the same features and score and ORs `score > threshold` with the word lists.

Usage: python3 crates/mintoken-compress/data/classifier/train_nb.py [--exclude fresh6.jsonl ...]
       [--eval fresh6.jsonl]   (score a file with the trained model, print recall/bypass)
Writes data/classifier/nb_weights.txt next to this script.
"""
import glob
import json
import math
import os
import random
import sys

BITS = 16
MASK = (1 << BITS) - 1
ALPHA = 0.5
FOLDS = 5
SEED = 20261126
BENIGN_BUDGET = 0.01
BYPASS = {"security", "legal"}
HERE = os.path.dirname(os.path.abspath(__file__))

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def fnv(h, data):
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def words(text):
    out, cur = [], bytearray()
    for b in text.encode("utf-8"):
        if b >= 0x80 or (48 <= b <= 57) or (97 <= b <= 122):
            cur.append(b)
        elif 65 <= b <= 90:
            cur.append(b + 32)
        elif cur:
            out.append(bytes(cur))
            cur = bytearray()
    if cur:
        out.append(bytes(cur))
    return out


def features(text):
    feats, prev = set(), None
    for w in words(text):
        h = fnv(FNV_OFFSET, w)
        feats.add(h & MASK)
        if prev is not None:
            feats.add(fnv(fnv(prev, b" "), w) & MASK)
        prev = h
    return feats


def load(exclude):
    rows = []
    for path in sorted(glob.glob(os.path.join(HERE, "*.jsonl"))):
        if os.path.basename(path) in exclude:
            continue
        for line in open(path, encoding="utf-8"):
            if line.strip():
                d = json.loads(line)
                rows.append((features(d["text"]), d["label"] in BYPASS))
    return rows


def train(rows):
    pos, neg = {}, {}
    npos = sum(1 for _, y in rows if y)
    nneg = len(rows) - npos
    tpos = tneg = 0
    for feats, y in rows:
        counts = pos if y else neg
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
        if y:
            tpos += len(feats)
        else:
            tneg += len(feats)
    vocab = len(set(pos) | set(neg))
    dp, dn = tpos + ALPHA * vocab, tneg + ALPHA * vocab
    weights = {}
    for f in set(pos) | set(neg):
        weights[f] = math.log((pos.get(f, 0) + ALPHA) / dp) - math.log((neg.get(f, 0) + ALPHA) / dn)
    default = math.log(ALPHA / dp) - math.log(ALPHA / dn)
    prior = math.log(npos / nneg)
    return prior, default, weights


def score(model, feats):
    prior, default, weights = model
    if not feats:
        return prior
    # Rounded to the precision the weights file keeps, so Rust and Python agree.
    s = sum(round(weights.get(f, default), 4) for f in feats)
    return round(prior, 4) + s / math.sqrt(len(feats))


def folds(rows):
    rng = random.Random(SEED)
    fold = [0] * len(rows)
    for cls in (True, False):
        idx = [i for i, (_, y) in enumerate(rows) if y == cls]
        rng.shuffle(idx)
        for k, i in enumerate(idx):
            fold[i] = k % FOLDS
    return fold


def pick_threshold(scored):
    benign = sorted((s for s, y in scored if not y), reverse=True)
    allowed = int(BENIGN_BUDGET * len(benign))
    # Strictly above the (allowed+1)-th highest benign score.
    return benign[allowed] + 1e-4


def report(name, scored, t):
    pos = [s for s, y in scored if y]
    neg = [s for s, y in scored if not y]
    tp = sum(s > t for s in pos)
    fp = sum(s > t for s in neg)
    prec = tp / (tp + fp) if tp + fp else 1.0
    print(f"{name}: recall {tp}/{len(pos)} = {tp / len(pos):.3f}, precision {prec:.3f}, "
          f"benign bypassed {fp}/{len(neg)} = {fp / len(neg):.3f} (threshold {t:.4f})")


def main():
    args = sys.argv[1:]
    exclude, evals = set(), []
    while args:
        flag, value, args = args[0], args[1], args[2:]
        (exclude.add if flag == "--exclude" else evals.append)(value)
    exclude |= set(evals)
    rows = load(exclude)
    fold = folds(rows)
    oof = [0.0] * len(rows)
    for k in range(FOLDS):
        model = train([r for r, f in zip(rows, fold) if f != k])
        for i, (feats, _) in enumerate(rows):
            if fold[i] == k:
                oof[i] = score(model, feats)
    scored = [(s, y) for s, (_, y) in zip(oof, rows)]
    t = pick_threshold(scored)
    report(f"{FOLDS}-fold CV ({len(rows)} prompts)", scored, t)
    model = train(rows)
    report("in-sample", [(score(model, f), y) for f, y in rows], t)
    for name in evals:
        path = os.path.join(HERE, name)
        data = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
        report(f"blind {name}", [(score(model, features(d["text"])), d["label"] in BYPASS) for d in data], t)
    prior, default, weights = model
    out = os.path.join(HERE, "nb_weights.txt")
    with open(out, "w", encoding="utf-8") as f:
        f.write("# naive Bayes bypass layer, written by train_nb.py; do not edit\n")
        f.write(f"bits {BITS}\nthreshold {t:.4f}\nprior {prior:.4f}\ndefault {default:.4f}\n")
        for b in sorted(weights):
            w = round(weights[b], 4)
            if w != round(default, 4):
                f.write(f"{b} {w:.4f}\n")
    print(f"wrote {out}: {len(weights)} buckets")


if __name__ == "__main__":
    main()
