from typing import Any

import pytest

from miniops.testing import factories


@pytest.fixture
def operator(db: None) -> Any:
    return factories.operator_with_role("ops_manager")
