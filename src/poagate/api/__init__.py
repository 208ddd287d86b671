"""The HTTP service: ingest for the DSP, the Suppression Log and pull feed for DNOs, and
reference data, configuration and deliveries for DCC operations (FastAPI)."""
