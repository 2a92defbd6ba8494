"""The files people upload (a consent import, a suppression list), read by one rule: how their
text is encoded and which separator their columns use. Spreadsheets write them in many ways."""
from __future__ import annotations

# French Excel writes ";", most other tools ","; a "text (tab-separated)" export uses tabs.
DELIMITERS = (";", ",", "\t")


def decode(content: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 (Excel's French default). Raises
    UnicodeDecodeError when neither reads it (five bytes mean nothing in Windows-1252): such a
    file is refused rather than read with characters replaced."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252")


def detect_delimiter(first_line: str) -> str:
    """The separator the first line (a header, or a first value) uses most: ";", "," or a tab,
    in that order on a tie. A file of one column has none of them: any answer reads it alike."""
    return max(DELIMITERS, key=first_line.count)
