"""Template fingerprint of a prompt, specified so a partner lab can compute the same value.

Specification (version 1), applied to ``prompt_text`` as logged (UTF-8):

1. lower-case the text;
2. replace every double-quoted span ``"..."`` and every back-quoted span ```...``` by `` <q> ``;
3. replace every token matching ``[a-z_]*[0-9_][a-z0-9_]*`` (numbers, identifiers with a
   digit or underscore such as ``parse_row12``) by `` <v> ``;
4. collapse runs of space, tab, CR and LF to one space and trim both ends;
5. the fingerprint is the lowercase hex SHA-256 of the UTF-8 bytes of the result.

Null text (zero data retention) has a null fingerprint. Steps use only regular
expressions that Java (Apache Spark), Rust (Sail) and Python read the same way; the Python
function below is the reference, and the Spark column must agree with it (tested).
"""

from __future__ import annotations

import hashlib
import re

from pyspark.sql import Column
from pyspark.sql import functions as F

VERSION = 1
QUOTED = r'"[^"]*"|`[^`]*`'
VARIABLE = r"[a-z_]*[0-9_][a-z0-9_]*"
SPACES = r"[ \t\r\n]+"


def normalize(text: str) -> str:
    text = re.sub(QUOTED, " <q> ", text.lower())
    text = re.sub(VARIABLE, " <v> ", text)
    return re.sub(SPACES, " ", text).strip(" ")


def template_fingerprint(text: str | None) -> str | None:
    """Reference implementation of the specification above."""
    if text is None:
        return None
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


def normalized_column(text: Column) -> Column:
    masked = F.regexp_replace(F.regexp_replace(F.lower(text), QUOTED, " <q> "), VARIABLE, " <v> ")
    return F.trim(F.regexp_replace(masked, SPACES, " "))


def template_fingerprint_column(text: Column) -> Column:
    """The same fingerprint as a Spark column expression (native functions, no UDF)."""
    return F.sha2(normalized_column(text), 256)
