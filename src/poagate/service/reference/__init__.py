"""Reference data in the service (spec §3, §11): loading the inventory and the GUID list
(``loads``), a server's cache of the devices its groups ask for (``device_cache``), and a
replay's view of the fleet, read ahead a stretch of events at a time (``replay_fleet``)."""
