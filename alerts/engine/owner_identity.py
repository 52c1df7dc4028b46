"""The report page's keys, pure: signed building tokens, phone numbers (checked, masked, hashed), device keys.

A building token is what a building's QR code carries: ``v1.<site>.<building>.<expiry>.<signature>``, the
signature an HMAC-SHA256 over site, building and expiry (epoch seconds) with the secret from the settings.
Nobody logs in: holding a valid token is being allowed to report about that building until it expires.
Phone numbers are keyed by an HMAC with the same secret, so a points balance follows a number that is
never stored in the clear outside its ticket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^0[1-9][0-9]{1,2}[0-9]{7,8}$")


class TokenProblem(StrEnum):
    MALFORMED = "this QR code's link is damaged: scan it again"
    FORGED = "this QR code's link was not issued by the property desk"
    EXPIRED = "this QR code has expired: please scan the code posted in your building's lobby"
    OTHER_SITE = "this QR code belongs to another compound"
    UNKNOWN_BUILDING = "this QR code names a building the property desk does not know"


@dataclass(frozen=True, slots=True)
class BuildingPass:
    """What a valid token allows: reports about ``building`` of ``site`` until ``expires``."""

    site: str
    building: str
    expires: datetime


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _building_message(site: str, building: str, exp: str) -> str:
    return "\n".join(("building", site, building, exp))


def sign_building(secret: str, site: str, building: str, expires: datetime) -> str:
    if not (_ID.match(site) and _ID.match(building)):
        raise ValueError("site and building ids must match [A-Za-z0-9_-]{1,64}")
    exp = int(expires.timestamp())
    return f"v1.{site}.{building}.{exp}.{_mac(secret, _building_message(site, building, str(exp)))}"


def check_building(
    secret: str, token: str, site: str, buildings: set[str], now: datetime
) -> BuildingPass | TokenProblem:
    """The pass a token gives at ``now``, or why it gives none (a forged token is refused before the rest)."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != "v1" or not parts[3].isdigit():
        return TokenProblem.MALFORMED
    _, token_site, building, exp, signature = parts
    if not (_ID.match(token_site) and _ID.match(building)) or len(exp) > 12:
        return TokenProblem.MALFORMED
    expected = _mac(secret, _building_message(token_site, building, exp))
    if not hmac.compare_digest(expected, signature):
        return TokenProblem.FORGED
    if token_site != site:
        return TokenProblem.OTHER_SITE
    expires = datetime.fromtimestamp(int(exp), UTC)
    if expires <= now:
        return TokenProblem.EXPIRED
    if building not in buildings:
        return TokenProblem.UNKNOWN_BUILDING
    return BuildingPass(site=token_site, building=building, expires=expires)


def normalise_phone(raw: str) -> str | None:
    """Digits only (``+86``, spaces and dashes dropped); None when it is no mainland mobile or landline."""
    digits = re.sub(r"[\s()-]", "", raw.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if _MOBILE.match(digits) or _LANDLINE.match(digits):
        return digits
    return None


def mask_phone(phone: str) -> str:
    """138****5678 (a mobile), 0571****5678 (a landline: area code and last four kept)."""
    if phone.startswith("1"):
        return f"{phone[:3]}****{phone[-4:]}"
    area = 3 if phone[1] in "12" else 4
    return f"{phone[:area]}****{phone[-4:]}"


def phone_key(secret: str, site: str, phone: str) -> str:
    """The points holder's key: an HMAC of the (normalised) number, per site."""
    return _mac(secret, f"phone\n{site}\n{phone}")


def device_key(secret: str, device: str) -> str:
    """A device (its cookie, else its address) as a key that says nothing of the device."""
    return _mac(secret, f"device\n{device}")
