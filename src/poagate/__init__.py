"""poagate: suppresses firmware-caused Power Outage Alerts (SEC modification MP102B)."""

__version__ = "0.1.0"
