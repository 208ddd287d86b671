"""The Suppression Log and the forwarded AD1s (spec §7): every decided AD1, one row each in
``ad1_outcomes`` (``UNIQUE(alert_id)``: R6 under the code as well as in it), and the repeats of
an alert_id already decided in ``ad1_duplicates``.

* ``rows`` — an AD1 outcome as a row and back, and the statements that insert outcomes and
  duplicates and record a release: the only SQL that writes these tables;
* ``decided`` — what the decision path, the guards and the incident controls read and write of
  them (which alert_ids are decided, the numbering, the entries a guard may release and its
  evidence, who released an entry, what an explanation reads);
* ``listings`` — what readers list: the Suppression Log, the feed, the counts.

Both tables age by ``received_at`` (``TABLES``).
"""

from __future__ import annotations

from poagate.store.sqlbase import Kept

TABLES = (Kept("ad1_outcomes", "received_at"), Kept("ad1_duplicates", "received_at"))
