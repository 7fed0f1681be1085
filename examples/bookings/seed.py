"""Create the tables and the demo data: learners and two weeks of lessons.

DJANGO_SETTINGS_MODULE=examples.bookings.settings python -m examples.bookings.seed
"""

from __future__ import annotations

import datetime as dt
import os

#: Every demo learner's password (the traffic script signs in with it).
PASSWORD = "learn-to-drive"
LEARNERS = 24
INSTRUCTORS = ("Ana", "Bruno", "Chloe")


def learner(number: int) -> tuple[str, str]:
    """The user name and e-mail address of demo learner ``number`` (3, 9, 15 and 21 bounce)."""
    name = f"learner{number:02d}"
    domain = "bounce.example" if number % 6 == 3 else "example.org"
    return name, f"{name}@{domain}"


def prepare() -> None:
    """Migrate the SQLite database and fill it once."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.bookings.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from examples.bookings.models import Slot
    from examples.bookings.settings import DB_PATH

    os.makedirs(os.path.dirname(DB_PATH) or ".", exist_ok=True)
    call_command("migrate", run_syncdb=True, verbosity=0)
    if User.objects.exists():
        return
    for number in range(1, LEARNERS + 1):
        name, email = learner(number)
        User.objects.create_user(name, email, PASSWORD)
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    Slot.objects.bulk_create(
        Slot(instructor=who, starts_at=today + dt.timedelta(days=day, hours=hour))
        for day in range(1, 15)
        for hour in range(8, 18)
        for who in INSTRUCTORS
    )


if __name__ == "__main__":
    prepare()
