"""Train the risk classifier: `python -m coach.safety.train` (deterministic; about a minute).

Reads data/risk_train.jsonl (text, category, level), embeds every text with the offline MiniLM,
fits the logistic heads of classifier.py, calibrates them on 5-fold out-of-fold scores, and
writes data/risk_model.npz plus data/risk_model.json (the metrics, out-of-fold). `--check`
re-trains into a temp file and fails when the metrics differ from the shipped ones.

The blind test set (evals/blind/) is never read here: it measures the method, not the items.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .classifier import (
    CHECK_IN_CATEGORIES,
    DATA,
    MODEL_FILE,
    RISK_CATEGORIES,
    Reading,
    RiskModel,
    category_logits,
    features,
)
from .types import CATEGORIES, LEVEL_RANK, LEVELS

TRAIN_FILE = DATA / "risk_train.jsonl"  # hand-written + generated (scripts/gen_risk_train.py)
# A second hand-written pass: hard benign twins (denials, idioms, safe objects) and risk said
# in words that risk lists rarely hold.
# Then seven files from separate writing passes, none of which saw the patterns, the other
# files or any eval set: hand3 by category (self-harm and medical; abuse; children, harm to
# others and surveillance), hand4 by how risk is said (long messages with risk in the middle;
# unusual words, slang and second-language English; hard benign twins and unsure messages;
# children and harm to others again), and hand5: children in ordinary family life (custody
# that works, step-children, babies), so everyday parenting talk is not read as danger.
MORE_FILES = (DATA / "risk_train_hand2.jsonl",
              *(DATA / f"risk_train_hand3_{part}.jsonl" for part in ("selfharm", "abuse", "others")),
              *(DATA / f"risk_train_hand4_{part}.jsonl"
                for part in ("long", "words", "twins", "kids_harm")),
              DATA / "risk_train_hand5_family.jsonl")
# Ordinary coaching messages (the reading's labelled set) add plain traffic as benign examples;
# the few that the patterns flag are left out rather than guessed at.
BENIGN_FILE = Path(__file__).resolve().parent.parent / "data" / "reading_train.jsonl"
# Everyday messages about trust (affairs, worry, arguments, breakups), written as benign.
ORDINARY_FILE = DATA / "ordinary_messages.jsonl"
# More everyday traffic (short replies, questions about privacy, "thank you, I'll think about
# it"): without it the classifier read "who actually reads this?" as a risk.
EXTRA_BENIGN_FILE = BENIGN_FILE.with_name("reading_extra.jsonl")
BENIGN_FILES = (BENIGN_FILE, ORDINARY_FILE, EXTRA_BENIGN_FILE)
METRICS_FILE = DATA / "risk_model.json"
SEED = 20261201
FOLDS = 5
L2 = 2e-4
ITERS = 500
LR = 0.05
HIDDEN = 256
EPOCHS = 20
BATCH = 128
DROPOUT = 0.3
WEIGHT_DECAY = 1e-4
MLP_LR = 2e-3
# Chosen on the older labelled and hold-out sets, the first blind set (used as a development
# set from this version on, as totals only), the scripted scenarios and ordinary traffic (the
# listening sets' messages): never on the second blind set, which measures them. Alone, the
# classifier asks (check_in) from 0.95 and acts from 0.97: concern, or urgent when its urgent
# head reads 0.7 or more. Reading several messages together, it only acts (from 0.97). Behind
# a pattern it may raise the level to urgent; it never lowers a pattern's verdict (that was
# tried: it read "He threatened to hurt me if I ever looked at his phone" as ordinary). Lower
# thresholds (ask from 0.85, act from 0.95) caught more on the development set but asked
# ordinary messages ("how am i meant to believe anything he says now") about suicide; asking
# from 0.93 still asked "I keep going over it at night and I can't stop thinking about it".
THRESHOLDS = {"strong": 0.97, "check_in": 0.95, "concern": 0.5, "urgent": 0.5,
              "urgent_alone": 0.7}


def ordinary_messages(paths: tuple[Path, ...] = BENIGN_FILES) -> list[dict[str, str]]:
    """Benign examples from everyday coaching messages (none that the patterns flag)."""
    from .patterns import scan

    texts = [str(json.loads(line)["text"]) for path in paths if path.exists()
             for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [{"text": t, "category": "none", "level": "none"} for t in texts if not scan(t)]


def load_examples(path: Path = TRAIN_FILE, extra: bool = True) -> list[dict[str, str]]:
    """Labelled examples, exact duplicates dropped; a clear error names a bad line."""
    seen, rows = set(), []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, cat, level = str(row["text"]).strip(), row["category"], row["level"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise SystemExit(f"{path.name}: line {n}: needs JSON with text, category, level")
        if cat not in CATEGORIES or level not in LEVELS or (cat == "none") != (level == "none"):
            raise SystemExit(f"{path.name}: line {n}: bad category/level {cat}/{level}")
        if text and text.lower() not in seen:
            seen.add(text.lower())
            rows.append({"text": text, "category": cat, "level": level})
    for more in MORE_FILES if extra else ():
        if more.exists() and more != path:
            for row in load_examples(more, extra=False):
                if row["text"].lower() not in seen:
                    seen.add(row["text"].lower())
                    rows.append(row)
    for row in ordinary_messages() if extra else []:
        if row["text"].lower() not in seen:
            seen.add(row["text"].lower())
            rows.append(row)
    return rows


CLASSES = ("none",) + RISK_CATEGORIES


def level_heads() -> list[str]:
    return [h for c in RISK_CATEGORIES for h in (f"{c}:concern", f"{c}:urgent")]


def targets(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Y (labels) and M (which examples each level head learns from: its category's)."""
    H = level_heads()
    Y = np.zeros((len(rows), len(H)), dtype=np.float32)
    M = np.zeros_like(Y)
    for i, r in enumerate(rows):
        for j, h in enumerate(H):
            cat, _, level = h.partition(":")
            if r["category"] == cat:
                need = "concern" if level == "concern" else "urgent"
                Y[i, j] = float(LEVEL_RANK[r["level"]] >= LEVEL_RANK[need])
                M[i, j] = 1.0
    return Y, M


def fit(X: np.ndarray, Y: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced, L2-regularised logistic regression for all heads at once (Adam)."""
    n, F = X.shape
    H = Y.shape[1]
    pos = (Y * M).sum(0)
    neg = ((1 - Y) * M).sum(0)
    w_pos = np.where(pos > 0, 0.5 * M.sum(0) / np.maximum(pos, 1), 0)
    w_neg = np.where(neg > 0, 0.5 * M.sum(0) / np.maximum(neg, 1), 0)
    weight = M * (Y * w_pos + (1 - Y) * w_neg)
    count = np.maximum(M.sum(0), 1)
    W = np.zeros((H, F), dtype=np.float32)
    b = np.zeros(H, dtype=np.float32)
    mW, vW = np.zeros_like(W), np.zeros_like(W)
    mb, vb = np.zeros_like(b), np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, ITERS + 1):
        Z = X @ W.T + b
        P = 1.0 / (1.0 + np.exp(-np.clip(Z, -30, 30)))
        G = (P - Y) * weight / count
        gW = G.T @ X + L2 * W
        gb = G.sum(0)
        for param, grad, m, v in ((W, gW, mW, vW), (b, gb, mb, vb)):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= LR * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    # A head with one class only (e.g. surveillance is always concern) answers that class.
    for j in range(H):
        if pos[j] == 0 or neg[j] == 0:
            W[j] = 0.0
            b[j] = 8.0 if neg[j] == 0 else -8.0
    return W, b


def fit_mlp(X: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """The category head: one ReLU layer (HIDDEN units, dropout) and a softmax, trained with Adam.

    Classes are weighted by 1/sqrt(frequency): rare categories count more without the full
    re-balancing that made the heads over-eager on ordinary messages. Deterministic (SEED).
    """
    rng = np.random.default_rng(SEED)
    n, F = X.shape
    W1 = (rng.standard_normal((F, HIDDEN)) * np.sqrt(2 / F)).astype(np.float32)
    b1 = np.zeros(HIDDEN, np.float32)
    W2 = (rng.standard_normal((HIDDEN, k)) * np.sqrt(1 / HIDDEN)).astype(np.float32)
    b2 = np.zeros(k, np.float32)
    params = [W1, b1, W2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    Y = np.eye(k, dtype=np.float32)[labels]
    cw = 1 / np.sqrt(np.maximum(Y.sum(0), 1))
    cw = (cw / cw[labels].mean()).astype(np.float32)
    t = 0
    for _ in range(EPOCHS):
        order = rng.permutation(n)
        for start in range(0, n, BATCH):
            bi = order[start:start + BATCH]
            xb, yb, wb = X[bi], Y[bi], cw[labels[bi]][:, None]
            h = xb @ W1 + b1
            keep = (rng.random(h.shape) > DROPOUT).astype(np.float32) / (1 - DROPOUT)
            a = np.maximum(h, 0) * keep
            z = a @ W2 + b2
            z -= z.max(1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            g = (p - yb) * wb / len(bi)
            ga = (g @ W2.T) * keep
            ga[h <= 0] = 0
            grads = [xb.T @ ga + WEIGHT_DECAY * W1, ga.sum(0), a.T @ g + WEIGHT_DECAY * W2,
                     g.sum(0)]
            t += 1
            for i, (param, grad) in enumerate(zip(params, grads)):
                m[i] = 0.9 * m[i] + 0.1 * grad
                v[i] = 0.999 * v[i] + 0.001 * grad * grad
                param -= MLP_LR * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t))
                                                             + 1e-8)
    return tuple(params)


def softmax(Z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    Z = Z / temperature
    Z = Z - Z.max(1, keepdims=True)
    P = np.exp(Z)
    return P / P.sum(1, keepdims=True)


def fit_temperature(Z: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the out-of-fold log loss (grid search, 0.3-5)."""
    best, best_t = np.inf, 1.0
    for t in np.exp(np.linspace(np.log(0.3), np.log(5), 60)):
        P = softmax(Z, t)
        loss = -np.mean(np.log(P[np.arange(len(labels)), labels] + 1e-12))
        if loss < best:
            best, best_t = loss, float(t)
    return best_t


def platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit P(y=1) = sigmoid(a*s + b) by Newton's method (a few steps are enough)."""
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    a, c = 1.0, 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * scores + c, -30, 30)))
        g = np.array([np.sum((p - y) * scores), np.sum(p - y)])
        w = p * (1 - p) + 1e-9
        hess = np.array([[np.sum(w * scores * scores), np.sum(w * scores)],
                         [np.sum(w * scores), np.sum(w)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, g)
        a, c = a - step[0], c - step[1]
        if np.abs(step).max() < 1e-6:
            break
    return float(a), float(c)


def folds(rows: list[dict[str, str]]) -> np.ndarray:
    """A fold number per example, stratified by label, from a fixed seed."""
    rng = np.random.default_rng(SEED)
    fold = np.zeros(len(rows), dtype=int)
    by_label: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        by_label.setdefault((r["category"], r["level"]), []).append(i)
    for key in sorted(by_label):
        idx = np.array(by_label[key])
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % FOLDS
    return fold


def verdict_metrics(model: RiskModel, probs: np.ndarray, rows: list[dict[str, str]]) -> dict:
    """Recall (right category, any level), at-level recall and false alarms of the verdicts."""
    risky = caught = at_level = benign = false_alarms = 0
    per_cat: dict[str, list[int]] = {c: [0, 0, 0] for c in RISK_CATEGORIES}
    for row, p in zip(rows, probs):
        cat, level, _ = model.level(Reading(dict(zip(model.heads, map(float, p)))))
        if row["category"] == "none":
            benign += 1
            false_alarms += level != "none"
            continue
        risky += 1
        hit = cat == row["category"] and level != "none"
        ok = hit and LEVEL_RANK[level] >= LEVEL_RANK[row["level"]]
        caught += hit
        at_level += ok
        per_cat[row["category"]][0] += 1
        per_cat[row["category"]][1] += hit
        per_cat[row["category"]][2] += ok
    return {
        "examples": len(rows), "risky": risky, "benign": benign,
        "recall": round(caught / max(risky, 1), 4),
        "at_level_recall": round(at_level / max(risky, 1), 4),
        "false_alarm_rate": round(false_alarms / max(benign, 1), 4),
        "per_category": {c: {"cases": v[0], "recall": round(v[1] / max(v[0], 1), 4),
                             "at_level": round(v[2] / max(v[0], 1), 4)}
                         for c, v in per_cat.items()},
    }


def train(path: Path = TRAIN_FILE, log=print) -> tuple[RiskModel, dict[str, Any]]:
    started = time.monotonic()
    rows = load_examples(path)
    blob = b"".join(f.read_bytes() for f in (path, *MORE_FILES, *BENIGN_FILES) if f.exists())
    digest = hashlib.sha256(blob).hexdigest()[:16]
    log(f"train: {len(rows)} examples from {path.name} ({digest}); embedding…")
    X = features([r["text"] for r in rows])
    labels = np.array([CLASSES.index(r["category"]) for r in rows])
    Y, M = targets(rows)
    fold = folds(rows)
    oof_c = np.zeros((len(rows), len(CLASSES)), dtype=np.float32)
    oof_l = np.zeros_like(Y)
    for k in range(FOLDS):
        tr, te = fold != k, fold == k
        oof_c[te] = category_logits(fit_mlp(X[tr], labels[tr], len(CLASSES)), X[te])
        Wl, bl = fit(X[tr], Y[tr], M[tr])
        oof_l[te] = X[te] @ Wl.T + bl
    temperature = fit_temperature(oof_c, labels)
    calib = np.array([platt(oof_l[M[:, j] > 0, j], Y[M[:, j] > 0, j])
                      for j in range(Y.shape[1])], dtype=np.float32)
    mlp = fit_mlp(X, labels, len(CLASSES))
    Wl, bl = fit(X, Y, M)
    model = RiskModel(mlp, temperature, level_heads(), Wl, bl, calib, THRESHOLDS,
                      version=f"risk-{digest}")
    # Out-of-fold probabilities in the model's head order, for honest metrics.
    Pc = softmax(oof_c, temperature)
    Pl = 1.0 / (1.0 + np.exp(-np.clip(oof_l * calib[:, 0] + calib[:, 1], -30, 30)))
    oof_probs = np.hstack([Pc[:, 1:], Pl])
    metrics = {"version": model.version, "train_file_sha256": digest,
               "temperature": round(temperature, 4),
               "out_of_fold": verdict_metrics(model, oof_probs, rows),
               "thresholds": THRESHOLDS, "check_in_categories": list(CHECK_IN_CATEGORIES),
               "seconds": round(time.monotonic() - started, 1)}
    log(f"train: done in {metrics['seconds']} s; out-of-fold {json.dumps(metrics['out_of_fold'])}")
    return model, metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coach.safety.train", description=__doc__)
    parser.add_argument("--data", type=Path, default=TRAIN_FILE)
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--check", action="store_true",
                        help="re-train and compare with the shipped metrics (writes nothing)")
    args = parser.parse_args(argv)
    model, metrics = train(args.data)
    if args.check:
        shipped = json.loads(METRICS_FILE.read_text())
        keys = ("recall", "at_level_recall", "false_alarm_rate")
        diffs = {k: (shipped["out_of_fold"][k], metrics["out_of_fold"][k]) for k in keys
                 if abs(shipped["out_of_fold"][k] - metrics["out_of_fold"][k]) > 0.005}
        if diffs or shipped["version"] != metrics["version"]:
            print(f"train --check: metrics differ from the shipped model: {diffs}",
                  file=sys.stderr)
            return 1
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "m.npz")
        print("train --check: re-training reproduces the shipped metrics")
        return 0
    model.save(args.out)
    metrics.pop("seconds")
    (args.out.with_suffix(".json")).write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB) and its metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
