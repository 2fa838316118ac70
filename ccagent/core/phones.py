"""Phone numbers to E.164 with a default region: phonenumbers' answer, fast (R-PRJ-7).

``phonenumbers.parse`` + ``is_valid_number`` + ``format_number(E164)`` costs
~28 µs a number (per-character Unicode digit lookups, regexes looked up by
string on every call, one pattern per number type), which alone caps a
contacts import near 35k rows/s.  Contact lists are almost always plain
digits with a few separators, so ``E164Normalizer.fast`` re-runs *the same
algorithm* for exactly that input class (ASCII digits, spaces, ``-``, ``.``,
brackets, an optional leading ``+``): the same steps in the same order
(``_maybe_extract_country_code``: ``+`` / IDD / the default country code
without ``+``; national prefix and transform rule; the possible-length
test; the region chosen among regions sharing a calling code; validity as
"matches the general description and at least one number type"), over
regexes compiled once per region from phonenumbers' own metadata.  It
answers only when the number is valid; anything else (other characters,
every error path, an invalid number) is left to phonenumbers itself, so the
result is phonenumbers' result by construction.  ``tests/projects/
test_phones.py`` checks that with hypothesis on UA, RU, US, GB, DE and
more (``+``, ``00``/``810``/``011``, national prefixes, separators, wrong
lengths, garbage).

The slow path keeps a bounded cache: contact lists repeat their odd numbers.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cache, lru_cache

import phonenumbers
from phonenumbers.phonemetadata import REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

#: Input the fast path understands: an optional leading ``+``, then ASCII digits and common separators.
_SIMPLE = re.compile(r"\+?[0-9 ().\-]*")
_DROP = str.maketrans("", "", "+ ().-")
_MAX_INPUT_STRING_LENGTH = 250  # phonenumbers: longer input is TOO_LONG
_MIN_LENGTH_FOR_NSN = 2
_MAX_LENGTH_FOR_NSN = 17
_MAX_LENGTH_COUNTRY_CODE = 3
SLOW_CACHE_SIZE = 4096


class NumberVerdict(Enum):
    """Whether a text is a phone number (not to be confused with a call's outcomes)."""

    OK = "ok"
    NOT_A_NUMBER = "not_a_number"  # phonenumbers.parse refused it
    INVALID = "invalid"  # parsed, but not a valid number


class _Len(Enum):
    POSSIBLE = 0
    LOCAL_ONLY = 1
    TOO_SHORT = 2
    INVALID_LENGTH = 3
    TOO_LONG = 4


_NOT_TAKEN = (_Len.TOO_SHORT, _Len.LOCAL_ONLY, _Len.INVALID_LENGTH)

# Number types in phonenumbers' _number_type_helper: a number is valid when it matches the general
# description and any one of these (the order only decides WHICH type, not whether one matches).
_TYPE_DESCS = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
    "fixed_line", "mobile",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Meta:
    """One region's metadata compiled for the fast path."""

    country_code: int
    country_code_str: str
    general: re.Pattern[str] | None  # general_desc national number pattern (fullmatch)
    general_lengths: tuple[int, ...]  # general_desc possible lengths (sorted)
    general_lengths_set: frozenset[int]
    local_lengths: frozenset[int]
    np_parse: re.Pattern[str] | None  # national_prefix_for_parsing
    transform: str | None  # national_prefix_transform_rule
    idd: re.Pattern[str] | None  # international_prefix
    leading_digits: re.Pattern[str] | None
    by_length: dict[int, re.Pattern[str]]  # length -> union of the type patterns allowing that length
    any_length: re.Pattern[str] | None  # union of the type patterns without length restriction

    def general_match(self, number: str) -> bool:
        """phonenumbers._match_national_number(number, general_desc, False): the pattern only."""
        return self.general is not None and self.general.fullmatch(number) is not None

    def test_length(self, number: str) -> _Len:
        """phonenumbers._test_number_length(number, metadata) for the UNKNOWN type."""
        n = len(number)
        if n in self.local_lengths:
            return _Len.LOCAL_ONLY
        lengths = self.general_lengths
        if lengths[0] == n:
            return _Len.POSSIBLE
        if lengths[0] > n:
            return _Len.TOO_SHORT
        if lengths[-1] < n:
            return _Len.TOO_LONG
        return _Len.POSSIBLE if n in lengths[1:] else _Len.INVALID_LENGTH

    def is_valid_nsn(self, nsn: str) -> bool:
        """phonenumbers._number_type_helper(nsn, metadata) != UNKNOWN."""
        n = len(nsn)
        if self.general_lengths_set and n not in self.general_lengths_set:
            return False
        if not self.general_match(nsn):
            return False
        typed = self.by_length.get(n)
        if typed is not None and typed.fullmatch(nsn) is not None:
            return True
        return self.any_length is not None and self.any_length.fullmatch(nsn) is not None

    def strip_national_prefix(self, number: str) -> str:
        """The number returned by phonenumbers._maybe_strip_national_prefix_carrier_code."""
        if not number or self.np_parse is None:
            return number
        m = self.np_parse.match(number)
        if not m:
            return number
        viable_original = self.general_match(number)
        groups = m.groups()
        if not self.transform or groups[len(groups) - 1] is None:
            if viable_original and not self.general_match(number[m.end() :]):
                return number
            return number[m.end() :]
        transformed = self.np_parse.sub(self.transform, number, count=1)
        if viable_original and not self.general_match(transformed):
            return number
        return transformed


def _union(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(patterns)))


def _compile(md: PhoneMetadata) -> _Meta | None:
    general = md.general_desc
    if general is None or not general.possible_length or md.country_code is None:
        return None  # never seen in the metadata; phonenumbers would not behave simply here
    lengths = tuple(general.possible_length)
    if list(lengths) != sorted(lengths):
        return None
    fixed: dict[int, list[str]] = {}
    free: list[str] = []
    all_lengths = set(lengths)
    for name in _TYPE_DESCS:
        if name == "mobile" and md.same_mobile_and_fixed_line_pattern:
            continue  # _number_type_helper never consults mobile then (its lengths may differ)
        desc = getattr(md, name)
        if desc is None or not desc.national_number_pattern:
            continue
        if desc.possible_length:
            for n in desc.possible_length:
                fixed.setdefault(n, []).append(desc.national_number_pattern)
                all_lengths.add(n)
        else:
            free.append(desc.national_number_pattern)
    np = md.national_prefix_for_parsing
    return _Meta(
        country_code=md.country_code,
        country_code_str=str(md.country_code),
        general=re.compile(general.national_number_pattern) if general.national_number_pattern else None,
        general_lengths=lengths,
        general_lengths_set=frozenset(lengths),
        local_lengths=frozenset(general.possible_length_local_only or ()),
        np_parse=re.compile(np) if np else None,
        transform=md.national_prefix_transform_rule or None,
        idd=re.compile(md.international_prefix) if md.international_prefix is not None else None,
        leading_digits=re.compile(md.leading_digits) if md.leading_digits is not None else None,
        by_length={n: p for n, ps in fixed.items() if (p := _union(ps)) is not None},
        any_length=_union(free),
    )


@cache
def _region_meta(region: str) -> _Meta | None:
    md = PhoneMetadata.metadata_for_region(region, None)
    return _compile(md) if md is not None else None


@cache
def _nongeo_meta(country_code: int) -> _Meta | None:
    md = PhoneMetadata.metadata_for_nongeo_region(country_code, None)
    return _compile(md) if md is not None else None


def _meta_for(country_code: int, region: str) -> _Meta | None:
    """PhoneMetadata.metadata_for_region_or_calling_code, compiled."""
    if region == REGION_CODE_FOR_NON_GEO_ENTITY:
        return _nongeo_meta(country_code)
    return _region_meta(region)


def _extract_country_code(number: str) -> tuple[int, str]:
    if not number or number[0] == "0":
        return 0, number
    for i in range(1, min(len(number), _MAX_LENGTH_COUNTRY_CODE) + 1):
        cc = int(number[:i])
        if cc in COUNTRY_CODE_TO_REGION_CODE:
            return cc, number[i:]
    return 0, number


@cache
def _single_region_meta(country_code: int) -> _Meta | None:
    """The metadata validating a calling code of ONE region (the common case), else None."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None or len(regions) != 1:
        return None
    md = _meta_for(country_code, regions[0].upper())
    if md is None or (regions[0] != REGION_CODE_FOR_NON_GEO_ENTITY and md.country_code != country_code):
        return None
    return md


def _is_valid(country_code: int, nsn: str) -> bool:
    """phonenumbers.is_valid_number: region_code_for_number, then is_valid_number_for_region."""
    single = _single_region_meta(country_code)
    if single is not None:
        return single.is_valid_nsn(nsn)
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None:
        return False
    region: str | None = None
    if len(regions) == 1:
        region = regions[0]
    else:
        for candidate in regions:
            md = _region_meta(candidate.upper())
            if md is None:
                if PhoneMetadata.metadata_for_region(candidate.upper(), None) is not None:
                    raise _Undecided  # metadata the fast path cannot compile
                continue
            if md.leading_digits is not None:
                if md.leading_digits.match(nsn):
                    region = candidate
                    break
            elif md.is_valid_nsn(nsn):
                region = candidate
                break
    if region is None:
        return False
    md = _meta_for(country_code, region.upper())
    if md is None:
        raise _Undecided
    if region != REGION_CODE_FOR_NON_GEO_ENTITY and md.country_code != country_code:
        return False
    return md.is_valid_nsn(nsn)


class _Undecided(Exception):
    """The fast path leaves this number to phonenumbers."""


def _nsn(national: str) -> str:
    """national_significant_number of what parse stores (int national number + Italian leading zeros)."""
    if national[0] != "0":
        return national  # str(int(national)) for digits without a leading zero
    zeros = 0
    if len(national) > 1 and national[0] == "0":
        zeros = 1
        while zeros < len(national) - 1 and national[zeros] == "0":
            zeros += 1
    return "0" * zeros + str(int(national))


class E164Normalizer:
    """Raw text -> (E.164 or None, outcome), exactly as phonenumbers decides it for ``region``."""

    def __init__(self, region: str) -> None:
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"default region {region!r} is not a known region code (e.g. UA, RU, US)")
        self.region = region
        self._default = _region_meta(region)
        # validity of the default calling code, when it has one region (no region-by-number step)
        single = _single_region_meta(self._default.country_code) if self._default is not None else None
        self._default_valid = single.is_valid_nsn if single is not None else None
        self._slow_cached = lru_cache(maxsize=SLOW_CACHE_SIZE)(self.slow)

    def __call__(self, text: str) -> tuple[str | None, NumberVerdict]:
        e164 = self.fast(text)
        if e164 is not None:
            return e164, NumberVerdict.OK
        return self._slow_cached(text)

    def slow(self, text: str) -> tuple[str | None, NumberVerdict]:
        """The reference: phonenumbers parse + is_valid_number + format E164."""
        try:
            num = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException:
            return None, NumberVerdict.NOT_A_NUMBER
        if not phonenumbers.is_valid_number(num):
            return None, NumberVerdict.INVALID
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164), NumberVerdict.OK

    def fast(self, text: str) -> str | None:
        """E.164 when this input is plain and phonenumbers would find it valid; None: ask ``slow``."""
        md = self._default
        if md is None or len(text) > _MAX_INPUT_STRING_LENGTH or _SIMPLE.fullmatch(text) is None:
            return None
        digits = text.translate(_DROP)
        if len(digits) < 3:
            return None  # viability of short input depends on its punctuation: phonenumbers decides
        try:
            return self._parse_valid(text[0] == "+", digits, md)
        except _Undecided:
            return None

    def _parse_valid(self, plus: bool, digits: str, default: _Meta) -> str | None:
        # _maybe_extract_country_code
        international = plus
        if not plus and default.idd is not None:
            m = default.idd.match(digits)
            if m and digits[m.end() : m.end() + 1] != "0":
                international, digits = True, digits[m.end() :]
        meta = default
        if international:
            if len(digits) <= _MIN_LENGTH_FOR_NSN:
                return None  # TOO_SHORT_AFTER_IDD
            cc, national = _extract_country_code(digits)
            if cc == 0:
                return None  # INVALID_COUNTRY_CODE (and parse's retry without the plus): phonenumbers
            extracted = True
        else:
            cc, national, extracted = default.country_code, digits, False
            ccs = default.country_code_str
            if digits.startswith(ccs):
                potential = default.strip_national_prefix(digits[len(ccs) :])
                if (not default.general_match(digits) and default.general_match(potential)) or (
                    default.test_length(digits) is _Len.TOO_LONG
                ):
                    national, extracted = potential, True
        if extracted:
            main_region = COUNTRY_CODE_TO_REGION_CODE[cc][0]
            if main_region != self.region:
                found = _meta_for(cc, main_region)
                if found is None:
                    raise _Undecided
                meta = found
        if len(national) < _MIN_LENGTH_FOR_NSN:
            return None
        potential = meta.strip_national_prefix(national)
        if meta.test_length(potential) not in _NOT_TAKEN:
            national = potential
        if len(national) > _MAX_LENGTH_FOR_NSN or len(national) < _MIN_LENGTH_FOR_NSN:
            return None
        nsn = national if national[0] != "0" else _nsn(national)
        if cc == default.country_code and self._default_valid is not None:
            valid = self._default_valid(nsn)
        else:
            valid = _is_valid(cc, nsn)
        return f"+{cc}{nsn}" if valid else None
