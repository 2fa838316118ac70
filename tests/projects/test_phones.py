"""The fast E.164 path gives exactly phonenumbers' answer (R-PRJ-7).

``E164Normalizer.fast`` re-runs phonenumbers' parse + is_valid_number for plain
input over precompiled metadata; these tests compare it with phonenumbers
itself (``slow``) on generated numbers: many regions, ``+``, IDD (00, 810,
011), national prefixes, the country code without ``+``, separators, wrong
lengths, garbage.  The fast path may decline (None: phonenumbers decides),
but whenever it answers, the answer is phonenumbers'; and it must not
decline the common shapes of valid numbers (else the import is slow again).
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType as T
from phonenumbers.phonemetadata import PhoneMetadata

from ccagent.core.phones import E164Normalizer, NumberVerdict

REGIONS = ["UA", "RU", "US", "GB", "DE"]
MORE_REGIONS = [*REGIONS, "KZ", "IT", "AR", "BR", "MX", "FR", "CN", "IN", "CA", "JP", "SM", "VA", "PL", "BY"]
TYPES = [T.FIXED_LINE, T.MOBILE, T.TOLL_FREE, T.PREMIUM_RATE, T.SHARED_COST, T.VOIP, T.PERSONAL_NUMBER,
         T.PAGER, T.UAN, T.VOICEMAIL]  # fmt: skip

_normalizers: dict[str, E164Normalizer] = {}


def norm(region: str) -> E164Normalizer:
    if region not in _normalizers:
        _normalizers[region] = E164Normalizer(region)
    return _normalizers[region]


def reference(text: str, region: str) -> str | None:
    """What the import stored before the fast path: parse + is_valid_number + format E164."""
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def check(text: str, region: str) -> str | None:
    n = norm(region)
    expected = reference(text, region)
    fast = n.fast(text)
    assert fast is None or fast == expected, (text, region, fast, expected)
    e164, outcome = n(text)
    assert e164 == expected, (text, region, e164, expected)
    assert (outcome is NumberVerdict.OK) == (expected is not None)
    return fast


def _examples(region: str) -> list[tuple[int, str]]:
    out = []
    for t in TYPES:
        ex = phonenumbers.example_number_for_type(region, t)
        if ex is not None:
            out.append((ex.country_code, phonenumbers.national_significant_number(ex)))
    return out


def _seeds() -> list[tuple[int, str]]:
    seeds = []
    for region in MORE_REGIONS:
        seeds.extend(_examples(region))
    return seeds


SEEDS = _seeds()


def _national_prefix(region: str) -> str:
    md = PhoneMetadata.metadata_for_region(region)
    return (md.national_prefix or "") if md is not None else ""


def _mutate(draw: st.DrawFn, digits: str) -> str:
    op = draw(st.sampled_from(["keep", "keep", "keep", "drop", "add", "change", "swap_head"]))
    if op == "keep" or not digits:
        return digits
    i = draw(st.integers(0, len(digits) - 1))
    d = draw(st.sampled_from("0123456789"))
    if op == "drop":
        return digits[:i] + digits[i + 1 :]
    if op == "add":
        return digits[:i] + d + digits[i:]
    if op == "change":
        return digits[:i] + d + digits[i + 1 :]
    return d + digits[1:]


def _separate(draw: st.DrawFn, digits: str) -> str:
    out = []
    for ch in digits:
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from([" ", "-", ".", "(", ")", " (", ") ", "--", "  "])))
        out.append(ch)
    return "".join(out)


@st.composite
def numbers(draw: st.DrawFn) -> tuple[str, str]:
    region = draw(st.sampled_from(REGIONS + REGIONS + MORE_REGIONS))
    cc, nsn = draw(st.sampled_from(SEEDS))
    if draw(st.booleans()):  # a number of the default region itself
        own = _examples(region)
        if own:
            cc, nsn = draw(st.sampled_from(own))
    nsn = _mutate(draw, nsn)
    np = _national_prefix(region)
    form = draw(st.sampled_from(["plus", "00", "idd", "np", "cc", "bare", "np+cc", "plus+np"]))
    idd = {"RU": "810", "KZ": "810", "BY": "810", "US": "011", "CA": "011", "JP": "010"}.get(region, "00")
    body = {
        "plus": f"+{cc}{nsn}",
        "00": f"00{cc}{nsn}",
        "idd": f"{idd}{cc}{nsn}",
        "np": f"{np}{nsn}",
        "cc": f"{cc}{nsn}",
        "bare": nsn,
        "np+cc": f"{cc}{np}{nsn}",
        "plus+np": f"+{cc}{np}{nsn}",
    }[form]
    plus = body.startswith("+")
    text = ("+" if plus else "") + _separate(draw, body[1:] if plus else body)
    if draw(st.integers(0, 9)) == 0:
        text = (
            draw(st.sampled_from(["", " ", "(", "+ ", "++"]))
            + text
            + draw(st.sampled_from(["", ")", ".", "-", " x12", "#", "a"]))
        )
    return text, region


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numbers())
@example(("050 123 45 67", "UA"))
@example(("8 (800) 555-35-35", "RU"))
@example(("1 212 555 1234", "US"))
@example(("+44 (0) 20 7946 0958", "GB"))
@example(("0049 30 123456", "DE"))
@example(("810 7 495 123 45 67", "RU"))
@example(("7 701 123 4567", "KZ"))
@example(("011 15 2345-6789", "AR"))  # national prefix transform rule: 0 11 15 ... -> 9 11 ...
@example(("0351 15 234 5678", "AR"))
@example(("0 15 21 2345 6789", "BR"))  # carrier code 15 after the national prefix
@example(("90 15 21 98765 4321", "BR"))
def test_R_PRJ_7_fast_path_equals_phonenumbers_on_generated_numbers(case: tuple[str, str]) -> None:
    check(*case)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(REGIONS), st.text(alphabet="0123456789+-() .#x*/ab\u0660\uff10\u00a0", max_size=25))
def test_R_PRJ_7_fast_path_equals_phonenumbers_on_garbage(region: str, text: str) -> None:
    check(text, region)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(REGIONS), st.text(max_size=30))
def test_R_PRJ_7_fast_path_equals_phonenumbers_on_any_text(region: str, text: str) -> None:
    check(text, region)


@pytest.mark.parametrize("region", REGIONS)
def test_R_PRJ_7_fast_path_takes_the_common_shapes_of_valid_numbers(region: str) -> None:
    """Each valid example number of the region, written nationally, with + or the IDD, is decided fast."""
    md = PhoneMetadata.metadata_for_region(region)
    np = md.national_prefix or ""
    taken = declined = 0
    for cc, nsn in _examples(region):
        for text in (
            f"+{cc} {nsn}",
            f"+{cc}{nsn}",
            f"00{cc}{nsn}",
            f"{np}{nsn}",
            f"({np}{nsn[:3]}) {nsn[3:]}",
        ):
            if reference(text, region) is None:
                continue  # e.g. a number type dialled only with its own prefix
            if check(text, region) is None:
                declined += 1
            else:
                taken += 1
    assert taken >= 10 and declined == 0


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("011 15 2345-6789", "AR", "+5491123456789"),  # national prefix transform rule (0 11 15 -> 9 11)
        ("0351 15 234 5678", "AR", "+5493512345678"),
        ("0 15 21 2345 6789", "BR", "+552123456789"),  # carrier code after the national prefix
        ("7 701 123 4567", "KZ", "+77011234567"),  # country code without + (shared +7: KZ by leading digits)
        ("8 (800) 555-35-35", "RU", "+78005553535"),
        ("810 44 20 7946 0958", "RU", "+442079460958"),
        ("1 (212) 555-1234", "US", "+12125551234"),
    ],
)
def test_R_PRJ_7_fast_path_takes_prefix_rules(text: str, region: str, e164: str) -> None:
    assert reference(text, region) == e164
    assert check(text, region) == e164


def test_R_PRJ_7_every_region_example_with_plus_is_decided_like_phonenumbers() -> None:
    """All regions' example numbers in international form, parsed with each default region."""
    seeds = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        seeds.extend(_examples(region))
    declined = 0
    for region in REGIONS:
        for cc, nsn in seeds:
            if check(f"+{cc} {nsn}", region) is None and reference(f"+{cc}{nsn}", region) is not None:
                declined += 1
    assert declined == 0


def test_R_PRJ_7_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="region"):
        E164Normalizer("XX")
