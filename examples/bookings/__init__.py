"""The bookings example: a driving school's booking platform on Django, Celery and Redis.

``make example NAME=bookings`` (or ``python -m examples.bookings``) runs it; see README.md.
"""
