"""The working group's figures (SEC MP102B, July 2022, from the MP122A May 2022 report), in one
place: the demo, the simulator and the business case all price a site visit the same."""

from __future__ import annotations

AD1_PER_MONTH = 17_113  # firmware-caused AD1s a month
SITE_VISIT_GBP = 80  # what a DNO site visit costs
ONE_OFF_GBP = 197_524  # the DCC's implementation cost
SUPPORT_PER_MONTH_GBP = 1_722  # the DCC's application support
