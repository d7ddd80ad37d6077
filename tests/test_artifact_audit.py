"""Single-feature AUC (models/feature_audit.py) and per-account audit properties, hand-computed."""

from __future__ import annotations

import math

import pandas as pd

from distillguard.models.feature_audit import as_metrics, feature_auc, roc_auc
from distillguard.synthetic import audit


def test_roc_auc_counts_pairs_ties_half_and_weights() -> None:
    assert roc_auc(pd.Series([1, 2, 3, 4]), pd.Series([0, 0, 1, 1])) == 1.0
    assert roc_auc(pd.Series([4, 3, 2, 1]), pd.Series([0, 0, 1, 1])) == 0.0
    # Positives 2 and 3 against negatives 1 and 3: wins 1 + 1, tie 0.5, loss 0 -> 2.5 / 4.
    assert roc_auc(pd.Series([2, 3, 1, 3]), pd.Series([1, 1, 0, 0])) == 0.625
    # Weight 3 on the negative the positive beats: (3 * 1 + 1 * 0) / (1 * 4).
    assert roc_auc(pd.Series([2, 1, 5]), pd.Series([1, 0, 0]), pd.Series([1.0, 3.0, 1.0])) == 0.75
    assert math.isnan(roc_auc(pd.Series([1.0, 2.0]), pd.Series([1, 1])))


def test_feature_auc_orders_categories_and_skips_missing() -> None:
    frame = pd.DataFrame(
        {
            "label": [1, 1, 0, 0],
            "kyc_tier": ["none", "basic", "verified", "enterprise"],
            "spend": [3.0, None, 1.0, 2.0],
            "flag": [True, False, False, False],
        }
    )
    table = feature_auc(frame, "label", ["spend", "kyc_tier", "flag"]).set_index("feature")
    assert table.loc["kyc_tier", "auc"] == 0.0 and table.loc["kyc_tier", "separation"] == 1.0
    assert table.loc["spend", "auc"] == 1.0 and table.loc["spend", "missing_share"] == 0.25
    assert (table.loc["spend", "positives"], table.loc["spend", "negatives"]) == (1, 2)
    assert table.loc["flag", "auc"] == 0.75
    assert table["separation"].is_monotonic_decreasing
    assert as_metrics(table.reset_index()) == {
        "feature_auc_spend": 1.0,
        "feature_auc_kyc_tier": 0.0,
        "feature_auc_flag": 0.75,
    }


def test_account_properties_from_request_rows() -> None:
    day = 86_400_000
    requests = pd.DataFrame(
        {
            "account_id": ["a", "a", "a", "a", "b"],
            "ts_ms": [0, 1_000, 2_000, 4_000, day + 5],
            "api_key_id": ["k1", "k1", "k2", "k1", "k9"],
            "model": ["atlas-4-reasoning", "atlas-4", "atlas-4", "atlas-4", "atlas-5-reasoning"],
            "endpoint": ["messages", "batch", "messages", "messages", "messages"],
            "completion_tokens": [10, 20, 30, 40, 100],
            "cost_usd": [1.0, 1.0, 1.0, 1.0, 3.0],
            "client_ip": ["10.0.1.5", "10.0.1.9", "10.0.2.5", "2a02:1:2:3::7", None],
            "asn": [1, 1, 1, 2, None],
            "asn_kind": ["mobile"] * 4 + [None],
            "country": ["US", "US", "DE", "US", None],
            "user_agent": ["x", "x", "y", "x", "z"],
            "org_id": [None] * 5,
            "temperature": [0.0, 0.0, 0.7, None, 1.0],
            "tools": [0, 3, 0, 0, 2],
            "finish_reason": ["stop", "tool_use", "stop", "length", "stop"],
            "system_prompt_sha256": [None] * 5,
            "prompt_text": ["hi", None, "x", "y", "z"],
            "reasoning_ref_issued": ["r1", None, None, None, "r2"],
            "ref_sent": [None, "r1", None, None, None],
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "org_id": [None, "org_1", None],
            "created_at": ["1969-12-30T00:00:00Z", "1970-01-02T00:00:00Z", "1970-01-01T00:00:00Z"],
            "signup_country": ["US", "US", "US"],
            "kyc_tier": ["none", "verified", "basic"],
            "payment_fingerprint": ["p1", "p1", None],
            "zero_data_retention": [False, True, False],
        }
    )
    p = audit.account_properties(requests, accounts)
    a, b = p.loc["a"], p.loc["b"]
    assert (a.requests, a.active_days, a.tools_share, a.batch_share, a.temp_zero_share) == (4, 1, 0.25, 0.25, 0.5)
    assert (a.foreign_country_share, a.distinct_ip_prefixes, a.distinct_api_keys) == (0.25, 3, 2)
    assert (a.length_finish_share, a.tool_use_finish_share, a.refs_sent_share, a.prompt_null_share) == (
        0.25,
        0.25,
        0.25,
        0.25,
    )
    assert a.account_age_days == 2.0 and b.account_age_days == 5 / 86_400_000
    # Gaps 1 s, 1 s, 2 s: mean 4/3 s, sample std 0.57735 s -> CV 0.4330.
    assert round(a.interarrival_cv, 4) == 0.433 and math.isnan(b.interarrival_cv)
    assert (a.accounts_sharing_payment, b.accounts_sharing_payment) == (2.0, 2.0)
    assert (a.verified, b.verified, b.in_org, b.zero_data_retention, b.new_model_share) == (0, 1, 1, 1, 1)
    assert (b.foreign_country_share, b.distinct_ip_prefixes) == (0.0, 0)
