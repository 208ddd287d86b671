"""What a server process tells its operators, one concern a module: ``logs`` (one JSON object a
line, with the request id), ``middleware`` (request ids, the body limit, the access log and
the HTTP metrics), ``counters`` (what the gate decided and released, and the verification
guard's passes) and ``gauges`` (figures read from the database when ``/metrics`` is scraped,
and the exposition itself). The delivery worker's metrics are ``poagate.delivery.metrics``.

Metrics are prometheus-client's; with several worker processes the CLI sets
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds every worker's figures up. Their names,
labels and help texts are what dashboards and alerting rules name: change them only with them.
"""
