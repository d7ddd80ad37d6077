"""Prompt template families with slot filling and paraphrase variants.

Benign and attack populations draw from overlapping families (eval labs and CoT
harvesters both say "step by step"), variants paraphrase a family so that its
templates are discoverable but not byte-identical, and slots mix values the template
fingerprint masks (numbers, quoted spans, identifiers) with plain topic words it keeps.
Text is assembled column-wise with Arrow: no per-row Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TOPICS = ["photosynthesis", "compound interest", "graph coloring", "the french revolution",
          "protein folding", "black holes", "supply chains", "tcp congestion control",
          "bayesian inference", "plate tectonics", "sorting algorithms", "vaccine trials",
          "monetary policy", "neural networks", "climate models", "quantum tunneling",
          "contract law", "the krebs cycle", "game theory", "distributed consensus"]
LANGS = ["python", "rust", "typescript", "go", "java", "c++", "sql", "kotlin"]
TASKS = ["an lru cache", "a json parser", "a rate limiter", "a b-tree", "a regex engine",
         "a thread pool", "an http router", "a trie", "a bloom filter", "a diff algorithm",
         "a sudoku solver", "a raft log", "a tokenizer", "a priority queue"]
ISSUES = ["arrived damaged", "was charged twice", "never shipped", "is the wrong size",
          "cannot be returned", "was cancelled without notice"]
DOCS = ["policy memo", "release note", "onboarding guide", "incident report", "quarterly summary"]
TEAMS = ["finance", "platform", "legal", "support", "security", "marketing"]
TOOLS = ["web_search, python, file_editor", "browser, shell", "sql_query, chart",
         "calendar, email", "git, test_runner, editor"]
SNIPPETS = ["the product stopped working after the update", "great service, will buy again",
            "shipping took far too long", "the answer misses the second step",
            "this proof assumes what it wants to show", "support never replied to me"]
ERRORS = ["KeyError", "NullPointerException", "segmentation fault", "TypeError",
          "borrow checker error", "deadlock"]

# Slot kinds: each returns an Arrow string array of length n.
SLOT_POOLS = {"topic": TOPICS, "lang": LANGS, "task": TASKS, "issue": ISSUES, "doc": DOCS,
              "team": TEAMS, "tools": TOOLS, "snippet": SNIPPETS, "error": ERRORS}


@dataclass(frozen=True)
class Family:
    """A template family: paraphrase variants of one request, and what it targets."""

    name: str
    capability: str
    variants: tuple[str, ...]


FAMILIES: tuple[Family, ...] = (
    # Benign developer and product traffic.
    Family("dev_debug", "coding", (
        "why does my {lang} code throw {error} when I call {ident}?",
        "I get {error} in {lang} from {ident}, what am I doing wrong?",
        "help: {ident} raises {error} ({lang}), line {num}")),
    Family("dev_explain", "general_chat", (
        "can you explain {topic} simply?",
        "what is {topic} in plain words",
        "give me a short intro to {topic}")),
    Family("app_support", "general_chat", (
        "Customer message for order #{num}: my item {issue}. Write a polite reply.",)),
    Family("app_summarize", "general_chat", (
        "Summarize this review in one sentence: \"{snippet}\"",)),
    Family("enterprise_docs", "general_chat", (
        "Draft a {doc} about {topic} for the {team} team.",
        "Please write a {doc} for {team} covering {topic}.")),
    Family("batch_classify", "general_chat", (
        "Classify the sentiment of the text as positive, negative or neutral: \"{snippet}\"",)),
    # Eval labs: the hardest negatives, high-volume step-by-step benchmark sweeps.
    Family("eval_math", "math_reasoning", (
        "Question {num}: what is {num2} times {num3} minus {num}? Let's think step by step.",
        "Problem {num}. Compute {num2} * {num3} - {num}. Think step by step and give the final answer.")),
    Family("eval_code", "coding", (
        "Complete the {lang} function {ident} so that all tests pass. Think step by step.",)),
    # Attack: chain-of-thought elicitation.
    Family("cot_extract", "math_reasoning", (
        "Solve the following problem. Show your complete reasoning step by step, every intermediate thought, before the final answer: {num2} * {num3} - {num}",
        "Before answering, write out your full chain of thought in detail. Problem: compute {num2} times {num3} minus {num}.",
        "Reason carefully and show all of your internal reasoning steps, then answer: what is {num2} x {num3} - {num}?",
        "Think out loud and explain each step of your reasoning. Task: {num2} multiplied by {num3}, minus {num}.")),
    Family("cot_topic", "math_reasoning", (
        "Explain how you would reason about {topic}. Write out your full chain of thought, step by step.",
        "Walk through your entire reasoning process on {topic}, showing every intermediate step.",
        "Show your step-by-step thinking in full detail on this question about {topic}.")),
    # Attack: capability-targeted harvesting.
    Family("code_harvest", "coding", (
        "Write a complete, production-quality {lang} implementation of {task} with unit tests and comments.",
        "Implement {task} in {lang}. Include full code, tests, and an explanation of design choices.",
        "Give me an expert-level {lang} implementation of {task}, fully tested and documented.")),
    Family("agent_tool", "agentic_tool_use", (
        "You are an autonomous agent with tools [{tools}]. Plan and execute the task step by step: research {topic} and write a report.",
        "Act as an agent using [{tools}]. Decide which tool to call for each step to complete: {task} in {lang}.",
        "Available tools: [{tools}]. Produce the tool calls and reasoning needed to finish: summarize {topic}.")),
    Family("long_form", "general_chat", (
        "Write an exhaustive {num}-word textbook chapter on {topic}, with examples and exercises.",
        "Produce a very long, detailed lecture of at least {num} words about {topic}.")),
    Family("rubric_grader", "math_reasoning", (
        "Grade this answer on a 1-10 rubric and explain your reasoning in detail: \"{snippet}\"",
        "Score the following response from 1 to 10, justifying every point of the rubric: \"{snippet}\"")),
)
FAMILY_INDEX = {family.name: i for i, family in enumerate(FAMILIES)}
CAPABILITIES = sorted({family.capability for family in FAMILIES})
PARAPHRASE_PREFIXES = ["", "Please ", "Kindly ", "Hey, ", "Quick one: ", "As an expert, ",
                       "Task for you: ", "I need this: "]
SLOT_RE = re.compile(r"\{(\w+)\}")


def _split(template: str) -> tuple[list[str], list[str]]:
    """Literal parts and slot names of one template ("a {x} b" -> ["a ", " b"], ["x"])."""
    parts = SLOT_RE.split(template)
    return parts[0::2], parts[1::2]


MAX_SLOTS = max(len(_split(v)[1]) for f in FAMILIES for v in f.variants)
VARIANTS: list[tuple[int, str]] = [(fi, v) for fi, f in enumerate(FAMILIES) for v in f.variants]
VARIANT_BASE = np.cumsum([0] + [len(f.variants) for f in FAMILIES])[:-1]
VARIANT_COUNT = np.array([len(f.variants) for f in FAMILIES])


def _slot_values(kind: str, rng: np.random.Generator, n: int) -> pa.Array:
    if kind in SLOT_POOLS:
        pool = pa.array(SLOT_POOLS[kind])
        return pool.take(pa.array(rng.integers(0, len(pool), n)))
    if kind in ("num", "num2", "num3"):
        return pa.array(rng.integers(2, 10_000, n)).cast(pa.string())
    if kind == "ident":
        stems = pa.array(["parse_row", "load_cfg", "get_user", "calc_total", "fetch_page",
                          "build_index", "merge_k", "solve_dp"])
        names = stems.take(pa.array(rng.integers(0, len(stems), n)))
        suffix = pa.array(rng.integers(0, 100, n)).cast(pa.string())
        return pc.binary_join_element_wise(names, suffix, "")
    raise ValueError(f"unknown slot kind {kind!r}")


def render(variant_ids: np.ndarray, prefix_ids: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Prompt text for each row: variant template with slots filled, optional paraphrase prefix.

    Rows are grouped by variant so each template is filled with whole-column operations.
    """
    n = len(variant_ids)
    order = np.argsort(variant_ids, kind="stable")
    bounds = np.flatnonzero(np.diff(variant_ids[order])) + 1
    texts = []
    for rows in np.split(order, bounds):
        if rows.size == 0:
            continue
        literals, slots = _split(VARIANTS[variant_ids[rows[0]]][1])
        pieces: list = []
        for literal, slot in zip(literals, slots + [None]):
            pieces.append(pa.scalar(literal))
            if slot is not None:
                pieces.append(_slot_values(slot, rng, rows.size))
        if len(pieces) == 1:
            pieces.append(pa.array([""] * rows.size))
        texts.append(pc.binary_join_element_wise(*pieces, ""))
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    body = pa.concat_arrays(texts).take(pa.array(inverse)) if texts else pa.array([], pa.string())
    prefixes = pa.array(PARAPHRASE_PREFIXES).take(pa.array(prefix_ids))
    return pc.binary_join_element_wise(prefixes, body, "")
