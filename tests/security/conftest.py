"""The session's private redis-server for the security tests."""

from tests.support.redis_server import redis_server  # noqa: F401 - the fixture
