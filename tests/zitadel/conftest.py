"""The local OpenID provider, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.zitadel.op import OPProcess, require_op


@pytest.fixture(scope="session")
def op() -> Iterator[OPProcess]:
    """A provider on 127.0.0.1 with an ephemeral port, stopped by PID at the end."""
    require_op()
    process = OPProcess.start()
    yield process
    process.stop()
