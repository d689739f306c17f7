"""The test environment is set by miniops.testing.environment (loaded with -p,
before Django); shared fixtures live in miniops.testing.fixtures."""

pytest_plugins = ["miniops.testing.fixtures"]
