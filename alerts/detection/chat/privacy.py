"""Masking on arrival: phone numbers and ID numbers never reach the database or a log (docs/owners.md).

A mainland mobile number keeps its first three and last four digits (138****5678), a landline its area
code, an 18-character resident ID number its first and last character. Masked before anything else reads
the text, so the analysis, the kept text and the timeline notes all see the masked form.
"""

from __future__ import annotations

import re

_ID_NUMBER = re.compile(
    r"(?<![0-9])([1-9][0-9]{5})(?:19|20)[0-9]{2}[01][0-9][0-3][0-9][0-9]{3}[0-9Xx](?![0-9])"
)
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9][0-9])[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2})-([0-9]{7,8})(?![0-9])")


def mask(text: str) -> str:
    text = _ID_NUMBER.sub(lambda m: m.group(0)[0] + "*" * 16 + m.group(0)[-1], text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}-" + "*" * len(m.group(2)), text)
