"""The flag rules benchmarks/compare_feature_sets.py applies for old and new features, hand-computed."""

from __future__ import annotations

import pandas as pd

from benchmarks.compare_feature_sets import LIFT, OWN_SCORE, OWN_SPEND, POOLED, policy_flags, reason_table

# c1: three members, strong links; c2: two members with no strong link (a weak-link cluster
# of the old features); d1 alone; e1 verified. Spend 28 d -> per month x 30/28 (KYC at $5,000).
INPUTS = pd.DataFrame(
    [
        ("a1", 500.0, "none", "c1", 3, 600.0, ["payment"]),
        ("a2", 50.0, "none", "c1", 3, 600.0, ["payment"]),
        ("a3", 50.0, "verified", "c1", 3, 600.0, ["payment"]),
        ("b1", 3000.0, "none", "c2", 2, 6000.0, []),
        ("b2", 3000.0, "basic", "c2", 2, 6000.0, []),
        ("d1", 4700.0, "basic", "c3", 1, 4700.0, []),
        ("e1", 9000.0, "verified", "c4", 1, 9000.0, []),
    ],
    columns=["account_id", "spend_28d", "kyc_tier", "cluster_id", "cluster_size", "cluster_spend_28d", "link_types"],
)
SCORES = pd.Series({"a1": 0.9, "a2": 0.5, "a3": 0.1, "b1": 0.7, "b2": 0.1, "d1": 0.2, "e1": 0.3})


def _by_account(flags: pd.DataFrame) -> dict[str, tuple[str, str]]:
    return {r.account_id: (r.risk_tier, r.reason) for r in flags.itertuples()}


def test_old_policy_lifts_and_pools_in_any_cluster() -> None:
    got = _by_account(policy_flags(INPUTS, SCORES, 0.6, 0.97, strong_only=False))
    # c1: 0.8 x 0.9 = 0.72 >= 0.6 lifts a2 and a3; c2 pools $6,000 x 30/28 = $6,429 over two
    # unverified accounts (b1's own 0.7 review is outranked by kyc_required); d1 $5,036 alone.
    assert got == {
        "a1": ("review", OWN_SCORE),
        "a2": ("review", LIFT),
        "a3": ("review", LIFT),
        "b1": ("kyc_required", POOLED),
        "b2": ("kyc_required", POOLED),
        "d1": ("kyc_required", OWN_SPEND),
    }


def test_new_policy_lifts_and_pools_only_through_strong_links() -> None:
    got = _by_account(policy_flags(INPUTS, SCORES, 0.6, 0.97, strong_only=True))
    # c2 has no strong link: b1 keeps its own score and spend ($3,214/month), b2 nothing.
    assert got == {
        "a1": ("review", OWN_SCORE),
        "a2": ("review", LIFT),
        "a3": ("review", LIFT),
        "b1": ("review", OWN_SCORE),
        "d1": ("kyc_required", OWN_SPEND),
    }


def test_reason_table_counts_attackers_and_benign_populations() -> None:
    flags = policy_flags(INPUTS, SCORES, 0.6, 0.97, strong_only=False)
    truth = pd.DataFrame(
        {
            "account_id": ["a1", "a2", "a3", "b1", "b2", "d1"],
            "archetype": ["proxy", "proxy", "dev", "dev", "university", "startup"],
            "is_attack": [True, True, False, False, False, False],
        }
    )
    table = reason_table(flags, truth).set_index(["reason", "tier"])
    assert table.loc[(LIFT, "review"), ["attack", "benign", "total"]].tolist() == [1, 1, 2]
    assert table.loc[(LIFT, "review"), "benign populations"] == "dev 1"
    assert table.loc[(POOLED, "kyc_required"), "benign populations"] == "dev 1, university 1"
    assert table["total"].sum() == 6
