"""The 14 licensed DNO areas of Great Britain, with their distributor ids (the first two digits
of an MPAN), roughly how many customers each serves (millions), and postcode areas within them.

The customer numbers are rounded public figures, good enough to weight a simulated fleet; the
postcode areas are a sample of each licence area, not a complete map.
"""

from __future__ import annotations

from poagate.domain.values import value


@value
class DnoArea:
    distributor_id: str
    name: str
    operator: str
    customers_m: float
    postcode_areas: tuple[str, ...]


DNO_AREAS = (
    DnoArea("10", "Eastern", "UK Power Networks", 3.7, ("CB", "CO", "IP", "NR", "PE", "CM", "SG")),
    DnoArea("11", "East Midlands", "National Grid ED", 2.7, ("NG", "LE", "DE", "NN", "LN")),
    DnoArea("12", "London", "UK Power Networks", 2.4, ("E", "N", "NW", "SE", "SW", "W")),
    DnoArea("13", "Merseyside and North Wales", "SP Energy Networks", 1.5, ("L", "CH", "LL")),
    DnoArea("14", "West Midlands", "National Grid ED", 2.5, ("B", "CV", "WV", "WS", "DY")),
    DnoArea("15", "North East", "Northern Powergrid", 1.6, ("NE", "SR", "DH", "TS", "DL")),
    DnoArea("16", "North West", "Electricity North West", 2.4, ("M", "BL", "PR", "WN", "OL")),
    DnoArea("17", "North Scotland", "SSEN Distribution", 0.8, ("AB", "IV", "PH", "KW", "DD")),
    DnoArea("18", "South Scotland", "SP Energy Networks", 2.0, ("G", "EH", "KA", "ML", "FK")),
    DnoArea("19", "South East", "UK Power Networks", 2.3, ("BN", "CT", "TN", "ME", "RH")),
    DnoArea("20", "Southern", "SSEN Distribution", 3.0, ("SO", "PO", "RG", "OX", "BH")),
    DnoArea("21", "South Wales", "National Grid ED", 1.1, ("CF", "SA", "NP")),
    DnoArea("22", "South West", "National Grid ED", 1.6, ("EX", "PL", "TR", "BS", "TA")),
    DnoArea("23", "Yorkshire", "Northern Powergrid", 2.3, ("LS", "BD", "HU", "S", "YO")),
)

AREAS_BY_ID = {a.distributor_id: a for a in DNO_AREAS}
