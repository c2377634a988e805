"""Write an eval run as report.md, a self-contained report.html (charts inline) and results.json."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any

from .rubric import TITLES as RUBRIC_TITLES

CHECK_ORDER = ["protocol", "forbidden_content", "grounding", "sources_valid", "one_question",
               "stage_progression", "length", "reflection", "screening", "expected_text",
               "referral", "final_stage"]
CHECK_NAMES = {
    "protocol": "Safety protocol on risk turns", "forbidden_content": "No forbidden content",
    "grounding": "Grounded in cited cards (all sentences)",
    "sources_valid": "Sources cited and valid",
    "one_question": "At most one question", "stage_progression": "Stage never goes back",
    "length": "Length within bounds", "reflection": "Opens by reflecting feelings",
    "screening": "Screening as labelled", "expected_text": "Required text present",
    "referral": "Referral when expected", "final_stage": "Ends in an expected stage",
}


def _num(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _pct(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _cell(row: dict | None) -> str:
    if not row or not row.get("applied"):
        return "–"
    return f"{_pct(row['rate'])} ({row['passed']}/{row['applied']})"


def comparison(entry: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a scenario suite: one row per check, one column per system."""
    systems = list(entry["systems"])
    header = ["check", *systems]
    rows = []
    names = {n for s in entry["systems"].values() for n in s.get("summary", {}).get("checks", {})}
    for name in [c for c in CHECK_ORDER if c in names]:
        row = [CHECK_NAMES.get(name, name)]
        for s in systems:
            sysres = entry["systems"][s]
            row.append("n/a" if "na" in sysres else _cell(sysres["summary"]["checks"].get(name)))
        rows.append(row)
    extra = [("grounding", "sentence_support", "Guidance sentences supported by cited cards"),
             ("grounding", "kb_sentence_support", "Guidance sentences matching any card")]
    for check, key, label in extra:
        row = [label]
        for s in systems:
            sysres = entry["systems"][s]
            g = sysres.get("summary", {}).get("checks", {}).get(check, {})
            row.append("n/a" if "na" in sysres else _pct(g.get(key)))
        rows.append(row)
    row = ["Turns with no reply (backend error)"]
    for s in systems:
        sm = entry["systems"][s].get("summary")
        row.append("n/a" if sm is None else f"{sm['errors']}/{sm['turns']}")
    rows.append(row)
    row = ["Cases with every check passed"]
    for s in systems:
        sm = entry["systems"][s].get("summary")
        row.append("n/a" if sm is None else f"{sm['cases_all_passed']}/{sm['cases']}")
    rows.append(row)
    judged = [s for s in systems if entry["systems"][s].get("summary", {}).get("judge")]
    if judged:
        dims = list(entry["systems"][judged[0]]["summary"]["judge"])
        for dim in dims:
            rows.append([f"Judge: {dim} (1-5)", *(
                f"{entry['systems'][s]['summary']['judge'][dim]:.2f}"
                if entry["systems"][s].get("summary", {}).get("judge") else "absent"
                for s in systems)])
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def _failures(entry: dict[str, Any], system: str, limit: int = 15) -> list[str]:
    res = entry["systems"][system]
    out = []
    for case in res.get("cases", []):
        for t in case["turns"]:
            for c in t["checks"]:
                if not c["passed"]:
                    out.append(f"{case['name']} turn {t['index']}: {c['check']}"
                               + (f" ({c['detail'][:110]})" if c.get("detail") else ""))
            if t.get("error"):
                out.append(f"{case['name']} turn {t['index']}: error ({t['error'][:110]})")
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


def markdown(results: dict[str, Any]) -> str:
    """The whole run as Markdown: comparison tables per suite and the first failures."""
    meta = results["meta"]
    lines = ["# Trust Coach evaluation", "",
             f"Run {meta.get('started')} · backends: {', '.join(meta['llms'])} · baseline: "
             f"{meta['baseline']} · judge: {meta.get('judge') or 'off (scores absent)'}"
             + (f" · at most {meta['limit']} cases per suite" if meta.get("limit") else ""), ""]
    suites = results["suites"]
    if "retrieval" in suites:
        r = suites["retrieval"]
        lines += ["## Retrieval", "", f"{r['cases']} queries, {r['mode']} ranking: recall@3 "
                  f"{r['recall@3']:.3f}, full_recall@3 {r['full_recall@3']:.3f}, "
                  f"MRR {r['mrr']:.3f}.",
                  ""]
    if "screening" in suites:
        lines += ["## Screening", ""]
        for part, r in suites["screening"].items():
            lines += [f"**{part}** ({r['cases']} messages): risky recall "
                      f"{_pct(r['risky_recall'])} (at the right level "
                      f"{_pct(r.get('at_level_recall'))}), "
                      f"false alarms on benign {r['false_alarms']}/{r['benign']} "
                      f"({_pct(r['false_alarm_rate'])}).", ""]
            rows = [[c, str(v["cases"]), f"{_pct(v['recall'])} (at level "
                     f"{_pct(v.get('at_level'))})"] for c, v in r["per_category"].items()]
            rows += [[f"level: {lv}", str(v["cases"]), f"{_pct(v['recall'])} "
                      f"(exact level {_pct(v['exact_level'])})"]
                     for lv, v in r["per_level"].items()]
            lines += [_md_table(["category", "cases", "recall"], rows), ""]
            cats = list(r["confusion"])
            lines += ["Confusion (rows: label, columns: screener):", "",
                      _md_table(["label", *cats], [[a, *(str(r["confusion"][a][b]) for b in cats)]
                                                   for a in cats]), ""]
            for m in r["misses"][:10]:
                lines.append(f"- missed {m['id']}: want {m['want']}, got {m['got']}")
            for m in r["false_alarm_cases"][:10]:
                lines.append(f"- false alarm {m['id']}: got {m['got']}")
            lines.append("")
    for llm, r in suites.get("listening", {}).items():
        skipped = r.get("questions_not_judged") or 0
        lines += [f"## Listening ({llm})", "",
                  f"{r['cases']} blind conversations, {r['turns']} turns. Questions answered "
                  f"{r['questions_answered']}/{r['questions']} ({_pct(r['answered_rate'])})"
                  + (f" ({skipped} more not judged: they rest on citing guidance, which a plain "
                     "chatbot has none of)" if skipped else "") + "; "
                  f"re-asked facts {r['reasked_facts']}; wrong-audience citations "
                  f"{r['wrong_audience_citations']}; identity questions answered honestly "
                  f"{r['identity_honest']}/{r['identity_questions']}; most common opener "
                  f"\"{r['top_opener']}\" in {_pct(r['top_opener_share'])} of replies; reading: "
                  f"intent {_pct(r['reading_intent_accuracy'])}, question detection "
                  f"{_pct(r['reading_question_accuracy'])}.", ""]
        for u in r["unanswered"][:10]:
            lines.append(f"- unanswered ({u['intent']}): {u['text'][:90]!r}")
        lines.append("")
    if "calibration" in suites:
        c = suites["calibration"]
        lines += ["## Grounding calibration", "",
                  f"{c['pairs']} labelled pairs ({c['supported']} supported): AUC {c['auc']:.3f}; "
                  f"best threshold {c['best_threshold']:.2f} (balanced accuracy "
                  f"{c['best_balanced_accuracy']:.3f}); threshold in use {c['threshold']:.2f} "
                  f"(balanced accuracy {c['balanced_accuracy']:.3f}).", ""]
        for e in c["errors"][:12]:
            lines.append(f"- {'missed' if e['supported'] else 'false support'} {e['score']:.2f}: "
                         f"{e['sentence'][:90]} [{e['card']}]")
        lines.append("")
    for suite in ("conversations", "redteam"):
        if suite not in suites:
            continue
        entry = suites[suite]
        header, rows = comparison(entry)
        lines += [f"## {suite.capitalize()} ({entry['cases']} scenarios)", "",
                  _md_table(header, rows), ""]
        for system in entry["systems"]:
            fails = _failures(entry, system)
            if fails:
                lines += [f"Failures, {system}:", "", *(f"- {f}" for f in fails), ""]
    if "feedback" in suites:
        f = suites["feedback"]
        lines += ["## Feedback from people (this machine)", "",
                  f"{f['rated']} replies rated; liked {f['liked']}, not liked {f['disliked']} "
                  f"(like rate {_pct(f['like_rate'])}); {f.get('commented', 0)} with a comment "
                  "in the person's words, which stay in that session's export. Counts only; "
                  "no message text.", ""]
        if f["by_value"]:
            lines += [_md_table(["feedback", "replies"],
                                [[k, str(v)] for k, v in sorted(f["by_value"].items())]), ""]
            rows = [[b, ", ".join(f"{k} {v}" for k, v in vals.items())]
                    for b, vals in sorted(f["by_backend"].items())]
            lines += [_md_table(["written by", "feedback"], rows), ""]
    for part, r in suites.get("rubric", {}).items():
        lines += [f"## Safety rubric validated on {part} ({r['cases']} labelled conversations)",
                  "", "Harm found (`not_met`) against the frozen labels; verdicts agree = the "
                  "share of conversations where met / not met / not applicable matches.", ""]
        rows = []
        for d, m in r["dimensions"].items():
            rows.append([RUBRIC_TITLES.get(d, d), _num(m["precision"]), _num(m["recall"]),
                         _pct(m["accuracy"]), f"{m['tp']}/{m['fp']}/{m['fn']}"])
        lines += [_md_table(["dimension", "precision", "recall", "verdicts agree",
                             "tp/fp/fn"], rows), ""]
        if r.get("judge"):
            jr = [[RUBRIC_TITLES.get(d, d), _num(v["precision"]), _num(v["recall"]),
                   _pct(v["agreement_with_offline"])]
                  for d, v in r["judge"].items() if isinstance(v, dict)]
            lines += [f"LLM judge ({meta.get('rubric_judge')}), {r['judge']['failures']} "
                      "failed answers:", "",
                      _md_table(["dimension", "precision", "recall", "agrees with offline"], jr),
                      ""]
        for dis in r["disagreements"][:15]:
            lines.append(f"- {dis['conversation']} {dis['dimension']}: label {dis['label']}, "
                         f"offline {dis['offline']} ({dis['why']})")
        lines.append("")
    if "transcripts" in results:
        t = results["transcripts"]
        sm = t["summary"]
        strict = sm.get("style_mode") == "strict"
        lines += [f"## Transcripts ({t['file']})", "",
                  f"{sm['cases']} conversations, {sm['turns']} turns; {sm['with_harm']} with a "
                  f"safety finding; {sm['cases_all_passed']} with no violation"
                  + (" (house style counted as violations: --style strict)." if strict else
                     " (house style is reported below, not counted)."), "",
                  "### Safety rubric (violations)", ""]
        rows = [[RUBRIC_TITLES.get(d, d), str(v["met"]), f"{v['not_met']} (high {v['high']})",
                 str(v["na"]), _pct(v["pass_rate"])] for d, v in sm["rubric"].items()]
        lines += [_md_table(["dimension", "met", "not met", "not applicable", "pass rate"], rows),
                  ""]
        if sm.get("rubric_judge_agreement"):
            rows = [[RUBRIC_TITLES.get(d, d), f"{v['agree']}/{v['rated']}", _pct(v["agreement"])]
                    for d, v in sm["rubric_judge_agreement"].items()]
            lines += [f"LLM judge ({meta.get('rubric_judge')}) beside the offline verdicts:", "",
                      _md_table(["dimension", "agree", "agreement"], rows), ""]
        worst = sorted((c for c in results["conversations"] if any(
            v["verdict"] == "not_met" for v in c["rubric"].values())),
            key=lambda c: (-sum(v.get("severity") == "high" for v in c["rubric"].values()),
                           -sum(v["verdict"] == "not_met" for v in c["rubric"].values()),
                           c["conversation"]))
        if worst:
            lines += ["### The conversations with the most serious findings", ""]
            for c in worst[:10]:
                lines.append(f"**{c['conversation']}**")
                lines.append("")
                for d, v in c["rubric"].items():
                    if v["verdict"] != "not_met":
                        continue
                    lines.append(f"- {RUBRIC_TITLES.get(d, d)} ({v.get('severity')}, turn "
                                 f"{', '.join(map(str, v['turns']))}): {v['why']}")
                    for q in v.get("quotes", [])[:2]:
                        lines.append(f"  > {q}")
                lines.append("")
        style_rows = [[CHECK_NAMES.get(k, k), _cell(v)] for k, v in sm["style"].items()]
        if style_rows:
            lines += ["### House style (" + ("counted" if strict else "reported, not counted")
                      + ")", "", "Trust Coach's own style, not a safety measure: other "
                      "chatbots may reasonably differ.", "",
                      _md_table(["check", "turns passing"], style_rows), ""]
        other = [[CHECK_NAMES.get(k, k), _cell(v)] for k, v in sm["checks"].items()
                 if k not in sm["style"]]
        if sm.get("judge"):
            other += [[f"Judge: {k} (1-5)", f"{v:.2f}"] for k, v in sm["judge"].items()]
        if other:
            lines += ["### Per-turn checks (detail)", "", _md_table(["check", "result"], other),
                      ""]
        for conv in results["conversations"]:
            if conv["violations"]:
                lines.append(f"- {conv['conversation']}: {', '.join(conv['violations'])}")
        lines.append("")
    if meta.get("command") or meta.get("versions"):
        lines += ["## How this was run", "", f"Command: `{meta.get('command') or 'coach eval'}`",
                  "", "Versions: " + ", ".join(f"{k} {v}" for k, v in
                                                (meta.get("versions") or {}).items()), ""]
    lines += [f"Took {meta.get('seconds')} s. Grounding threshold "
              f"{meta.get('grounding_threshold')}.", ""]
    return "\n".join(lines)


# ---- charts -------------------------------------------------------------------------------

def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def charts(results: dict[str, Any]) -> dict[str, str]:
    """Base64 PNGs keyed by section; empty when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        return {}
    out: dict[str, str] = {}
    suites = results["suites"]
    for suite in ("conversations", "redteam"):
        if suite not in suites:
            continue
        systems = [s for s, v in suites[suite]["systems"].items() if "summary" in v]
        names = [c for c in CHECK_ORDER if any(
            c in suites[suite]["systems"][s]["summary"]["checks"] for s in systems)]
        if not systems or not names:
            continue
        fig, ax = plt.subplots(figsize=(9, 3.6))
        width = 0.8 / len(systems)
        x = np.arange(len(names))
        for i, s in enumerate(systems):
            checks = suites[suite]["systems"][s]["summary"]["checks"]
            vals = [100 * (checks.get(n, {}).get("rate") or 0) if n in checks else 0 for n in names]
            ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=s)
        ax.set_xticks(x, [n.replace("_", "\n") for n in names], fontsize=7)
        ax.set_ylabel("turns passing (%)")
        ax.set_ylim(0, 105)
        ax.set_title(f"{suite}: checks passed per system")
        ax.legend(fontsize=7)
        out[suite] = _png(fig)
    if "screening" in suites and "labelled" in suites["screening"]:
        r = suites["screening"]["labelled"]
        cats = list(r["confusion"])
        m = np.array([[r["confusion"][a][b] for b in cats] for a in cats])
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        ax.imshow(m, cmap="Blues")
        ax.set_xticks(range(len(cats)), cats, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(cats)), cats, fontsize=7)
        for i in range(len(cats)):
            for j in range(len(cats)):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > m.max() / 2 else "black")
        ax.set_xlabel("screener")
        ax.set_ylabel("label")
        ax.set_title("Screening confusion matrix")
        out["screening"] = _png(fig)
    if "transcripts" in results:
        rub = results["transcripts"]["summary"]["rubric"]
        names = list(rub)
        fig, ax = plt.subplots(figsize=(8, 3.2))
        met = [rub[d]["met"] for d in names]
        bad = [rub[d]["not_met"] for d in names]
        x = np.arange(len(names))
        ax.bar(x, met, label="met", color="#3b7d4f")
        ax.bar(x, bad, bottom=met, label="not met", color="#b4432e")
        ax.set_xticks(x, [n.replace("_", "\n") for n in names], fontsize=7)
        ax.set_ylabel("conversations")
        ax.set_title("Safety rubric: verdicts per dimension (not applicable left out)")
        ax.legend(fontsize=7)
        out["transcripts"] = _png(fig)
    for part, r in suites.get("rubric", {}).items():
        names = list(r["dimensions"])
        fig, ax = plt.subplots(figsize=(8, 3.2))
        x = np.arange(len(names))
        for i, key in enumerate(("precision", "recall")):
            ax.bar(x + (i - 0.5) * 0.38, [r["dimensions"][d][key] or 0 for d in names], 0.38,
                   label=key)
        ax.axhline(0.9, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xticks(x, [n.replace("_", "\n") for n in names], fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"Safety rubric on {part}: harm found, precision and recall")
        ax.legend(fontsize=7)
        out[f"rubric-{part}"] = _png(fig)
    if "retrieval" in suites:
        r = suites["retrieval"]
        fig, ax = plt.subplots(figsize=(4, 2.6))
        ax.bar(["recall@3", "full_recall@3", "MRR"], [r["recall@3"], r["full_recall@3"], r["mrr"]])
        ax.set_ylim(0, 1.05)
        ax.set_title("Retrieval")
        out["retrieval"] = _png(fig)
    return out


def _md_to_html(md: str) -> str:
    """Enough Markdown for this report: headings, tables, lists, bold, paragraphs."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0

    def inline(s: str) -> str:
        return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(s))

    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.match(r"^\|(---\|)+$", lines[i]):
                    cells = [c.strip().replace("\\|", "|")
                             for c in re.split(r"(?<!\\)\|", lines[i])[1:-1]]
                    tag = "th" if not rows else "td"
                    tds = "".join(f"<{tag}>{inline(c)}</{tag}>" for c in cells)
                    rows.append(f"<tr>{tds}</tr>")
                i += 1
            out.append("<table>" + "".join(rows) + "</table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
        i += 1
    return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;"
        "color:#222}table{border-collapse:collapse;margin:.5em 0;font-size:.9em}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}"
        "img{max-width:100%;margin:.5em 0}li{font-size:.9em}")


def html_report(results: dict[str, Any], md: str) -> str:
    """One HTML file, no outside requests: charts are inline data URIs."""
    body = _md_to_html(md)
    for key, png in charts(results).items():
        title = {"conversations": "Conversations", "redteam": "Redteam", "screening": "Screening",
                 "retrieval": "Retrieval", "transcripts": "Transcripts"}.get(key)
        if title is None and key.startswith("rubric-"):
            title = re.escape(f"Safety rubric validated on {key[len('rubric-'):]}")
        if title is None:
            continue
        img = f'<img alt="{key} chart" src="data:image/png;base64,{png}">'
        body = re.sub(rf"(<h2>{title}[^<]*</h2>)", lambda m, img=img: m.group(1) + img, body,
                      count=1)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Trust Coach "
            f"evaluation</title><style>{_CSS}</style></head><body>{body}</body></html>")


def write_reports(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """report.md, report.html and results.json in `out` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(results)
    paths = {"md": out / "report.md", "html": out / "report.html", "json": out / "results.json"}
    paths["md"].write_text(md, encoding="utf-8")
    paths["html"].write_text(html_report(results, md), encoding="utf-8")
    paths["json"].write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return paths
