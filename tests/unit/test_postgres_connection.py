"""What every PostgreSQL connection is given beside its URL (spec §16): timeouts that turn a
database that went silent (a network partition) into a failed request within seconds, unless the
URL says otherwise."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from poagate.store.postgres import CONNECTION_DEFAULTS, SESSION_OPTIONS, connection_parameters

MULTI_HOST = "postgresql://poagate@db-a:5432,db-b:5432/poagate?target_session_attrs=read-write"


def test_a_url_without_timeouts_gets_keepalives_and_a_tcp_user_timeout() -> None:
    parameters = connection_parameters(MULTI_HOST)
    assert parameters["tcp_user_timeout"] == "10000"
    assert parameters["keepalives_idle"] == "5"
    assert parameters["connect_timeout"] == "5"
    assert parameters["options"] == SESSION_OPTIONS  # the database's end drops a silent client


def test_what_the_url_sets_is_kept() -> None:
    url = f"{MULTI_HOST}&connect_timeout=2&tcp_user_timeout=30000&options=-c%20work_mem%3D64MB"
    parameters = connection_parameters(url)
    assert "connect_timeout" not in parameters
    assert "tcp_user_timeout" not in parameters
    assert parameters["options"] == f"{SESSION_OPTIONS} -c work_mem=64MB"  # the URL's win
    merged = conninfo_to_dict(make_conninfo(url, **parameters))
    assert merged["connect_timeout"] == "2"
    assert merged["host"] == "db-a,db-b"
    assert merged["target_session_attrs"] == "read-write"
    assert set(CONNECTION_DEFAULTS) <= set(merged)
