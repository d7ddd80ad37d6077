"""Who is in the synthetic world: populations, campaign types, infrastructure, and scales.

Written as a scenario a detector could fail. Every population draws each per-account
property (tools, temperature 0, batch, foreign exits, IP spread, account age, KYC, zero
data retention, organisations, shared payment, timing regularity) from a mix, and for
each property at least one benign population and one campaign type sit on the "other"
side. Campaign types follow public reporting on distillation (see synthetic/README.md);
hard negatives are benign populations that look like them on most single signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The fourth model launches mid-window (``Scale.launch_day``): pivoting campaigns and
# benchmark harnesses both move to it within a day of its first appearance.
MODELS = ("atlas-4-reasoning", "atlas-4", "atlas-4-mini", "atlas-5-reasoning")
NEW_MODEL = 3
REASONING_MODELS = (0, 3)
# USD per million tokens (input, output).
MODEL_PRICES = {
    "atlas-4-reasoning": (15.0, 75.0),
    "atlas-4": (3.0, 15.0),
    "atlas-4-mini": (0.8, 4.0),
    "atlas-5-reasoning": (20.0, 90.0),
}
USER_AGENTS = (
    "anthropic-python/0.42.0",
    "openai-python/1.55.3",
    "python-httpx/0.27.2",
    "node-fetch/3.3.2",
    "curl/8.5.0",
    "Go-http-client/2.0",
    "python-requests/2.32.3",
    "aiohttp/3.9.1",
    "okhttp/4.12.0",
    "anthropic-typescript/0.32.1",
    "langchain/0.3.7",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148",
    "litellm/1.52.0",
    "internal-gateway/2.1",
)
COUNTRIES = ("US", "DE", "IN", "BR", "GB", "JP", "FR", "CA", "KR", "SG", "CN", "RU", "AE", "MX", "ES", "NG")
COUNTRY_WEIGHTS = (0.28, 0.07, 0.11, 0.06, 0.07, 0.05, 0.05, 0.05, 0.04, 0.03, 0.03, 0.02, 0.02, 0.04, 0.04, 0.04)
COUNTRY_TZ = (-5, 1, 5, -3, 0, 9, 1, -5, 9, 8, 8, 3, 4, -6, 1, 1)
NC = len(COUNTRIES)
# Hour-of-day shapes (local time), 24 relative weights each.
HOUR_PROFILES = {
    "business": [1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 16, 15, 12, 15, 16, 15, 13, 9, 6, 4, 3, 2, 1, 1],
    "evening": [3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 6, 6, 6, 6, 7, 9, 12, 14, 14, 12, 8, 5],
    "diurnal": [4, 3, 2, 2, 2, 3, 5, 7, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 9, 9, 8, 7, 6, 5],
    "night": [14, 16, 16, 15, 12, 8, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 8, 12],
    "flat": [1] * 24,
}
# IP space: named prefix pools (start, size, asn_kind) in one integer prefix-id space.
# Within a pool, the country of prefix p is (p - start) % NC. Every pool is shared by
# strangers: carriers' CGNAT, university and corporate NAT, cloud tenants, and the
# residential range that home users and residential proxy networks both exit from.
PREFIX_POOLS = {
    "residential": (0, 200_000, "residential"),
    "mobile_cgnat": (200_000, 640, "mobile"),
    "cloud": (201_000, 1_600, "hosting"),
    "university": (203_000, 64, "unknown"),
    "corporate": (204_000, 20_000, "unknown"),
    "vpn": (225_000, 1_600, "proxy_vpn"),
    "hosting_rented": (227_000, 20_000, "hosting"),
}
ASN_KINDS = ("residential", "mobile", "hosting", "proxy_vpn", "unknown")
# How an account reaches the API (see population.py for what each means in prefixes).
IP_MODES = (
    "home",
    "cgnat",
    "vpn",
    "university",
    "corporate",
    "cloud",
    "cloud_wide",
    "rented",
    "resproxy",
    "resproxy_sticky",
)
TIMING_MODES = ("human", "session", "cron")
LANGUAGES = ("en", "zh", "ru", "ar", "ja", "hi", "ko", "es", "de")
KINDS = ("benign", "hard_negative", "attack")
# Tactics a campaign type may use (population.py and traffic.py implement them).
TACTICS = ("pivot", "replace", "replay", "inside_org", "orgs", "shift", "pacing", "partner", "rotate_keys")
KYC_SPEND_THRESHOLD_USD_MONTH = 5_000.0

_EN = {"en": 1.0}


@dataclass(frozen=True)
class Archetype:
    """One population or campaign type. Shares are per account unless said per request."""

    name: str
    kind: str
    rate: float  # median requests per active day (rescaled per scale)
    families: dict[str, float]  # per request
    ip: dict[str, float]
    timing: dict[str, float]
    kyc: dict[str, float]
    plan: dict[str, float]
    rate_sigma: float = 0.9
    active: tuple[float, float] = (0.5, 0.95)  # range of the per-account daily activity chance
    hours: str = "business"
    weekend: float = 1.0
    languages: dict[str, float] = field(default_factory=lambda: dict(_EN))
    new_share: float = 0.2  # accounts a few days old when they start
    age_days: tuple[int, int] = (30, 900)
    tools: float = 0.0  # accounts that send tool definitions
    temp0: float = 0.0  # accounts at temperature 0
    batch: float = 0.0  # accounts using the batch endpoint
    zdr: float = 0.0
    org: float = 0.0
    org_size: tuple[int, int] = (2, 6)
    shared_payment: float = 0.0  # accounts paying with a card another account also uses
    traveller: float = 0.0  # accounts that spend some days abroad (roaming)
    target_country: float = 0.5  # proxy users who pick exits in their sign-up country
    reasoning: float = 0.3  # mean share of requests on a reasoning model
    early_adopter: float = 0.1  # accounts that move to the new model on its first day
    max_tokens: tuple[int, ...] = (1024, 2048, 4096)
    length_share: float = 0.03
    completion_median: float = 350.0
    logprobs: float = 0.02
    n_gt1: float = 0.01
    system_prompt: float = 0.2
    common_system: float = 0.4  # of those, a framework default shared by strangers
    continuation: float = 0.05
    replay: float = 0.0
    keys: tuple[int, int] = (1, 2)
    key_rotation: float = 0.0
    many_agents: float = 0.0
    common: float = 0.06  # per request: a prompt thousands of strangers also send
    tactics: tuple[str, ...] = ()


_DEV_LANGS = {
    "en": 0.74,
    "es": 0.04,
    "de": 0.04,
    "zh": 0.04,
    "ru": 0.03,
    "ja": 0.03,
    "hi": 0.03,
    "ar": 0.03,
    "ko": 0.02,
}
_MANY_LANGS = {
    "en": 0.45,
    "zh": 0.1,
    "ru": 0.07,
    "ar": 0.07,
    "ja": 0.07,
    "hi": 0.07,
    "ko": 0.06,
    "es": 0.06,
    "de": 0.05,
}
_HARVEST = {
    "reasoning_elicit": 0.3,
    "math_show_work": 0.25,
    "code_gen": 0.15,
    "long_form": 0.1,
    "agentic": 0.08,
    "judge": 0.05,
    "chat": 0.04,
    "code_help": 0.03,
}
_RETAIL_KYC = {"none": 0.45, "basic": 0.4, "verified": 0.15}
_RETAIL_PLAN = {"free": 0.25, "payg": 0.65, "scale": 0.1}

ARCHETYPES: tuple[Archetype, ...] = (
    # Benign populations.
    Archetype(
        "dev",
        "benign",
        22,
        {
            "chat": 0.28,
            "code_help": 0.27,
            "code_gen": 0.14,
            "math_show_work": 0.07,
            "reasoning_elicit": 0.06,
            "translate": 0.05,
            "summarize": 0.05,
            "agentic": 0.04,
            "long_form": 0.02,
            "docs": 0.02,
        },
        {
            "home": 0.52,
            "cgnat": 0.2,
            "vpn": 0.09,
            "corporate": 0.06,
            "cloud": 0.07,
            "university": 0.02,
            "resproxy_sticky": 0.04,
        },
        {"human": 0.78, "session": 0.15, "cron": 0.07},
        {"none": 0.55, "basic": 0.33, "verified": 0.12},
        {"free": 0.45, "payg": 0.5, "scale": 0.05},
        rate_sigma=1.2,
        active=(0.15, 0.8),
        weekend=0.6,
        languages=_DEV_LANGS,
        new_share=0.4,
        age_days=(30, 1200),
        tools=0.12,
        temp0=0.12,
        batch=0.04,
        org=0.05,
        shared_payment=0.04,
        traveller=0.12,
        reasoning=0.35,
        early_adopter=0.15,
        completion_median=500,
        length_share=0.05,
        continuation=0.15,
        logprobs=0.03,
        key_rotation=0.03,
    ),
    Archetype(
        "app_backend",
        "benign",
        500,
        {"support_reply": 0.35, "summarize": 0.25, "classify": 0.1, "chat": 0.2, "translate": 0.05, "common": 0.05},
        {"cloud": 0.45, "cloud_wide": 0.3, "rented": 0.2, "corporate": 0.05},
        {"human": 0.55, "session": 0.3, "cron": 0.15},
        {"none": 0.1, "basic": 0.4, "verified": 0.5},
        {"payg": 0.5, "scale": 0.5},
        hours="diurnal",
        new_share=0.25,
        tools=0.2,
        temp0=0.3,
        batch=0.1,
        org=0.4,
        system_prompt=0.95,
        common_system=0.2,
        reasoning=0.15,
        completion_median=180,
        keys=(1, 4),
        key_rotation=0.1,
        many_agents=0.1,
    ),
    Archetype(
        "batch_pipeline",
        "benign",
        2500,
        {"classify": 0.55, "summarize": 0.3, "translate": 0.1, "judge": 0.05},
        {"cloud": 0.6, "rented": 0.3, "corporate": 0.1},
        {"cron": 0.85, "session": 0.15},
        {"none": 0.1, "basic": 0.3, "verified": 0.6},
        {"payg": 0.3, "scale": 0.7},
        hours="night",
        temp0=0.8,
        batch=0.9,
        org=0.3,
        system_prompt=0.9,
        reasoning=0.1,
        completion_median=40,
        common=0.01,
    ),
    # Hard negatives: benign, and resembling campaigns on most single signals.
    Archetype(
        "startup_scaling",
        "hard_negative",
        350,
        {
            "code_gen": 0.22,
            "agentic": 0.2,
            "chat": 0.15,
            "reasoning_elicit": 0.12,
            "math_show_work": 0.1,
            "long_form": 0.1,
            "summarize": 0.06,
            "judge": 0.05,
        },
        {"cloud": 0.35, "rented": 0.25, "home": 0.15, "vpn": 0.1, "cloud_wide": 0.15},
        {"session": 0.4, "human": 0.3, "cron": 0.3},
        {"none": 0.35, "basic": 0.45, "verified": 0.2},
        {"payg": 0.7, "scale": 0.3},
        rate_sigma=1.0,
        active=(0.7, 1.0),
        new_share=0.85,
        age_days=(20, 120),
        tools=0.5,
        temp0=0.25,
        batch=0.15,
        org=0.3,
        shared_payment=0.1,
        reasoning=0.5,
        early_adopter=0.4,
        max_tokens=(4096, 8192),
        completion_median=900,
        length_share=0.08,
        system_prompt=0.7,
        keys=(1, 4),
        key_rotation=0.1,
    ),
    Archetype(
        "coding_agent",
        "hard_negative",
        800,
        {"agentic": 0.5, "code_gen": 0.3, "code_help": 0.2},
        {"cloud_wide": 0.5, "cloud": 0.3, "rented": 0.2},
        {"session": 0.5, "cron": 0.3, "human": 0.2},
        {"none": 0.1, "basic": 0.3, "verified": 0.6},
        {"payg": 0.3, "scale": 0.7},
        hours="diurnal",
        tools=0.95,
        temp0=0.2,
        org=0.6,
        reasoning=0.6,
        early_adopter=0.5,
        max_tokens=(4096, 8192, 16384),
        completion_median=1200,
        length_share=0.1,
        system_prompt=1.0,
        common_system=0.1,
        continuation=0.4,
        replay=0.04,
        keys=(2, 10),
        key_rotation=0.2,
        common=0.02,
    ),
    Archetype(
        "tutoring_app",
        "hard_negative",
        600,
        {"math_show_work": 0.5, "reasoning_elicit": 0.15, "chat": 0.2, "long_form": 0.15},
        {"cloud": 0.5, "cloud_wide": 0.3, "rented": 0.2},
        {"human": 0.7, "session": 0.3},
        {"basic": 0.5, "verified": 0.5},
        {"payg": 0.4, "scale": 0.6},
        hours="evening",
        languages={"en": 0.6, "es": 0.08, "hi": 0.08, "zh": 0.06, "ar": 0.06, "ja": 0.04, "ru": 0.04, "ko": 0.04},
        new_share=0.3,
        temp0=0.1,
        org=0.4,
        reasoning=0.6,
        completion_median=900,
        system_prompt=1.0,
        common_system=0.1,
        continuation=0.2,
    ),
    Archetype(
        "eval_harness",
        "hard_negative",
        1500,
        {"math_show_work": 0.45, "reasoning_elicit": 0.25, "code_gen": 0.2, "judge": 0.1},
        {"cloud": 0.6, "rented": 0.3, "university": 0.1},
        {"cron": 0.6, "session": 0.4},
        {"basic": 0.2, "verified": 0.6, "enterprise": 0.2},
        {"payg": 0.3, "scale": 0.5, "enterprise": 0.2},
        rate_sigma=1.0,
        active=(0.2, 0.6),
        hours="flat",
        new_share=0.3,
        temp0=0.3,
        org=0.5,
        reasoning=0.8,
        early_adopter=0.9,
        max_tokens=(8192, 16384),
        completion_median=2500,
        length_share=0.2,
        logprobs=0.5,
        n_gt1=0.3,
        system_prompt=0.3,
        keys=(1, 6),
        common=0.0,
    ),
    Archetype(
        "synthetic_vendor",
        "hard_negative",
        3000,
        {"reasoning_elicit": 0.35, "math_show_work": 0.25, "code_gen": 0.2, "long_form": 0.2},
        {"rented": 0.6, "cloud": 0.4},
        {"cron": 0.7, "session": 0.3},
        {"verified": 0.3, "enterprise": 0.7},
        {"scale": 0.3, "enterprise": 0.7},
        active=(0.85, 1.0),
        hours="flat",
        languages={"en": 0.7, "zh": 0.06, "es": 0.06, "de": 0.06, "ja": 0.06, "ru": 0.06},
        temp0=0.2,
        org=1.0,
        org_size=(3, 5),
        reasoning=0.85,
        early_adopter=0.8,
        max_tokens=(8192, 16384),
        completion_median=2800,
        length_share=0.25,
        system_prompt=1.0,
        common_system=0.0,
        keys=(3, 12),
        key_rotation=0.5,
        common=0.0,
    ),
    Archetype(
        "translation_service",
        "hard_negative",
        1200,
        {"translate": 0.85, "summarize": 0.15},
        {"cloud": 0.5, "rented": 0.5},
        {"cron": 0.4, "session": 0.3, "human": 0.3},
        {"basic": 0.4, "verified": 0.6},
        {"payg": 0.4, "scale": 0.6},
        hours="diurnal",
        languages=_MANY_LANGS,
        temp0=0.5,
        batch=0.4,
        org=0.3,
        reasoning=0.1,
        max_tokens=(1024, 2048),
        completion_median=900,
        length_share=0.35,
        system_prompt=0.9,
        common=0.01,
    ),
    Archetype(
        "zdr_enterprise",
        "hard_negative",
        2500,
        {"docs": 0.3, "code_help": 0.2, "code_gen": 0.2, "summarize": 0.15, "agentic": 0.15},
        {"corporate": 0.8, "vpn": 0.1, "cloud": 0.1},
        {"human": 0.6, "session": 0.3, "cron": 0.1},
        {"verified": 0.2, "enterprise": 0.8},
        {"scale": 0.2, "enterprise": 0.8},
        weekend=0.3,
        tools=0.4,
        zdr=1.0,
        org=1.0,
        org_size=(3, 12),
        traveller=0.2,
        reasoning=0.35,
        system_prompt=0.6,
        keys=(5, 30),
        key_rotation=0.3,
        many_agents=0.3,
    ),
    Archetype(
        "university",
        "hard_negative",
        10,
        {"math_show_work": 0.3, "chat": 0.25, "code_help": 0.25, "reasoning_elicit": 0.1, "long_form": 0.1},
        {"university": 0.85, "cgnat": 0.1, "vpn": 0.05},
        {"human": 0.9, "session": 0.1},
        {"none": 0.8, "basic": 0.2},
        {"free": 0.6, "payg": 0.4},
        rate_sigma=0.8,
        active=(0.2, 0.7),
        hours="evening",
        languages={"en": 0.6, "zh": 0.1, "hi": 0.1, "ko": 0.05, "ar": 0.05, "es": 0.05, "ru": 0.05},
        new_share=0.6,
        age_days=(30, 400),
        shared_payment=0.05,
        reasoning=0.35,
        early_adopter=0.2,
    ),
    Archetype(
        "reseller",
        "hard_negative",
        2500,
        {
            "chat": 0.3,
            "code_help": 0.2,
            "code_gen": 0.15,
            "reasoning_elicit": 0.1,
            "math_show_work": 0.1,
            "translate": 0.1,
            "common": 0.05,
        },
        {"resproxy": 1.0},
        {"human": 0.8, "session": 0.2},
        {"basic": 0.5, "verified": 0.5},
        {"payg": 0.3, "scale": 0.7},
        hours="diurnal",
        languages=_MANY_LANGS,
        target_country=0.0,
        reasoning=0.35,
        continuation=0.2,
        keys=(1, 3),
        many_agents=1.0,
        common=0.2,
    ),
    Archetype(
        "llm_judge",
        "hard_negative",
        2000,
        {"judge": 0.8, "classify": 0.2},
        {"cloud": 0.6, "rented": 0.4},
        {"cron": 0.7, "session": 0.3},
        {"basic": 0.3, "verified": 0.7},
        {"payg": 0.4, "scale": 0.6},
        hours="flat",
        temp0=0.7,
        batch=0.5,
        org=0.4,
        reasoning=0.4,
        completion_median=400,
        logprobs=0.4,
        system_prompt=0.8,
        common=0.0,
    ),
    # Attack campaign types (public reporting; see synthetic/README.md).
    Archetype(
        "proxy_hydra",
        "attack",
        20,
        _HARVEST,
        {"resproxy": 0.7, "resproxy_sticky": 0.2, "vpn": 0.1},
        {"human": 0.4, "session": 0.4, "cron": 0.2},
        {"none": 0.7, "basic": 0.3},
        {"free": 0.3, "payg": 0.7},
        rate_sigma=0.9,
        active=(0.5, 1.0),
        hours="diurnal",
        languages={"en": 0.85, "zh": 0.05, "es": 0.05, "ru": 0.05},
        new_share=0.8,
        age_days=(30, 300),
        shared_payment=0.4,
        reasoning=0.65,
        replay=0.1,
        many_agents=0.3,
        max_tokens=(4096, 8192),
        completion_median=650,
        length_share=0.2,
        system_prompt=0.4,
    ),
    Archetype(
        "model_pivot",
        "attack",
        40,
        _HARVEST,
        {"resproxy_sticky": 0.4, "rented": 0.3, "cloud": 0.3},
        {"cron": 0.4, "session": 0.3, "human": 0.3},
        {"none": 0.3, "basic": 0.5, "verified": 0.2},
        {"payg": 0.8, "scale": 0.2},
        active=(0.9, 1.0),
        new_share=0.5,
        temp0=0.3,
        reasoning=0.8,
        early_adopter=1.0,
        max_tokens=(8192, 16384),
        completion_median=1430,
        length_share=0.2,
        system_prompt=0.5,
        tactics=("pivot",),
    ),
    Archetype(
        "ban_replace",
        "attack",
        30,
        _HARVEST,
        {"rented": 0.4, "cloud": 0.3, "resproxy_sticky": 0.3},
        {"session": 0.4, "cron": 0.3, "human": 0.3},
        _RETAIL_KYC,
        _RETAIL_PLAN,
        new_share=0.7,
        age_days=(20, 200),
        shared_payment=0.5,
        reasoning=0.7,
        completion_median=1170,
        system_prompt=0.8,
        common_system=0.2,
        tactics=("replace",),
    ),
    Archetype(
        "zdr_harvest",
        "attack",
        60,
        _HARVEST,
        {"corporate": 0.3, "cloud": 0.4, "rented": 0.3},
        {"session": 0.5, "human": 0.3, "cron": 0.2},
        {"basic": 0.2, "verified": 0.6, "enterprise": 0.2},
        {"payg": 0.2, "scale": 0.6, "enterprise": 0.2},
        new_share=0.3,
        age_days=(60, 600),
        tools=0.3,
        zdr=1.0,
        org=0.7,
        org_size=(2, 4),
        reasoning=0.7,
        completion_median=1170,
        system_prompt=0.6,
    ),
    Archetype(
        "spend_pacing",
        "attack",
        450,
        _HARVEST,
        {"cloud": 0.5, "rented": 0.3, "home": 0.2},
        {"cron": 0.4, "session": 0.4, "human": 0.2},
        {"basic": 0.5, "verified": 0.5},
        {"payg": 0.5, "scale": 0.5},
        rate_sigma=0.3,
        active=(0.95, 1.0),
        new_share=0.2,
        age_days=(90, 700),
        temp0=0.2,
        reasoning=0.9,
        max_tokens=(4096, 8192),
        completion_median=2500,
        system_prompt=0.5,
        tactics=("pacing",),
    ),
    Archetype(
        "org_spread",
        "attack",
        35,
        _HARVEST,
        {"cloud": 0.5, "corporate": 0.2, "rented": 0.3},
        {"session": 0.5, "human": 0.3, "cron": 0.2},
        {"basic": 0.6, "verified": 0.4},
        {"payg": 0.5, "scale": 0.5},
        new_share=0.6,
        org=1.0,
        org_size=(2, 3),
        shared_payment=0.3,
        reasoning=0.7,
        tools=0.2,
        completion_median=1170,
        system_prompt=0.6,
        tactics=("orgs",),
    ),
    Archetype(
        "multilingual_cot",
        "attack",
        30,
        {"reasoning_elicit": 0.5, "math_show_work": 0.4, "long_form": 0.1},
        {"resproxy_sticky": 0.4, "vpn": 0.3, "home": 0.3},
        {"human": 0.5, "session": 0.5},
        _RETAIL_KYC,
        _RETAIL_PLAN,
        hours="evening",
        languages={"en": 0.1, "zh": 0.2, "ru": 0.2, "ar": 0.15, "ja": 0.15, "hi": 0.1, "ko": 0.1},
        new_share=0.6,
        reasoning=0.85,
        completion_median=1300,
        length_share=0.15,
    ),
    Archetype(
        "reasoning_replay",
        "attack",
        30,
        {"reasoning_elicit": 0.5, "math_show_work": 0.3, "code_gen": 0.2},
        {"cloud": 0.4, "resproxy": 0.3, "rented": 0.3},
        {"session": 0.5, "cron": 0.3, "human": 0.2},
        _RETAIL_KYC,
        _RETAIL_PLAN,
        new_share=0.6,
        reasoning=0.95,
        continuation=0.1,
        replay=0.45,
        completion_median=1170,
        tactics=("replay",),
    ),
    Archetype(
        "inside_org",
        "attack",
        50,
        _HARVEST,
        {"corporate": 0.7, "vpn": 0.3},
        {"human": 0.5, "session": 0.5},
        {"verified": 0.5, "enterprise": 0.5},
        {"scale": 0.5, "enterprise": 0.5},
        new_share=0.3,
        age_days=(60, 500),
        tools=0.3,
        reasoning=0.7,
        completion_median=1170,
        system_prompt=0.5,
        tactics=("inside_org",),
    ),
    Archetype(
        "key_rotation",
        "attack",
        35,
        _HARVEST,
        {"cloud": 0.5, "rented": 0.5},
        {"cron": 0.5, "session": 0.5},
        _RETAIL_KYC,
        _RETAIL_PLAN,
        new_share=0.5,
        reasoning=0.75,
        completion_median=1170,
        keys=(3, 8),
        key_rotation=1.0,
        tactics=("rotate_keys",),
    ),
    Archetype(
        "behaviour_shift",
        "attack",
        25,
        _HARVEST,
        {"home": 0.5, "cgnat": 0.2, "resproxy_sticky": 0.3},
        {"human": 0.7, "session": 0.3},
        _RETAIL_KYC,
        _RETAIL_PLAN,
        new_share=0.3,
        age_days=(60, 600),
        reasoning=0.7,
        completion_median=1040,
        tactics=("shift",),
    ),
    Archetype(
        "batch_harvest",
        "attack",
        120,
        {"reasoning_elicit": 0.4, "math_show_work": 0.3, "code_gen": 0.3},
        {"cloud": 0.6, "rented": 0.4},
        {"cron": 0.7, "session": 0.3},
        {"basic": 0.4, "verified": 0.6},
        {"payg": 0.4, "scale": 0.6},
        hours="night",
        new_share=0.4,
        temp0=1.0,
        batch=0.9,
        reasoning=0.8,
        completion_median=1430,
        length_share=0.15,
        system_prompt=0.7,
        common=0.0,
    ),
    Archetype(
        "cross_lab",
        "attack",
        28,
        _HARVEST,
        {"vpn": 0.5, "resproxy": 0.5},
        {"cron": 0.4, "session": 0.6},
        _RETAIL_KYC,
        _RETAIL_PLAN,
        new_share=0.7,
        shared_payment=0.5,
        reasoning=0.75,
        tools=0.2,
        completion_median=1170,
        system_prompt=0.5,
        tactics=("partner",),
    ),
)
ARCHETYPE_INDEX = {a.name: i for i, a in enumerate(ARCHETYPES)}
ATTACK_TYPES = tuple(a.name for a in ARCHETYPES if a.kind == "attack")
ALLOW_LISTED = ("synthetic_vendor",)
# Benign reviews that ended cleared (share of each population's accounts).
BENIGN_REVIEW_SHARE = {
    "eval_harness": 0.5,
    "synthetic_vendor": 0.5,
    "translation_service": 0.2,
    "startup_scaling": 0.2,
    "coding_agent": 0.15,
    "tutoring_app": 0.2,
    "reseller": 0.4,
    "llm_judge": 0.2,
    "university": 0.01,
    "zdr_enterprise": 0.05,
    "dev": 0.002,
}


@dataclass(frozen=True)
class Scale:
    """Population and volume of one named scale.

    ``benign`` and ``attack`` give account counts per population; ``campaigns`` how many
    campaigns each attack type's accounts are split into. The per-day volume targets are
    averages over the window (weekdays; office populations dip at weekends), so totals
    over ``default_days`` are ``days x target``. ``launch_day`` is the new model's first day.
    """

    name: str
    default_days: int
    benign: dict[str, int]
    attack: dict[str, int]
    campaigns: dict[str, int]
    benign_requests_per_day: int
    attack_requests_per_day: int
    rows_per_file: int = 1_000_000
    launch_fraction: float = 0.45


def _mix(total: int, shares: dict[str, float]) -> dict[str, int]:
    return {name: max(1, round(total * share)) for name, share in shares.items()}


BENIGN_MIX = {
    "dev": 0.75,
    "app_backend": 0.03,
    "batch_pipeline": 0.012,
    "startup_scaling": 0.016,
    "coding_agent": 0.012,
    "tutoring_app": 0.008,
    "eval_harness": 0.006,
    "synthetic_vendor": 0.0016,
    "translation_service": 0.005,
    "zdr_enterprise": 0.03,
    "university": 0.12,
    "reseller": 0.0024,
    "llm_judge": 0.006,
}
ATTACK_MIX = {
    "proxy_hydra": 0.5,
    "model_pivot": 0.06,
    "ban_replace": 0.08,
    "zdr_harvest": 0.04,
    "spend_pacing": 0.015,
    "org_spread": 0.06,
    "multilingual_cot": 0.06,
    "reasoning_replay": 0.05,
    "inside_org": 0.02,
    "key_rotation": 0.04,
    "behaviour_shift": 0.05,
    "batch_harvest": 0.015,
    "cross_lab": 0.01,
}


def _seed_attack(total: int) -> dict[str, int]:
    counts = _mix(total, ATTACK_MIX)
    counts["proxy_hydra"] += total - sum(counts.values())
    return counts


SCALES = {
    "tiny": Scale(
        "tiny",
        3,
        {name: max(2, round(300 * share)) for name, share in BENIGN_MIX.items()},
        {name: 3 for name in ATTACK_MIX} | {"proxy_hydra": 12, "ban_replace": 5},
        {name: 1 for name in ATTACK_MIX},
        benign_requests_per_day=4_000,
        attack_requests_per_day=1_500,
        rows_per_file=2_000,
    ),
    "demo": Scale(
        "demo",
        28,
        _mix(5_000, BENIGN_MIX),
        _mix(900, ATTACK_MIX),
        {
            "proxy_hydra": 5,
            "model_pivot": 3,
            "ban_replace": 3,
            "zdr_harvest": 3,
            "spend_pacing": 3,
            "org_spread": 3,
            "multilingual_cot": 3,
            "reasoning_replay": 3,
            "inside_org": 3,
            "key_rotation": 3,
            "behaviour_shift": 3,
            "batch_harvest": 3,
            "cross_lab": 2,
        },
        benign_requests_per_day=66_000,
        attack_requests_per_day=16_000,
        rows_per_file=50_000,
    ),
    # Public reporting: ~24,000 fraudulent accounts, >16M exchanges over the window.
    "seed": Scale(
        "seed",
        30,
        _mix(400_000, BENIGN_MIX),
        _seed_attack(24_000),
        {
            "proxy_hydra": 40,
            "model_pivot": 20,
            "ban_replace": 30,
            "zdr_harvest": 30,
            "spend_pacing": 40,
            "org_spread": 30,
            "multilingual_cot": 30,
            "reasoning_replay": 30,
            "inside_org": 30,
            "key_rotation": 30,
            "behaviour_shift": 40,
            "batch_harvest": 20,
            "cross_lab": 20,
        },
        benign_requests_per_day=2_500_000,
        attack_requests_per_day=560_000,
    ),
    "bench": Scale(
        "bench",
        1,
        _mix(1_500_000, BENIGN_MIX),
        _seed_attack(30_000),
        {name: 40 for name in ATTACK_MIX},
        benign_requests_per_day=13_300_000,
        attack_requests_per_day=700_000,
    ),
}
