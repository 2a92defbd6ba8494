"""Reference tables seeded from the CNIL register model's lists (corrected where out of date)."""


def seed_reference_data(apps) -> None:
    """Create or update every reference row by its code (idempotent). ``apps``: an app registry."""
