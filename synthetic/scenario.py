"""Who is in the synthetic world: archetypes, their behaviour, and how many at each scale.

Benign archetypes are built to overlap with attacks on single signals (app back-ends reuse
templates, eval labs send "step by step" prompts at volume from hosting IPs, enterprises
spread over many keys and IPs); attacks are drawn from public reporting on distillation
campaigns. Only combinations over days, content and account networks separate them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODELS = ("atlas-4-reasoning", "atlas-4", "atlas-4-mini")
# USD per million tokens (input, output) and whether the model emits reasoning tokens.
MODEL_PRICES = {"atlas-4-reasoning": (15.0, 75.0), "atlas-4": (3.0, 15.0), "atlas-4-mini": (0.8, 4.0)}
USER_AGENTS = ("anthropic-python/0.42.0", "openai-python/1.55.3", "python-httpx/0.27.2",
               "node-fetch/3.3.2", "curl/8.5.0", "Go-http-client/2.0", "python-requests/2.32.3",
               "aiohttp/3.9.1", "okhttp/4.12.0", "internal-gateway/2.1")
COUNTRIES = ("US", "DE", "IN", "BR", "GB", "JP", "FR", "CA", "KR", "SG")
# Hour-of-day shapes (local time), 24 relative weights each.
HOUR_PROFILES = {
    "business": [1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 16, 15, 12, 15, 16, 15, 13, 9, 6, 4, 3, 2, 1, 1],
    "evening": [3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 6, 6, 6, 6, 7, 9, 12, 14, 14, 12, 8, 5],
    "diurnal": [4, 3, 2, 2, 2, 3, 5, 7, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 9, 9, 8, 7, 6, 5],
    "night": [14, 16, 16, 15, 12, 8, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 8, 12],
    "flat": [1] * 24,
}
# IP space: named prefix pools (start, size) in one integer prefix-id space; accounts
# draw prefixes from a pool. Shared pools are the hubs a cluster linker must not follow.
PREFIX_POOLS = {
    "residential": (0, 200_000, "residential"),
    "mobile_cgnat": (200_000, 400, "mobile"),
    "cloud": (201_000, 600, "hosting"),
    "coworking_nat": (202_000, 20, "unknown"),
    "corporate": (203_000, 20_000, "unknown"),
    "proxy_services": (224_000, 1_000, "proxy_vpn"),
    "hosting_rented": (226_000, 20_000, "hosting"),
}
ASN_KINDS = ("residential", "mobile", "hosting", "proxy_vpn", "unknown")


@dataclass(frozen=True)
class Archetype:
    """Behaviour of one population; rates are requests per active day before scaling."""

    name: str
    attack: bool
    rate: float
    rate_sigma: float
    hours: str
    families: dict[str, float]
    pool: str
    automated: bool = False
    burst: bool = False
    rotate_ips: bool = False
    prefixes_per_account: int = 1
    keys: int = 1
    model_weights: tuple[float, float, float] = (0.2, 0.5, 0.3)
    batch_share: float = 0.0
    paraphrase: float = 0.05
    max_tokens: tuple[int, ...] = (1024, 2048, 4096)
    length_share: float = 0.03
    logprobs_share: float = 0.01
    n_gt1_share: float = 0.01
    temperature: tuple[float, ...] = (0.7, 1.0)
    tools_share: float = 0.0
    completion_median: float = 350.0
    kyc: dict[str, float] = field(default_factory=lambda: {"none": 0.5, "basic": 0.5})
    plan: dict[str, float] = field(default_factory=lambda: {"free": 0.4, "payg": 0.6})
    age_days: tuple[int, int] = (30, 900)
    zdr_share: float = 0.0
    system_prompt_share: float = 0.1
    continuation_share: float = 0.05
    replay_share: float = 0.0
    ipv6_share: float = 0.2
    shared_payment_share: float = 0.0
    shared_agent_share: float = 0.0


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype("dev", False, 40, 1.0, "business", {"dev_debug": 0.5, "dev_explain": 0.5},
              "residential"),
    Archetype("app_backend", False, 2000, 0.8, "diurnal", {"app_support": 0.6, "app_summarize": 0.4},
              "cloud", prefixes_per_account=3, keys=2, model_weights=(0.0, 0.4, 0.6),
              paraphrase=0.0, system_prompt_share=1.0, completion_median=120,
              kyc={"verified": 1.0}, plan={"scale": 0.7, "payg": 0.3}, ipv6_share=0.0),
    Archetype("enterprise", False, 3000, 0.7, "business",
              {"enterprise_docs": 0.5, "dev_debug": 0.3, "dev_explain": 0.2}, "corporate",
              prefixes_per_account=3, keys=25, kyc={"enterprise": 1.0}, plan={"enterprise": 1.0},
              system_prompt_share=0.5, ipv6_share=0.1),
    Archetype("batch_user", False, 5000, 0.7, "night", {"batch_classify": 1.0}, "cloud",
              prefixes_per_account=2, batch_share=0.9, model_weights=(0.0, 0.3, 0.7),
              paraphrase=0.0, temperature=(0.0,), completion_median=20,
              kyc={"verified": 1.0}, plan={"scale": 1.0}, system_prompt_share=1.0, ipv6_share=0.0),
    Archetype("eval_lab", False, 6000, 0.6, "flat", {"eval_math": 0.6, "eval_code": 0.4},
              "cloud", automated=True, burst=True, prefixes_per_account=2, keys=4,
              model_weights=(0.6, 0.3, 0.1), paraphrase=0.0, logprobs_share=0.4,
              n_gt1_share=0.3, temperature=(0.0,), length_share=0.08, completion_median=700,
              kyc={"verified": 0.7, "enterprise": 0.3}, plan={"scale": 0.6, "enterprise": 0.4},
              ipv6_share=0.0),
    Archetype("zdr_business", False, 800, 0.8, "business",
              {"enterprise_docs": 0.6, "dev_debug": 0.4}, "corporate", prefixes_per_account=2,
              keys=5, kyc={"verified": 1.0}, plan={"scale": 1.0}, zdr_share=1.0),
    # Attacks.
    Archetype("bulk_single", True, 20000, 0.3, "flat",
              {"cot_extract": 0.4, "code_harvest": 0.3, "long_form": 0.3}, "hosting_rented",
              automated=True, prefixes_per_account=4, keys=3, model_weights=(0.8, 0.2, 0.0),
              max_tokens=(8192, 16384), length_share=0.5, logprobs_share=0.3,
              completion_median=2500, kyc={"basic": 1.0}, plan={"scale": 1.0},
              age_days=(20, 120), ipv6_share=0.0),
    Archetype("hydra", True, 150, 0.5, "flat",
              {"cot_extract": 0.45, "cot_topic": 0.3, "code_harvest": 0.25}, "proxy_services",
              automated=True, rotate_ips=True, model_weights=(0.9, 0.1, 0.0), paraphrase=0.1,
              max_tokens=(8192,), length_share=0.3, completion_median=1800,
              kyc={"none": 0.8, "basic": 0.2}, plan={"free": 0.3, "payg": 0.7}, age_days=(0, 25),
              replay_share=0.15, ipv6_share=0.0, shared_payment_share=0.4, shared_agent_share=0.7),
    Archetype("cot_elicitation", True, 1500, 0.5, "flat",
              {"cot_extract": 0.5, "cot_topic": 0.3, "rubric_grader": 0.2}, "hosting_rented",
              automated=True, prefixes_per_account=2, model_weights=(1.0, 0.0, 0.0),
              logprobs_share=0.2, completion_median=2200, max_tokens=(8192, 16384),
              length_share=0.2, kyc={"none": 0.3, "basic": 0.7}, plan={"payg": 1.0},
              age_days=(5, 90), ipv6_share=0.0, shared_agent_share=0.5),
    Archetype("capability_harvest", True, 1500, 0.5, "flat",
              {"code_harvest": 0.45, "agent_tool": 0.35, "long_form": 0.2}, "hosting_rented",
              automated=True, prefixes_per_account=2, model_weights=(0.7, 0.3, 0.0),
              max_tokens=(4096, 8192), length_share=0.6, logprobs_share=0.5, n_gt1_share=0.2,
              tools_share=0.35, completion_median=3000, kyc={"basic": 1.0},
              plan={"payg": 0.6, "scale": 0.4}, age_days=(5, 90), ipv6_share=0.0),
    Archetype("low_and_slow", True, 60, 0.3, "business",
              {"cot_extract": 0.5, "code_harvest": 0.5}, "residential", model_weights=(0.9, 0.1, 0.0),
              paraphrase=0.5, length_share=0.3, completion_median=1500, max_tokens=(4096, 8192),
              kyc={"none": 0.5, "basic": 0.5}, plan={"payg": 1.0}, age_days=(60, 400)),
    Archetype("cross_lab_split", True, 300, 0.5, "flat",
              {"cot_topic": 0.5, "agent_tool": 0.3, "code_harvest": 0.2}, "proxy_services",
              automated=True, rotate_ips=True, model_weights=(0.8, 0.2, 0.0), tools_share=0.2,
              length_share=0.3, completion_median=1800, max_tokens=(8192,),
              kyc={"none": 0.6, "basic": 0.4}, plan={"payg": 1.0}, age_days=(0, 60),
              ipv6_share=0.0, shared_payment_share=0.5, shared_agent_share=0.5),
    Archetype("paraphraser", True, 800, 0.5, "evening",
              {"cot_extract": 0.4, "cot_topic": 0.3, "rubric_grader": 0.3}, "residential",
              rotate_ips=True, model_weights=(0.9, 0.1, 0.0), paraphrase=1.0,
              length_share=0.25, completion_median=1600, max_tokens=(4096, 8192),
              kyc={"none": 0.5, "basic": 0.5}, plan={"payg": 1.0}, age_days=(10, 200),
              ipv6_share=0.3),
)
ARCHETYPE_INDEX = {a.name: i for i, a in enumerate(ARCHETYPES)}


@dataclass(frozen=True)
class Scale:
    """Population and volume of one named scale.

    ``benign`` and ``attack`` give account counts per archetype; ``campaigns`` how many
    campaigns the attack accounts of an archetype are split into; the per-day volume
    targets rescale the archetype rates so totals match what the scale promises.
    Volumes are weekday targets: weekends dip for office-hours populations (about 0.74x
    overall), so ``bench`` is sized to stay above 10 million requests on a Sunday.
    """

    name: str
    default_days: int
    benign: dict[str, int]
    attack: dict[str, int]
    campaigns: dict[str, int]
    benign_requests_per_day: int
    attack_requests_per_day: int
    rows_per_file: int = 1_000_000


def _mix(total: int, shares: dict[str, float]) -> dict[str, int]:
    return {name: max(1, round(total * share)) for name, share in shares.items()}


BENIGN_MIX = {"dev": 0.86, "app_backend": 0.03, "enterprise": 0.03, "batch_user": 0.02,
              "eval_lab": 0.01, "zdr_business": 0.05}
ATTACK_MIX = {"hydra": 0.86, "bulk_single": 0.002, "cot_elicitation": 0.03,
              "capability_harvest": 0.03, "low_and_slow": 0.02, "cross_lab_split": 0.05,
              "paraphraser": 0.008}

SCALES = {
    "tiny": Scale("tiny", 3, _mix(300, BENIGN_MIX),
                  {"hydra": 24, "bulk_single": 1, "cot_elicitation": 2, "capability_harvest": 2,
                   "low_and_slow": 2, "cross_lab_split": 6, "paraphraser": 2},
                  {"hydra": 1, "cross_lab_split": 1},
                  benign_requests_per_day=4_000, attack_requests_per_day=1_500,
                  rows_per_file=2_000),
    "demo": Scale("demo", 28, _mix(4_000, BENIGN_MIX),
                  {"hydra": 400, "bulk_single": 3, "cot_elicitation": 12, "capability_harvest": 12,
                   "low_and_slow": 10, "cross_lab_split": 40, "paraphraser": 8},
                  {"hydra": 6, "bulk_single": 3, "cot_elicitation": 4, "capability_harvest": 4,
                   "low_and_slow": 5, "cross_lab_split": 4, "paraphraser": 4},
                  benign_requests_per_day=60_000, attack_requests_per_day=20_000,
                  rows_per_file=50_000),
    # Public reporting: ~24,000 fraudulent accounts, >16M exchanges over the window. Campaigns
    # start across the window's first two thirds, so the per-day target is a full-activity
    # rate: 30 days at the default seed give ~16 million attack requests.
    "seed": Scale("seed", 30, _mix(400_000, BENIGN_MIX), _mix(24_000, ATTACK_MIX),
                  {"hydra": 40, "bulk_single": 48, "cot_elicitation": 60, "capability_harvest": 60,
                   "low_and_slow": 120, "cross_lab_split": 30, "paraphraser": 40},
                  benign_requests_per_day=2_500_000, attack_requests_per_day=790_000),
    "bench": Scale("bench", 1, _mix(1_500_000, BENIGN_MIX), _mix(30_000, ATTACK_MIX),
                   {"hydra": 50, "bulk_single": 60, "cot_elicitation": 80, "capability_harvest": 80,
                    "low_and_slow": 150, "cross_lab_split": 40, "paraphraser": 50},
                   benign_requests_per_day=13_300_000, attack_requests_per_day=700_000),
}
