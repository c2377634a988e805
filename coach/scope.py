"""Questions outside what a coach may answer (medication, legal advice), answered plainly."""

from __future__ import annotations

import re

_MEDICATION = re.compile(
    r"\b(sertraline|prozac|fluoxetine|citalopram|escitalopram|zoloft|lexapro|xanax|diazepam|"
    r"antidepressants?|anti-?anxiety (meds|medication)|medications?|meds|dosage|dose)\b", re.I)
_LEGAL = re.compile(
    r"\b(lawyer|solicitor|attorney|sue|divorce (law|settlement|papers|proceedings)|custody|"
    r"prenup|alimony|legal (advice|rights)|court)\b", re.I)
_ASKING = re.compile(r"\?|\b(should i|can i|do i|is it ok|what do you think|advice)\b", re.I)


def out_of_scope(text: str) -> str | None:
    """'medication' or 'legal' when the person asks for that kind of advice, else None."""
    if not _ASKING.search(text):
        return None
    if _MEDICATION.search(text):
        return "medication"
    if _LEGAL.search(text):
        return "legal"
    return None
