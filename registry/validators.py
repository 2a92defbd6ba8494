from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_siren(value: str) -> None:
    """A SIREN is nine digits whose Luhn checksum is valid (INSEE)."""
    if not (len(value) == 9 and value.isdigit() and luhn_valid(value)):
        raise ValidationError(_("A SIREN is 9 digits with a valid check digit."), code="invalid_siren")
