"""Private plumbing: settings, global state, the guard, semantic-convention names.

Nothing here is public API; import from :mod:`watchkit` instead.
"""
