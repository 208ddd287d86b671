"""spec §3: the inventory CSV and the GUID list; bad rows are reported, good rows load."""

from __future__ import annotations

import io

import pytest

from poagate.domain.reference import DeviceType, SmetsVersion
from poagate.formats.errors import InputError
from poagate.formats.reference.guid_list import content_sha256, read_guid_list
from poagate.formats.reference.inventory import normalise_postcode, postcode_sector
from poagate.formats.reference.inventory_columns import read_inventory
from tests.helpers import CHF, CHF_2, ESME, ESME_2, mpan

HEADER = (
    "device_id,device_type,smets_version,manufacturer,model,chf_id,mpan,network_operator,postcode"
)


def inventory(*rows: str, header: str = HEADER):  # type: ignore[no-untyped-def]
    return read_inventory(io.StringIO("\n".join((header, *rows)) + "\n"), "inventory.csv")


def test_good_rows_load_in_canonical_form() -> None:
    loaded = inventory(
        f"{ESME.lower()},ESME,SMETS2,Landis+Gyr,E470,{CHF.replace('-', '')},{mpan('14')},,sw1a1aa",
        f"{CHF},CHF,SMETS2,Toshiba,,,,,",
    )
    assert loaded.rejected == ()
    esme, hub = loaded.devices
    assert esme.device_id == ESME
    assert esme.chf_id == CHF
    assert esme.device_type is DeviceType.ESME
    assert esme.smets_version is SmetsVersion.SMETS2
    assert esme.manufacturer == "Landis+Gyr"
    assert esme.network_operator == "14"  # the MPAN's first two digits when empty
    assert esme.postcode == "SW1A 1AA"
    assert hub.device_type is DeviceType.CHF
    assert hub.mpan is None
    assert hub.network_operator == ""


def test_explicit_network_operator_is_kept() -> None:
    loaded = inventory(f"{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan('14')},23,")
    assert loaded.devices[0].network_operator == "23"


def test_cells_with_stray_spaces_are_trimmed() -> None:
    loaded = inventory(f" {ESME} , esme ,smets2 , LANDIS+GYR ,,{CHF} , {mpan()} , 10 , SW1A 1AA ")
    assert loaded.rejected == ()
    device = loaded.devices[0]
    assert (device.device_id, device.chf_id, device.manufacturer) == (ESME, CHF, "LANDIS+GYR")
    assert device.postcode == "SW1A 1AA"


def test_bad_rows_are_rejected_with_line_numbers_and_good_rows_still_load() -> None:
    loaded = inventory(
        f"{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan()},,",  # line 2: good
        f"not-a-device,ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan()},,",  # 3
        f"{ESME_2},METER,SMETS2,LANDIS+GYR,,{CHF_2},{mpan()},,",  # 4
        f"{ESME_2},ESME,SMETS3,LANDIS+GYR,,{CHF_2},{mpan()},,",  # 5
        f"{ESME_2},ESME,SMETS2,LANDIS+GYR,,{CHF_2},1234567890125,,",  # 6
        f"{ESME_2},ESME,SMETS2,LANDIS+GYR,,{CHF_2},,,",  # 7
        f"{ESME_2},ESME,SMETS2,LANDIS+GYR,,{CHF_2},{mpan()},1,",  # 8
        f"{ESME_2},ESME,SMETS2,LANDIS+GYR,,hub,{mpan()},,",  # 9
        f"{ESME_2},ESME,SMETS2,LANDIS+GYR,,{CHF_2},{mpan()},,NOWHERE",  # 10
        f"{ESME_2},ESME,SMETS2",  # 11
        "",  # 12: blank, skipped
        f"{CHF_2},CHF,SMETS2,WNC,,,,,",  # 13: good
    )
    assert [d.device_id for d in loaded.devices] == [ESME, CHF_2]
    found = [(r.line, r.error) for r in loaded.rejected]
    expected = [
        (3, "device_id: 'not-a-device' is not a Device ID"),
        (4, "device_type 'METER' is not one of ESME GSME CHF GPF PPMID HCALCS"),
        (5, "smets_version 'SMETS3' is not SMETS1 or SMETS2"),
        (6, "fails its check digit"),
        (7, "mpan is required for an ESME"),
        (8, "network operator '1' must be a two-digit distributor id"),
        (9, "chf_id: 'hub' is not a Device ID"),
        (10, "postcode 'NOWHERE' is not a UK postcode"),
        (11, "row has 3 fields; the header has 9"),
    ]
    assert len(found) == len(expected)
    for (line, error), (want_line, want_text) in zip(found, expected, strict=True):
        assert line == want_line
        assert want_text in error
    assert all(r.source == "inventory.csv" for r in loaded.rejected)
    assert loaded.rejected[0].raw.startswith("not-a-device,ESME")
    assert loaded.rows_read == 11  # the blank line is not a row


def test_later_row_for_a_device_wins_within_one_file() -> None:
    loaded = inventory(
        f"{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF},{mpan()},,",
        f"{ESME},ESME,SMETS2,LANDIS+GYR,,{CHF_2},{mpan()},,",
    )
    assert len(loaded.devices) == 1
    assert loaded.devices[0].chf_id == CHF_2


def test_columns_may_come_in_any_order_and_extra_columns_are_ignored() -> None:
    header = (
        "postcode,mpan,device_id,chf_id,device_type,smets_version,manufacturer,model,"
        "network_operator,comment"
    )
    loaded = inventory(f",{mpan()},{ESME},{CHF},ESME,SMETS2,LANDIS+GYR,,,hello", header=header)
    assert loaded.rejected == ()
    assert loaded.devices[0].chf_id == CHF


def test_missing_columns_make_the_file_unusable() -> None:
    with pytest.raises(InputError, match="lacks column\\(s\\) chf_id, mpan"):
        inventory(
            header="device_id,device_type,smets_version,manufacturer,model,network_operator,postcode"
        )
    with pytest.raises(InputError, match="empty; it needs a header row"):
        read_inventory(io.StringIO(""), "inventory.csv")


@pytest.mark.parametrize(
    ("text", "canonical", "sector"),
    [
        ("SW1A 1AA", "SW1A 1AA", "SW1A 1"),
        ("sw1a1aa", "SW1A 1AA", "SW1A 1"),
        ("m1  1ae", "M1 1AE", "M1 1"),
        ("EC1A 1BB", "EC1A 1BB", "EC1A 1"),
    ],
)
def test_postcodes_are_normalised_and_give_their_sector(
    text: str, canonical: str, sector: str
) -> None:
    assert normalise_postcode(text) == canonical
    assert postcode_sector(canonical) == sector


def test_guid_list_skips_header_comments_and_blank_lines() -> None:
    text = f"device_id\n# suppliers' list, March\n\n{ESME.lower()}\n{ESME_2.replace('-', '')}\n"
    loaded = read_guid_list(io.StringIO(text), "guid.txt")
    assert loaded.devices == frozenset({ESME, ESME_2})
    assert loaded.rejected == ()


def test_guid_list_rejects_bad_lines_with_their_numbers() -> None:
    text = f"{ESME}\nnot-a-device\n{ESME_2},extra\n"
    loaded = read_guid_list(io.StringIO(text), "guid.txt")
    assert loaded.devices == frozenset({ESME, ESME_2})  # a CSV's first column is the Device ID
    assert [(r.line, r.source) for r in loaded.rejected] == [(2, "guid.txt")]
    assert "not a Device ID" in loaded.rejected[0].error


def test_guid_list_sha256_is_of_the_normalised_content() -> None:
    one = read_guid_list(io.StringIO(f"{ESME}\n{ESME_2}\n"), "a")
    other = read_guid_list(
        io.StringIO(f"# another spelling\n{ESME_2.lower()}\n{ESME}\n{ESME}\n"), "b"
    )
    assert one.sha256 == other.sha256 == content_sha256({ESME, ESME_2})
    assert read_guid_list(io.StringIO(f"{ESME}\n"), "c").sha256 != one.sha256
