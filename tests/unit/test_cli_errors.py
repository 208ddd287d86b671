"""How a command ends when its store or a file cannot be used (``cli.shared.store_errors``):
the message on one line and exit status 1, whichever command it is; other errors are left to
the command."""

from __future__ import annotations

import pytest
import typer

from poagate.cli.shared import FAILURE, store_errors
from poagate.store import StoreError, StoreUnavailableError


@pytest.mark.parametrize(
    "error",
    [StoreError("the store is from a newer poagate"), StoreUnavailableError("down"), OSError(5)],
)
def test_a_store_or_file_that_cannot_be_used_ends_the_command_with_status_1(
    error: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as ended, store_errors():
        raise error
    assert ended.value.exit_code == FAILURE
    assert str(error) in capsys.readouterr().err


def test_what_a_command_names_ends_it_the_same_way_and_anything_else_is_left_to_it() -> None:
    with pytest.raises(typer.Exit), store_errors(LookupError):
        raise LookupError("superseded")
    with pytest.raises(ValueError, match="a usage error"), store_errors():
        raise ValueError("a usage error")
