"""Account snapshot lines to typed rows, each either valid or carrying a quarantine reason."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from distillguard.ingest import contract as c
from distillguard.ingest.common import first_in_line, first_named, first_per_key, not_a_json_object, undecodable
from distillguard.ingest.keyed_hash import hmac_sha256_hex

COUNTRY = r"^[A-Z]{2}$"
ACCOUNT_COLUMNS = (
    "snapshot_date",
    "account_id",
    "org_id",
    "created_at",
    "signup_country",
    "billing_country",
    "kyc_tier",
    "plan",
    "payment_fingerprint",
    "email_domain",
    "zero_data_retention",
    "source_file",
)


def parse_account_lines(lines: DataFrame, snapshot_date: date | Column) -> DataFrame:
    """Every line of a snapshot, typed, with ``reason``/``detail`` set when invalid
    (``snapshot_date``: a column, ``folder_date``, for the lines of several snapshots)."""
    line = F.col("value")
    parsed = lines.select(
        line.alias("value"),
        "source_file",
        F.from_json(line, c.struct(c.ACCOUNT_FIELDS)).alias("t"),
        F.from_json(line, c.struct(c.ACCOUNT_FIELDS, as_strings=True)).alias("s"),
    )
    t, s = F.col("t"), F.col("s")
    created_at = s["created_at"].try_cast("timestamp")
    missing = first_named([(name, s[name].isNull()) for name in c.REQUIRED_ACCOUNT_FIELDS])
    type_error = F.coalesce(
        first_in_line(
            line, [("zero_data_retention", s["zero_data_retention"].isNotNull() & t["zero_data_retention"].isNull())]
        ),
        first_named(
            [
                ("created_at not RFC 3339", ~s["created_at"].rlike(c.RFC3339) | created_at.isNull()),
                ("kyc_tier not in contract", ~s["kyc_tier"].isin(*c.KYC_TIERS)),
                ("plan not in contract", ~s["plan"].isin(*c.PLANS)),
                ("signup_country not alpha-2", ~s["signup_country"].rlike(COUNTRY)),
                ("billing_country not alpha-2", ~s["billing_country"].rlike(COUNTRY)),
            ]
        ),
    )
    malformed = not_a_json_object(line)
    reason = (
        F.when(undecodable(line), F.lit(c.INVALID_UTF8))
        .when(malformed, F.lit(c.MALFORMED_JSON))
        .when(missing.isNotNull(), F.lit(c.MISSING_REQUIRED))
        .when(type_error.isNotNull(), F.lit(c.WRONG_TYPE))
    )
    detail = (
        F.when(undecodable(line), F.lit("bytes that are not UTF-8"))
        .when(malformed, F.lit("not one JSON object"))
        .when(missing.isNotNull(), missing)
        .when(type_error.isNotNull(), type_error)
    )
    return parsed.select(
        F.lit(snapshot_date).alias("snapshot_date"),
        t["account_id"].alias("account_id"),
        t["org_id"].alias("org_id"),
        created_at.alias("created_at"),
        *[
            t[name].alias(name)
            for name in (
                "signup_country",
                "billing_country",
                "kyc_tier",
                "plan",
                "payment_fingerprint",
                "email_domain",
                "zero_data_retention",
            )
        ],
        "source_file",
        F.lit(snapshot_date).alias("landing_date"),
        reason.alias("reason"),
        detail.alias("detail"),
        F.when(reason.isNotNull(), line).alias("raw_line"),
        F.when(reason.isNotNull(), s["account_id"]).alias("record_key"),
    )


def dedupe_snapshot(valid: DataFrame) -> DataFrame:
    """One row per account_id in each snapshot; the last line of the file wins ties by name."""
    return first_per_key(valid, ["snapshot_date", "account_id"], [F.col("source_file").desc(), *sorted(valid.columns)])


def refined_accounts(valid: DataFrame, partner_key: bytes) -> DataFrame:
    """Typed snapshot rows plus the partner-shared HMAC of the payment fingerprint, so
    partner indicators match without anyone exchanging the fingerprint itself."""
    return valid.select(
        *ACCOUNT_COLUMNS, hmac_sha256_hex(F.col("payment_fingerprint"), partner_key).alias("payment_fingerprint_hmac")
    )
