"""The curated base is valid and complete; bad files are reported by file and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coach.knowledge import STAGES, chunk_user_file, infer_stage, load_cards, parse_card, word_count
from conftest import ROOT, write_card

SEEDS = {p.name for p in (ROOT.parent / "shared" / "seeds").glob("*.txt")}


def test_curated_base_is_valid_and_covers_every_stage():
    result = load_cards(ROOT / "knowledge" / "cards")
    assert result.errors == []
    assert len(result.cards) >= 40
    stages = {c.stage for c in result.cards}
    assert stages == set(STAGES)
    for card in result.cards:
        assert Path(card.path).stem == card.id
        assert 80 <= word_count(card.body) <= 250, card.id
        if card.stage != "safety":
            assert card.tip.endswith((".", "!", "?")), card.id
            assert all(q.strip().endswith("?") for q in card.questions), card.id


def test_cards_cite_real_seed_articles_and_every_article_is_used():
    cards = load_cards(ROOT / "knowledge" / "cards").cards
    used = set()
    for card in cards:
        for src in card.sources:
            if SEEDS:
                assert src in SEEDS, f"{card.id} cites unknown source {src}"
            used.add(src)
    if SEEDS:
        assert used == SEEDS


def test_guidance_avoids_labels_and_blame():
    labels = re.compile(r"\b(narcissis\w*|sociopath\w*|psychopath\w*|borderline|toxic person)\b")
    blame = re.compile(r"\b(your fault|you are overreacting|you're overreacting)\b")
    for card in load_cards(ROOT / "knowledge" / "cards").cards:
        text = f"{card.tip} {card.body} {' '.join(card.questions)}".lower()
        assert not labels.search(text), f"{card.id} labels someone: {labels.search(text)[0]}"
        for m in blame.finditer(text):
            before = text[max(0, m.start() - 30):m.start()]
            assert re.search(r"\b(not|never|none|no|isn't|wasn't)\b", before), (
                f"{card.id} blames the reader: ...{before}{m[0]}")


@pytest.mark.parametrize(
    "content, field",
    [
        ("no front matter here, just words " * 10, "front matter"),
        ("---\nid: [unclosed\n---\nbody", "front matter"),
        ("---\n- a list\n---\nbody", "front matter"),
    ],
)
def test_malformed_front_matter_names_file_and_field(tmp_path, content, field):
    path = tmp_path / "broken.md"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        parse_card(path)
    assert str(err.value).startswith(f"broken.md: {field}")


def test_each_invalid_field_is_named(tmp_path):
    cases = {
        "bad-stage": dict(stage="healing"),
        "bad-audience": dict(audience="everyone"),
        "short-body": dict(words=20),
        "long-body": dict(words=400),
        "no-tip": dict(tip='""'),
    }
    expected = {"bad-stage": "stage", "bad-audience": "audience", "short-body": "body",
                "long-body": "body", "no-tip": "tip"}
    for cid, kwargs in cases.items():
        path = write_card(tmp_path, cid, **kwargs)
        with pytest.raises(ValueError) as err:
            parse_card(path)
        assert str(err.value).startswith(f"{cid}.md: {expected[cid]}:"), str(err.value)


def test_bad_files_are_reported_and_the_rest_still_loads(tmp_path):
    write_card(tmp_path, "good-one")
    write_card(tmp_path, "good-two")
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    (tmp_path / "latin1.md").write_bytes("caf\xe9 ".encode("latin-1") * 50)
    dup = write_card(tmp_path, "dup-src", title="dup")
    dup.rename(tmp_path / "zz-dup.md")
    (tmp_path / "zz-dup.md").write_text(
        (tmp_path / "zz-dup.md").read_text().replace("id: dup-src", "id: good-one"))
    result = load_cards(tmp_path)
    assert sorted(c.id for c in result.cards) == ["good-one", "good-two"]
    joined = "\n".join(result.errors)
    assert "empty.md: file: is empty" in joined
    assert "latin1.md: file: is not UTF-8 text" in joined
    assert "zz-dup.md: id: duplicate id 'good-one'" in joined


def test_user_files_are_chunked_and_stage_inferred(tmp_path):
    para = ("When we go to couples therapy the therapist helps us talk. " * 6).strip()
    doc = tmp_path / "My Notes.md"
    doc.write_text("\n\n".join([para] * 8), encoding="utf-8")
    chunks = chunk_user_file(doc)
    assert len(chunks) > 1
    assert all(c.origin == "user" and c.stage == "professional_help" for c in chunks)
    assert all(word_count(c.body) <= 200 for c in chunks)
    assert len({c.id for c in chunks}) == len(chunks)
    assert infer_stage("nothing in particular here") == "understand"


def test_a_question_for_one_role_is_never_put_to_another(tmp_path):
    from coach.compose import pick_question
    from coach.flow import SessionState
    from coach.knowledge import load_cards

    body = " ".join(["Small reliable things done every day slowly rebuild trust."] * 12)
    (tmp_path / "c.md").write_text(
        "---\nid: reliable\ntitle: Reliable\nstage: consistency\ntopics: [consistency]\n"
        "audience: both\nsources: none\ntip: Small things count.\nfits: [hurt_partner, "
        "partner_who_broke_trust]\nquestions:\n  - ask: What could you do reliably this week?\n"
        "    for: [partner_who_broke_trust]\n  - Which small things have felt reassuring?\n"
        f"---\n{body}\n", encoding="utf-8")
    result = load_cards(tmp_path)
    assert not result.errors, result.errors
    card = result.cards[0]
    hurt = SessionState(role="hurt_partner")
    broke = SessionState(role="partner_who_broke_trust")
    assert pick_question(card, hurt) == "Which small things have felt reassuring?"
    assert pick_question(card, broke) == "What could you do reliably this week?"
    assert pick_question(card, SessionState()) == "Which small things have felt reassuring?"
    (tmp_path / "c.md").write_text((tmp_path / "c.md").read_text().replace(
        "for: [partner_who_broke_trust]", "for: [nobody]"), encoding="utf-8")
    assert "questions" in load_cards(tmp_path).errors[0]
