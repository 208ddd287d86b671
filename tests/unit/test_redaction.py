"""What poagate prints or shows of a database URL or a webhook URL: never a credential
(docs/security.md "Secrets")."""

from __future__ import annotations

import pytest

from poagate.formats.webhook_urls import has_masked_password, masked_url
from poagate.store.postgres import redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:hunter2@db:5432/poagate", "postgresql://app:***@db:5432/poagate"),
        (
            "postgresql://app@db/poagate?password=hunter2&sslmode=require",
            "postgresql://app@db/poagate?password=***&sslmode=require",
        ),
        (
            "postgresql://db/poagate?sslmode=verify-full&sslpassword=hunter2",
            "postgresql://db/poagate?sslmode=verify-full&sslpassword=***",
        ),
        ("host=db password=hunter2 dbname=poagate", "host=db password=*** dbname=poagate"),
        ("host=db password='hun ter2' user=app", "host=db password=*** user=app"),
        ("sqlite:///var/lib/poagate/poagate.db", "sqlite:///var/lib/poagate/poagate.db"),
        ("postgresql://app@db/poagate", "postgresql://app@db/poagate"),
    ],
)
def test_a_database_urls_password_is_never_logged(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://dno:hunter2@dno.example/h", "https://dno:***@dno.example/h"),
        ("https://hunter2@dno.example/h", "https://***@dno.example/h"),
        ("https://dno.example/h?key=hunter2&x", "https://dno.example/h?key=***&***"),
        ("https://dno.example/h?sig=hunter2#top", "https://dno.example/h?sig=***#top"),
        ("https://dno.example/h", "https://dno.example/h"),
    ],
)
def test_a_webhook_urls_credentials_are_masked_and_the_mask_is_recognised(
    url: str, shown: str
) -> None:
    assert masked_url(url) == shown
    assert "hunter2" not in shown
    assert has_masked_password(shown) is (shown != url)
    assert not has_masked_password(url)
