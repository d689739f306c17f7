"""The suite runs in its own environment (guards the plugin order in pyproject)."""

from django.conf import settings


def test_settings_were_read_in_the_test_environment() -> None:
    assert settings.TESTING
    assert settings.HUEY["immediate"] is True
    assert "miniops-test-" in str(settings.VAR_DIR)
