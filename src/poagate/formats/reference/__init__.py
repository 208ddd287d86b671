"""Reference data's files (spec §3, §11): the inventory CSV, read row by row
(``inventory``) or in bulk into packed device records (``inventory_columns``,
``bulk_cells``, ``device_records``), and the GUID list (``guid_list``); both read a block of
whole lines at a time (``lines``), so memory does not grow with a national file."""
