"""The parts of :mod:`watchkit.security` that know no store library.

``store`` holds what every store shares (key hashing, the error policy, the
pre-fork warning), ``memory`` the in-process login store, ``active`` the
distinct-user counts and their gauge. The Redis stores live in
``watchkit.integrations._redis_store``: only the integrations layer imports
redis.
"""
