"""Crisis resources: the right numbers for the right place, and loud failure on a bad file."""

from __future__ import annotations

import os
import re

import pytest

from coach.config import data_dir
from coach.errors import KnowledgeError
from coach.safety import resources as res


def test_all_required_regions_are_present():
    assert set(res.REQUIRED_REGIONS) <= set(res.regions())


@pytest.mark.parametrize("code,number", [
    ("us", "911"), ("uk", "999"), ("ca", "911"), ("au", "000"), ("nz", "111"),
])
def test_emergency_numbers(code, number):
    assert res.emergency_number(code) == number


def test_ireland_emergency_names_both_numbers():
    assert "112" in res.emergency_number("ie") and "999" in res.emergency_number("ie")


@pytest.mark.parametrize("alias,code", [
    ("GB", "uk"), ("gb", "uk"), ("USA", "us"), (" Us ", "us"), ("England", "uk"),
    ("Aotearoa", "nz"), ("fr", "international"), ("", "international"), (None, "international"),
])
def test_aliases_and_unknown_regions(alias, code):
    assert res.normalise_region(alias) == code


def test_unknown_region_gets_the_international_directory():
    services = res.resources_for("brazil", "self_harm")
    assert any("findahelpline.com" in (s.url or "") for s in services)
    assert "local emergency number" in res.emergency_number("brazil")


@pytest.mark.parametrize("region,category,expected", [
    ("us", "self_harm", "988"),
    ("us", "abuse", "1-800-799-7233"),
    ("uk", "self_harm", "116 123"),
    ("uk", "abuse", "0808 2000 247"),
    ("ca", "self_harm", "988"),
    ("au", "self_harm", "13 11 14"),
    ("au", "abuse", "1800 737 732"),
    ("ie", "self_harm", "116 123"),
    ("ie", "abuse", "1800 341 900"),
    ("nz", "self_harm", "1737"),
    ("nz", "self_harm", "0800 543 354"),
])
def test_known_numbers_reach_the_right_people(region, category, expected):
    services = res.resources_for(region, category)
    assert any(expected in (s.phone or "") or expected in (s.text or "") for s in services)


def test_specialist_service_comes_first():
    assert res.resources_for("uk", "abuse")[0].name.startswith("National Domestic Abuse")
    assert res.resources_for("us", "self_harm")[0].short_name == "988 Suicide & Crisis Lifeline"


def test_uk_user_never_gets_us_numbers():
    for category in res.SERVICE_CATEGORIES:
        for s in res.resources_for("gb", category):
            assert s.region in ("uk", "international")
            assert "988" not in (s.phone or "") and "1-800" not in (s.phone or "")


@pytest.mark.parametrize("region", res.REQUIRED_REGIONS)
def test_every_region_covers_each_need(region):
    for category in ("self_harm", "abuse", "child_safety", "therapy"):
        assert res.resources_for(region, category), (region, category)


def test_every_entry_has_source_and_checked_date():
    for region in res.regions():
        for s in res.resources_for(region):
            assert s.source.startswith("https://") and re.match(r"\d{4}-\d{2}-\d{2}$", s.checked)
            assert s.phone or s.text or s.url


def test_markdown_line_shows_how_to_reach():
    line = res.resources_for("us", "abuse")[0].markdown()
    assert "call 1-800-799-7233" in line and "text START to 88788" in line and "24/7" in line


def _copy_knowledge(tmp_path, monkeypatch, edit):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    text = (data_dir("knowledge") / "resources.yaml").read_text(encoding="utf-8")
    (folder / "resources.yaml").write_text(edit(text), encoding="utf-8")
    monkeypatch.setenv("COACH_KNOWLEDGE_DIR", str(folder))
    return folder / "resources.yaml"


def test_missing_field_fails_loudly_naming_file_and_field(tmp_path, monkeypatch):
    path = _copy_knowledge(tmp_path, monkeypatch,
                           lambda t: t.replace("        source: https://988lifeline.org\n", "", 1))
    with pytest.raises(KnowledgeError) as err:
        res.load()
    msg = str(err.value)
    assert str(path) in msg and "regions.us.services[0].source" in msg and "\n" not in msg


def test_unknown_category_fails_loudly(tmp_path, monkeypatch):
    _copy_knowledge(tmp_path, monkeypatch,
                    lambda t: t.replace("for: [abuse]", "for: [abuse, cats]", 1))
    with pytest.raises(KnowledgeError, match=r"\.for: unknown category 'cats'"):
        res.resources_for("us")


def test_bad_date_fails_loudly(tmp_path, monkeypatch):
    _copy_knowledge(tmp_path, monkeypatch,
                    lambda t: t.replace("checked: 2026-11-22", "checked: soon", 1))
    with pytest.raises(KnowledgeError, match=r"checked: must be a date"):
        res.regions()


def test_missing_region_fails_loudly(tmp_path, monkeypatch):
    _copy_knowledge(tmp_path, monkeypatch, lambda t: t.replace("  nz:\n", "  nzz:\n"))
    with pytest.raises(KnowledgeError, match=r"missing required region\(s\): nz"):
        res.regions()


def test_missing_file_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_KNOWLEDGE_DIR", str(tmp_path))
    with pytest.raises(KnowledgeError, match="resources.yaml: file not found"):
        res.emergency_number("us")


def test_edits_to_the_file_are_picked_up(tmp_path, monkeypatch):
    path = _copy_knowledge(tmp_path, monkeypatch, lambda t: t)
    assert res.emergency_number("au") == "000"
    path.write_text(path.read_text().replace('emergency: "000"', 'emergency: "000 or 112"'))
    os.utime(path, (1, 1))  # a new mtime even when the write lands in the same clock tick
    assert res.emergency_number("au") == "000 or 112"
