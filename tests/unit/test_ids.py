"""spec §2 and §4: Device IDs, MPANs and Request IDs in canonical form."""

from __future__ import annotations

import pytest

from poagate.domain.ids import (
    IdentifierError,
    mpan_check_digit,
    parse_device_id,
    parse_mpan,
    parse_network_operator,
    parse_request_id,
)


@pytest.mark.parametrize(
    "text",
    ["00-DB-12-34-56-78-90-A0", "00-db-12-34-56-78-90-a0", "00DB1234567890A0", "00db1234567890a0"],
)
def test_device_id_accepts_both_forms_and_either_case(text: str) -> None:
    assert parse_device_id(text) == "00-DB-12-34-56-78-90-A0"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00-DB-12-34-56-78-90",  # seven pairs
        "00:DB:12:34:56:78:90:A0",  # other separator
        "00-DB-12-34-56-78-90-AG",  # not hex
        "00DB1234567890A",  # 15 digits
        " 00-DB-12-34-56-78-90-A0",  # surrounding space
        "00-DB12-34-56-78-90-A0-",
    ],
)
def test_device_id_rejects_anything_else_and_says_what_is_expected(text: str) -> None:
    with pytest.raises(IdentifierError, match="is not a Device ID: expected 8 hex pairs"):
        parse_device_id(text)


def test_mpan_check_digit_follows_the_spec_weights() -> None:
    # 1*3+2*5+3*7+4*13+5*17+6*19+7*23+8*29+9*31+0*37+1*41+2*43 = 1084; 1084 % 11 = 6
    assert mpan_check_digit("123456789012") == 6
    assert parse_mpan("1234567890126") == "1234567890126"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1234567890125", "fails its check digit: the last digit should be 6"),
        ("123456789012", "must be exactly 13 digits"),
        ("12345678901a6", "must be exactly 13 digits"),
    ],
)
def test_mpan_rejects_bad_length_characters_and_check_digit(text: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        parse_mpan(text)


def test_mpan_check_digit_result_ten_becomes_zero() -> None:
    # The sum mod 11 can be 10, which mod 10 is 0.
    found = next(f"{n:012d}" for n in range(10**6) if sum_mod_11(f"{n:012d}") == 10)
    assert mpan_check_digit(found) == 0


def sum_mod_11(digits: str) -> int:
    weights = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11


def test_request_id_is_canonical_device_ids_and_counter_without_leading_zeros() -> None:
    rid = parse_request_id("90b3d51f30010000:00-db-12-34-56-78-90-a0:000123")
    assert str(rid) == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:123"
    assert rid.originator == "90-B3-D5-1F-30-01-00-00"
    assert rid.target == "00-DB-12-34-56-78-90-A0"
    assert str(parse_request_id("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:0")).endswith(":0")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12345", "must have three parts"),
        ("a:b:c:d", "must have three parts"),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:12x", "is not a decimal number"),
        ("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:-1", "is not a decimal number"),
        ("90-B3-D5-1F-30-01-00-00:not-a-device:1", "not a Device ID"),
    ],
)
def test_request_id_rejects_malformed_parts(text: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        parse_request_id(text)


def test_network_operator_is_two_digits() -> None:
    assert parse_network_operator("23") == "23"
    for bad in ("1", "123", "AB", ""):
        with pytest.raises(IdentifierError, match="two-digit distributor id"):
            parse_network_operator(bad)
