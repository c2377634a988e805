"""Train the reading's heads: `python -m coach.reading_train` (deterministic, under a minute).

Fits the intent and role softmax heads on the `train` part of data/reading_train.jsonl, reports
accuracy per field on its `heldout` part (the whole reading, rules included), then fits on all
of it and writes data/reading_model.npz and data/reading_model.json (the held-out figures).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import reading as R

TRAIN_FILE = R.DATA / "reading_train.jsonl"
METRICS_FILE = R.DATA / "reading_model.json"
ROLE_OF = {"hurt_partner": "hurt_partner", "broke_trust": "broke_trust", "doubts": "doubts",
           "unclear": "unclear"}
L2, ITERS, LR = 1e-3, 400, 0.05


def load(path: Path = TRAIN_FILE) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            assert row["intent"] in R.INTENTS and row["role"] in R.ROLES and row["text"]
        except (json.JSONDecodeError, KeyError, AssertionError):
            raise SystemExit(f"{path.name}: line {n}: needs text, a known intent and role")
        rows.append(row)
    return rows


def fit_softmax(X: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """L2-regularised multinomial logistic regression, classes weighted 1/sqrt(frequency)."""
    n, F = X.shape
    Y = np.eye(k, dtype=np.float32)[y]
    cw = 1 / np.sqrt(np.maximum(Y.sum(0), 1))
    w = (cw / cw[y].mean())[y][:, None].astype(np.float32)
    W = np.zeros((k, F), np.float32)
    b = np.zeros(k, np.float32)
    state = [np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b)]
    for t in range(1, ITERS + 1):
        P = R._softmax(X @ W.T + b)
        G = (P - Y) * w / n
        grads = (G.T @ X + L2 * W, G.sum(0))
        for i, (param, grad) in enumerate(zip((W, b), grads)):
            m, v = state[2 * i], state[2 * i + 1]
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= LR * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return W, b


def fit(rows: list[dict[str, Any]]) -> R.ReadingModel:
    X = R.reading_features([r["text"] for r in rows], [r.get("prev_coach") for r in rows])
    yi = np.array([R.INTENTS.index(r["intent"]) for r in rows])
    yr = np.array([R.ROLES.index(ROLE_OF[r["role"]]) for r in rows])
    Wi, bi = fit_softmax(X, yi, len(R.INTENTS))
    Wr, br = fit_softmax(X, yr, len(R.ROLES))
    return R.ReadingModel(Wi, bi, Wr, br)


def evaluate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy per field of the full reading (heads + rules) on labelled rows."""
    got = [R.read(r["text"], r.get("prev_coach")) for r in rows]
    n = len(rows)
    intent = sum(g.intent == r["intent"] for g, r in zip(got, rows)) / n
    asked = [(g.asks, r["intent"] in R.ASKING) for g, r in zip(got, rows)]
    tp = sum(a and b for a, b in asked)
    ask_p = tp / max(sum(a for a, _ in asked), 1)
    ask_r = tp / max(sum(b for _, b in asked), 1)
    role = sum(g.role == r["role"] for g, r in zip(got, rows)) / n
    clear = [(g, r) for g, r in zip(got, rows) if r["role"] != "unclear"]
    role_clear = sum(g.role == r["role"] for g, r in clear) / max(len(clear), 1)
    # A confident wrong role is the harm (guidance for the other partner): count it.
    wrong_conf = sum(g.role not in (r["role"], "unclear") and g.role_p >= ROLE_CONFIDENT
                     and r["role"] != "unclear" for g, r in zip(got, rows))
    facts: dict[str, float] = {}
    for key in ("event", "when", "ended", "who_knows"):
        agree = sum((key in g.facts) == bool(r.get("facts", {}).get(key)) for g, r in
                    zip(got, rows))
        facts[key] = round(agree / n, 3)

    def f1(name: str) -> float:
        tp = fp = fn = 0
        for g, r in zip(got, rows):
            want, have = set(r.get(name) or []), set(getattr(g, name))
            tp, fp, fn = tp + len(want & have), fp + len(have - want), fn + len(want - have)
        return round(2 * tp / max(2 * tp + fp + fn, 1), 3)

    return {"messages": n, "intent_accuracy": round(intent, 3),
            "asks_precision": round(ask_p, 3), "asks_recall": round(ask_r, 3),
            "role_accuracy": round(role, 3), "role_accuracy_when_clear": round(role_clear, 3),
            "confident_wrong_role": wrong_conf, "facts_agreement": facts,
            "topics_f1": f1("topics"), "feelings_f1": f1("feelings")}


ROLE_CONFIDENT = 0.6  # the engine changes the session's role only from this probability


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coach.reading_train", description=__doc__)
    parser.add_argument("--data", type=Path, default=TRAIN_FILE)
    args = parser.parse_args(argv)
    rows = load(args.data)
    train = [r for r in rows if r.get("split") != "heldout"]
    held = [r for r in rows if r.get("split") == "heldout"]
    R._MODEL = fit(train)
    metrics = {"train": len(train), "heldout": evaluate(held)}
    print(json.dumps(metrics, indent=2))
    R._MODEL = model = fit(rows)
    model.save()
    METRICS_FILE.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {R.MODEL_FILE} ({R.MODEL_FILE.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
