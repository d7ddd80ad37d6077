"""Prompt text: families of clauses that every population shares in style.

A prompt is built from a family's roles (frame, task, instruction). Each role picks one
of several clause templates; templates hold slots (numbers, topics, code identifiers)
and synonym slots (``{~show}`` -> show / write out / lay out ...); the roles are put in
a random order and joined by a random separator. So tutoring apps, benchmark harnesses,
synthetic-data vendors and harvesting campaigns all "ask to show the work", and no two
attack prompts need share a template. Some families exist in nine languages, each in
its own script. ``common`` prompts are the exact strings thousands of strangers send.
Text is assembled column-wise with Arrow: no per-row Python.
"""

from __future__ import annotations

import re
from itertools import permutations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.synthetic.scenario import LANGUAGES

TOPICS = [
    "photosynthesis",
    "compound interest",
    "graph coloring",
    "the french revolution",
    "protein folding",
    "black holes",
    "supply chains",
    "tcp congestion control",
    "bayesian inference",
    "plate tectonics",
    "sorting algorithms",
    "vaccine trials",
    "monetary policy",
    "neural networks",
    "climate models",
    "quantum tunneling",
    "contract law",
    "the krebs cycle",
    "game theory",
    "distributed consensus",
    "dynamic programming",
    "the pythagorean theorem",
    "inflation",
    "enzyme kinetics",
]
SLOT_POOLS: dict[str, list[str]] = {
    "topic": TOPICS,
    "lang": ["python", "rust", "typescript", "go", "java", "c++", "sql", "kotlin"],
    "task": [
        "an lru cache",
        "a json parser",
        "a rate limiter",
        "a b-tree",
        "a regex engine",
        "a thread pool",
        "an http router",
        "a trie",
        "a bloom filter",
        "a diff algorithm",
        "a sudoku solver",
        "a raft log",
        "a tokenizer",
        "a priority queue",
    ],
    "issue": [
        "arrived damaged",
        "was charged twice",
        "never shipped",
        "is the wrong size",
        "cannot be returned",
        "was cancelled without notice",
    ],
    "doc": ["policy memo", "release note", "onboarding guide", "incident report", "quarterly summary"],
    "team": ["finance", "platform", "legal", "support", "security", "marketing"],
    "tools": [
        "web_search, python, file_editor",
        "browser, shell",
        "sql_query, chart",
        "calendar, email",
        "git, test_runner, editor",
        "read_file, write_file, bash",
    ],
    "snippet": [
        "the product stopped working after the update",
        "great service, will buy again",
        "shipping took far too long",
        "the answer misses the second step",
        "this proof assumes what it wants to show",
        "support never replied to me",
        "the invoice lists an item I never ordered",
        "works as described, battery is weak",
    ],
    "error": [
        "KeyError",
        "NullPointerException",
        "segmentation fault",
        "TypeError",
        "borrow checker error",
        "deadlock",
        "IndexError",
        "undefined is not a function",
    ],
    "tlang": [
        "French",
        "German",
        "Japanese",
        "Chinese",
        "Arabic",
        "Hindi",
        "Korean",
        "Russian",
        "Spanish",
        "Portuguese",
    ],
    "grade": ["7th grade", "high school", "first-year college", "8th grade"],
    "cond": ["interest rates doubled", "the input were sorted", "the network partitioned", "gravity were weaker"],
    "~show": ["show", "write out", "lay out", "spell out", "give", "include"],
    "~every": ["every", "each", "all of the", "the complete set of"],
    "~step": ["step", "intermediate step", "stage", "move"],
    "~reasoning": ["reasoning", "thinking", "thought process", "working", "logic"],
    "~full": ["full", "complete", "entire", "detailed", "whole"],
    "~explain": ["explain", "describe", "walk me through", "break down"],
    "~please": ["please", "kindly", "could you", "I'd like you to"],
    "~write": ["write", "produce", "create", "draft", "generate"],
    "~detailed": ["detailed", "thorough", "exhaustive", "in-depth", "comprehensive"],
    "~problem": ["problem", "question", "exercise", "task", "item"],
    "~answer": ["answer", "respond", "reply"],
}
LOCAL_TOPICS = {
    "zh": ["光合作用", "复利", "图着色", "黑洞", "博弈论", "供应链", "神经网络", "量子隧穿"],
    "ru": [
        "фотосинтез",
        "сложные проценты",
        "чёрные дыры",
        "теория игр",
        "нейронные сети",
        "цепочки поставок",
        "квантовое туннелирование",
        "денежная политика",
    ],
    "ar": [
        "التمثيل الضوئي",
        "الفائدة المركبة",
        "الثقوب السوداء",
        "نظرية الألعاب",
        "الشبكات العصبية",
        "سلاسل الإمداد",
        "السياسة النقدية",
        "النفق الكمومي",
    ],
    "ja": [
        "光合成",
        "複利",
        "ブラックホール",
        "ゲーム理論",
        "ニューラルネットワーク",
        "サプライチェーン",
        "量子トンネル効果",
        "金融政策",
    ],
    "hi": [
        "प्रकाश संश्लेषण",
        "चक्रवृद्धि ब्याज",
        "ब्लैक होल",
        "खेल सिद्धांत",
        "न्यूरल नेटवर्क",
        "आपूर्ति श्रृंखला",
        "मौद्रिक नीति",
        "क्वांटम टनलिंग",
    ],
    "ko": ["광합성", "복리", "블랙홀", "게임 이론", "신경망", "공급망", "통화 정책", "양자 터널링"],
    "es": [
        "la fotosíntesis",
        "el interés compuesto",
        "los agujeros negros",
        "la teoría de juegos",
        "las redes neuronales",
        "las cadenas de suministro",
        "la política monetaria",
        "el efecto túnel",
    ],
    "de": [
        "Photosynthese",
        "Zinseszins",
        "Schwarze Löcher",
        "Spieltheorie",
        "neuronale Netze",
        "Lieferketten",
        "Geldpolitik",
        "Quantentunneln",
    ],
}
LOCAL_SNIPPETS = {
    "zh": ["产品更新后就无法使用了", "服务很好，还会再买"],
    "ru": ["доставка заняла слишком много времени", "поддержка так и не ответила"],
    "ar": ["وصل المنتج تالفاً", "خدمة رائعة وسأشتري مرة أخرى"],
    "ja": ["配送に時間がかかりすぎた", "説明どおりに動作する"],
    "hi": ["उत्पाद अपडेट के बाद काम नहीं कर रहा", "सेवा बहुत अच्छी है"],
    "ko": ["배송이 너무 오래 걸렸어요", "설명대로 작동합니다"],
    "es": ["el envío tardó demasiado", "el soporte nunca respondió"],
    "de": ["die Lieferung dauerte viel zu lange", "funktioniert wie beschrieben"],
}

# family -> role -> English clause templates ("" = the role is left out).
FAMILIES: dict[str, dict[str, list[str]]] = {
    "math_show_work": {
        "frame": [
            "",
            "",
            "I'm a {grade} student.",
            "{~please} help with my homework.",
            "Here is a {~problem}.",
            "Practice {~problem} {num}.",
            "Benchmark item {num}:",
            "Quick check:",
        ],
        "task": [
            "{num2} * {num3} - {num}",
            "What is {num2} times {num3} minus {num}?",
            "A train travels {num} km in {num2} minutes. What is its average speed in km/h?",
            "If x + {num2} = {num3}, what is x?",
            "Find the remainder when {num3} is divided by {num2}.",
            "A shop sells {num2} items at ${num} each with a {pct}% discount. What is the total?",
            "How many ways can {small} people sit around a round table?",
            "What is the sum of the first {num} odd numbers?",
            "Solve for y: {num2}y - {num} = {num3}.",
        ],
        "instruction": [
            "{~show} your work.",
            "{~explain} each {~step}.",
            "Think step by step.",
            "Let's think step by step.",
            "{~show} {~every} {~step} of your {~reasoning} before the answer.",
            "Write out your {~full} {~reasoning}, then give the answer.",
            "Give only the final answer.",
            "Reason carefully, then {~answer}.",
            "{~explain} how you got it so a student can follow.",
            "Put the final answer in a box.",
        ],
    },
    "reasoning_elicit": {
        "frame": [
            "",
            "",
            "{~please} {~answer} carefully.",
            "You are an expert in {topic}.",
            "Take your time.",
            "For a study guide:",
            "Hard one:",
        ],
        "task": [
            "{~explain} how you would reason about {topic}.",
            "What are the strongest arguments for and against {topic}?",
            "Why does {topic} work the way it does?",
            "Analyse {topic} from first principles.",
            "Compare two approaches to {topic} and decide which is better.",
            "What would change about {topic} if {cond}?",
            'Is this claim about {topic} correct: "{snippet}"?',
        ],
        "instruction": [
            "{~show} {~every} {~step} of your {~reasoning}.",
            "Walk through your {~full} {~reasoning}.",
            "Think out loud before you {~answer}.",
            "Include your {~reasoning}, not just the conclusion.",
            "Lay out your chain of thought, then the conclusion.",
            "Be {~detailed}.",
            "Keep it brief.",
            "Use numbered steps.",
        ],
    },
    "code_gen": {
        "frame": [
            "",
            "",
            "For a side project:",
            "Our team needs this:",
            "You are a senior {lang} engineer.",
            "Interview practice:",
        ],
        "task": [
            "{~write} {task} in {lang}.",
            "Implement {task} in {lang}.",
            "I need {task} written in {lang}.",
            "Create a {lang} module that provides {task}.",
            "How would you build {task} in {lang}?",
        ],
        "instruction": [
            "",
            "Include unit tests.",
            "Add comments explaining design choices.",
            "{~explain} the complexity.",
            "Production quality, {~please}.",
            "Keep it short.",
            "{~show} the {~full} code.",
            "Think step by step about edge cases first.",
        ],
    },
    "code_help": {
        "frame": ["", "", "", "help:", "quick question", "stuck on this"],
        "task": [
            "why does my {lang} code throw {error} when I call {ident}?",
            "I get {error} in {lang} from {ident}, what am I doing wrong?",
            "{ident} raises {error} ({lang}), line {num}",
            "how do I fix {error} in {lang}?",
            "{error} in {ident} after upgrading, any idea?",
        ],
        "instruction": ["", "", "thanks", "{~please} {~explain}.", "short answer please"],
    },
    "agentic": {
        "frame": ["", "You are an autonomous agent.", "Task:", "Goal:", "You are a coding assistant in a repo."],
        "task": [
            "research {topic} and write a report",
            "fix the failing test in {ident}",
            "{~write} {task} in {lang}, then run the tests",
            "summarize {topic} from the web",
            "refactor {ident} and open a pull request",
            "find why {ident} raises {error} and patch it",
        ],
        "instruction": [
            "Use the available tools [{tools}].",
            "Plan the steps, then call the tools you need.",
            "Decide which tool to call for each {~step}.",
            "Stop when the tests pass.",
            "{~explain} your plan before each tool call.",
        ],
    },
    "chat": {
        "frame": ["", "", "", "hey,", "question:", "random thought:"],
        "task": [
            "can you {~explain} {topic} simply?",
            "what is {topic} in plain words",
            "give me a short intro to {topic}",
            "tell me something interesting about {topic}",
            "why should I care about {topic}?",
        ],
        "instruction": ["", "", "keep it short", "with an example", "like I'm five"],
    },
    "long_form": {
        "frame": ["", "", "For a course I teach:", "{~please} help:", "For our knowledge base:"],
        "task": [
            "{~write} a {num}-word textbook chapter on {topic}.",
            "Produce a {~detailed} lecture of at least {num} words about {topic}.",
            "Create a full course outline about {topic} with exercises.",
            "{~write} a {~detailed} guide to {topic}.",
        ],
        "instruction": [
            "",
            "Include examples and exercises.",
            "Use headings.",
            "Add worked solutions with {~every} {~step}.",
        ],
    },
    "judge": {
        "frame": ["", "You are a strict grader.", "Evaluation {num}:"],
        "task": [
            'Grade this answer on a 1-10 rubric: "{snippet}"',
            'Score the following response from 1 to 10: "{snippet}"',
            'Which answer is better, A or B? A: "{snippet}" B: "{snippet}"',
            'Does this response follow the instructions? "{snippet}"',
        ],
        "instruction": [
            "{~explain} your {~reasoning} in detail.",
            "Output only the score.",
            "Justify every point of the rubric.",
            "Return JSON with score and rationale.",
        ],
    },
    "translate": {
        "frame": ["", "", "Document {num}:"],
        "task": [
            'Translate into {tlang}: "{snippet}"',
            '{~please} translate this to {tlang}: "{snippet}"',
            '{tlang} version of: "{snippet}"',
        ],
        "instruction": ["", "Keep the tone.", "Translate the whole document.", "Keep formatting."],
    },
    "summarize": {
        "frame": ["", "", "Ticket {num}:"],
        "task": [
            'Summarize this review in one sentence: "{snippet}"',
            'TL;DR: "{snippet}"',
            'Summarize the {doc} for the {team} team: "{snippet}"',
        ],
        "instruction": ["", "", "Max 20 words."],
    },
    "support_reply": {
        "frame": ["", "Customer message for order #{num}:"],
        "task": ["my item {issue}.", "Reply to a customer whose order {issue} (order {num})."],
        "instruction": ["Write a polite reply.", "Apologise and offer a refund.", ""],
    },
    "classify": {
        "frame": [""],
        "task": [
            'Classify the sentiment of the text as positive, negative or neutral: "{snippet}"',
            'Label this ticket as billing, shipping or other: "{snippet}"',
            'Is this spam? "{snippet}"',
        ],
        "instruction": ["", "Answer with one word."],
    },
    "docs": {
        "frame": ["", "", "For the wiki:"],
        "task": [
            "Draft a {doc} about {topic} for the {team} team.",
            "{~please} write a {doc} for {team} covering {topic}.",
        ],
        "instruction": ["", "Keep it under a page.", "Use a formal tone."],
    },
}
# The same roles in other languages, each in its own script; other families fall back to English.
LOCAL: dict[str, dict[str, dict[str, list[str]]]] = {
    "zh": {
        "math_show_work": {
            "task": [
                "计算 {num2} × {num3} − {num}。",
                "如果 x + {num2} = {num3}，x 等于多少？",
                "求前 {num} 个奇数之和。",
            ],
            "instruction": [
                "请一步一步地思考。",
                "请写出完整的推理过程，然后给出答案。",
                "请展示你的解题步骤。",
                "只给出最终答案。",
            ],
        },
        "reasoning_elicit": {
            "task": ["请解释你会如何思考{topic}。", "从第一性原理分析{topic}。", "{topic}为什么会这样运作？"],
            "instruction": ["请详细展示你的每一步推理。", "把你的完整思维链写出来。", "先思考，再回答。"],
        },
        "chat": {"task": ["能简单解释一下{topic}吗？", "{topic}是什么？"], "instruction": ["", "简短一点"]},
        "translate": {"task": ["翻译成英文：“{lsnippet}”", "请把这句话翻译成{tlang}：“{lsnippet}”"]},
    },
    "ru": {
        "math_show_work": {
            "task": [
                "Вычислите {num2} × {num3} − {num}.",
                "Если x + {num2} = {num3}, чему равен x?",
                "Найдите сумму первых {num} нечётных чисел.",
            ],
            "instruction": [
                "Рассуждайте шаг за шагом.",
                "Покажите ход решения.",
                "Распишите все промежуточные шаги, затем дайте ответ.",
                "Дайте только ответ.",
            ],
        },
        "reasoning_elicit": {
            "task": [
                "Объясните, как бы вы рассуждали о теме «{topic}».",
                "Проанализируйте тему «{topic}» с первых принципов.",
                "Почему {topic} устроено именно так?",
            ],
            "instruction": [
                "Покажите каждый шаг своих рассуждений.",
                "Подробно опишите ход своих мыслей.",
                "Сначала подумайте вслух, потом ответьте.",
            ],
        },
        "chat": {
            "task": ["Объясни простыми словами, что такое {topic}.", "Что такое {topic}?"],
            "instruction": ["", "коротко"],
        },
        "translate": {"task": ["Переведи на английский: «{lsnippet}»"]},
    },
    "ar": {
        "math_show_work": {
            "task": [
                "احسب {num2} × {num3} − {num}.",
                "إذا كان x + {num2} = {num3}، فما قيمة x؟",
                "أوجد مجموع أول {num} من الأعداد الفردية.",
            ],
            "instruction": [
                "فكّر خطوة بخطوة.",
                "اعرض خطوات الحل كاملة.",
                "اكتب كل خطوات تفكيرك ثم الإجابة النهائية.",
                "أعطِ الإجابة النهائية فقط.",
            ],
        },
        "reasoning_elicit": {
            "task": ["اشرح كيف تفكر في {topic}.", "حلّل {topic} من المبادئ الأولى.", "لماذا يعمل {topic} بهذه الطريقة؟"],
            "instruction": [
                "اعرض كل خطوة من خطوات استدلالك بالتفصيل.",
                "اكتب سلسلة أفكارك كاملة.",
                "فكّر بصوت عالٍ قبل الإجابة.",
            ],
        },
        "chat": {"task": ["ما هو {topic}؟", "اشرح لي {topic} ببساطة."], "instruction": [""]},
        "translate": {"task": ['ترجم إلى الإنجليزية: "{lsnippet}"']},
    },
    "ja": {
        "math_show_work": {
            "task": [
                "{num2} × {num3} − {num} を計算してください。",
                "x + {num2} = {num3} のとき、x はいくつですか？",
                "最初の {num} 個の奇数の和を求めよ。",
            ],
            "instruction": [
                "段階的に考えてください。",
                "途中の計算をすべて示してください。",
                "推論の過程をすべて書いてから答えてください。",
                "答えだけを書いてください。",
            ],
        },
        "reasoning_elicit": {
            "task": [
                "{topic}についてどのように推論するか説明してください。",
                "{topic}を第一原理から分析してください。",
                "なぜ{topic}はそのように働くのですか？",
            ],
            "instruction": [
                "推論のすべてのステップを詳しく示してください。",
                "思考の過程をすべて書き出してください。",
                "答える前に声に出して考えてください。",
            ],
        },
        "chat": {"task": ["{topic}を簡単に説明してくれますか？", "{topic}とは何ですか？"], "instruction": [""]},
        "translate": {"task": ["英語に翻訳してください：「{lsnippet}」"]},
    },
    "hi": {
        "math_show_work": {
            "task": [
                "{num2} × {num3} − {num} की गणना कीजिए।",
                "यदि x + {num2} = {num3} है, तो x का मान क्या है?",
                "पहली {num} विषम संख्याओं का योग ज्ञात कीजिए।",
            ],
            "instruction": [
                "चरण दर चरण सोचिए।",
                "अपना पूरा हल दिखाइए।",
                "हर मध्यवर्ती चरण लिखिए, फिर अंतिम उत्तर दीजिए।",
                "केवल अंतिम उत्तर दीजिए।",
            ],
        },
        "reasoning_elicit": {
            "task": [
                "समझाइए कि आप {topic} के बारे में कैसे तर्क करेंगे।",
                "{topic} का मूल सिद्धांतों से विश्लेषण कीजिए।",
                "{topic} इस तरह क्यों काम करता है?",
            ],
            "instruction": [
                "अपने तर्क का हर चरण विस्तार से दिखाइए।",
                "अपनी पूरी विचार प्रक्रिया लिखिए।",
                "उत्तर देने से पहले ज़ोर से सोचिए।",
            ],
        },
        "chat": {"task": ["{topic} क्या है?", "{topic} को आसान शब्दों में समझाइए।"], "instruction": [""]},
        "translate": {"task": ['अंग्रेज़ी में अनुवाद कीजिए: "{lsnippet}"']},
    },
    "ko": {
        "math_show_work": {
            "task": [
                "{num2} × {num3} − {num}을(를) 계산하세요.",
                "x + {num2} = {num3}일 때 x는 얼마입니까?",
                "처음 {num}개의 홀수의 합을 구하세요.",
            ],
            "instruction": [
                "단계별로 생각해 보세요.",
                "풀이 과정을 모두 보여 주세요.",
                "모든 중간 단계를 쓴 다음 최종 답을 제시하세요.",
                "최종 답만 쓰세요.",
            ],
        },
        "reasoning_elicit": {
            "task": [
                "{topic}에 대해 어떻게 추론할지 설명하세요.",
                "{topic}을(를) 제1원리부터 분석하세요.",
                "{topic}은(는) 왜 그렇게 작동합니까?",
            ],
            "instruction": [
                "추론의 모든 단계를 자세히 보여 주세요.",
                "전체 사고 과정을 적어 주세요.",
                "답하기 전에 소리 내어 생각해 보세요.",
            ],
        },
        "chat": {"task": ["{topic}이(가) 무엇인지 쉽게 설명해 줄래요?", "{topic}이란?"], "instruction": [""]},
        "translate": {"task": ['영어로 번역해 주세요: "{lsnippet}"']},
    },
    "es": {
        "math_show_work": {
            "task": [
                "Calcula {num2} × {num3} − {num}.",
                "Si x + {num2} = {num3}, ¿cuánto vale x?",
                "Halla la suma de los primeros {num} números impares.",
            ],
            "instruction": [
                "Piensa paso a paso.",
                "Muestra tu trabajo.",
                "Escribe todo tu razonamiento y luego la respuesta final.",
                "Da solo la respuesta final.",
            ],
        },
        "reasoning_elicit": {
            "task": [
                "Explica cómo razonarías sobre {topic}.",
                "Analiza {topic} desde los primeros principios.",
                "¿Por qué {topic} funciona así?",
            ],
            "instruction": [
                "Muestra cada paso de tu razonamiento.",
                "Escribe tu cadena de pensamiento completa.",
                "Piensa en voz alta antes de responder.",
            ],
        },
        "chat": {"task": ["¿Puedes explicar {topic} de forma sencilla?", "¿Qué es {topic}?"], "instruction": [""]},
        "translate": {"task": ["Traduce al inglés: «{lsnippet}»"]},
    },
    "de": {
        "math_show_work": {
            "task": [
                "Berechne {num2} × {num3} − {num}.",
                "Wenn x + {num2} = {num3} ist, wie groß ist x?",
                "Bestimme die Summe der ersten {num} ungeraden Zahlen.",
            ],
            "instruction": [
                "Denke Schritt für Schritt.",
                "Zeige deinen Rechenweg.",
                "Schreibe jeden Zwischenschritt auf und gib dann die Antwort.",
                "Gib nur das Endergebnis an.",
            ],
        },
        "reasoning_elicit": {
            "task": [
                "Erkläre, wie du über {topic} nachdenken würdest.",
                "Analysiere {topic} von Grund auf.",
                "Warum funktioniert {topic} so?",
            ],
            "instruction": [
                "Zeige jeden Schritt deiner Überlegungen.",
                "Schreibe deinen vollständigen Gedankengang auf.",
                "Denke laut nach, bevor du antwortest.",
            ],
        },
        "chat": {"task": ["Kannst du {topic} einfach erklären?", "Was ist {topic}?"], "instruction": [""]},
        "translate": {"task": ["Übersetze ins Englische: „{lsnippet}“"]},
    },
}
# Sent verbatim by thousands of unrelated accounts (Zipf-weighted).
COMMON_PROMPTS = [
    "hi",
    "hello",
    "test",
    "Hello!",
    "what can you do?",
    "translate this to French: good morning",
    "Write a Python function to reverse a string.",
    "Write a function that checks if a number is prime.",
    "What is the capital of France?",
    "Explain recursion like I'm five.",
    "tell me a joke",
    "Summarize the plot of Hamlet.",
    "What is 2+2?",
    "Write a haiku about autumn.",
    "Fix the bug in this code: for i in range(10) print(i)",
    "Explain the difference between a list and a tuple in Python.",
    "How do I center a div?",
    "Implement FizzBuzz in JavaScript.",
    "ping",
    "你好",
    "Привет",
    "Give me 5 ideas for a birthday party.",
    "Solve 2x + 3 = 11 step by step.",
    "What is the derivative of x^2? Show your work.",
]
COMMON_P = 1.0 / np.arange(1, len(COMMON_PROMPTS) + 1)
COMMON_P /= COMMON_P.sum()

FAMILY_NAMES = tuple(FAMILIES) + ("common",)
FAMILY_INDEX = {name: i for i, name in enumerate(FAMILY_NAMES)}
COMMON = FAMILY_INDEX["common"]
ROLES = ("frame", "task", "instruction")
ORDERS = np.array(list(permutations(range(3))))
# The task-first and frame-task-instruction orders are the usual ones; others are rewrites.
ORDER_P = np.array([0.45, 0.08, 0.12, 0.1, 0.1, 0.15])
SEPARATORS = [" ", " ", "\n", "\n\n", " - "]
SLOT_RE = re.compile(r"\{([~\w]+)\}")


def _split(template: str) -> tuple[list[str], list[str]]:
    parts = SLOT_RE.split(template)
    return parts[0::2], parts[1::2]


def clause_pool(family: str, language: str, role: str) -> tuple[list[str], str]:
    """Templates of one role and their language; without its own, a language falls back to English."""
    local = LOCAL.get(language, {}).get(family, {}).get(role)
    return (local, language) if local else (FAMILIES[family].get(role, [""]), "en")


def _slot_values(kind: str, language: str, rng: np.random.Generator, n: int) -> pa.Array:
    if kind == "topic" and language in LOCAL_TOPICS:
        pool = LOCAL_TOPICS[language]
    elif kind == "lsnippet":
        pool = LOCAL_SNIPPETS.get(language, SLOT_POOLS["snippet"])
    else:
        pool = SLOT_POOLS.get(kind)
    if pool is not None:
        return pa.array(pool).take(pa.array(rng.integers(0, len(pool), n)))
    if kind in ("num", "num2", "num3"):
        return pa.array(rng.integers(2, 10_000, n)).cast(pa.string())
    if kind == "pct":
        return pa.array(rng.integers(5, 40, n)).cast(pa.string())
    if kind == "small":
        return pa.array(rng.integers(3, 12, n)).cast(pa.string())
    if kind == "ident":
        stems = pa.array(
            [
                "parse_row",
                "load_cfg",
                "get_user",
                "calc_total",
                "fetch_page",
                "build_index",
                "merge_k",
                "solve_dp",
                "handle_event",
                "render_view",
            ]
        )
        names = stems.take(pa.array(rng.integers(0, len(stems), n)))
        return pc.binary_join_element_wise(names, pa.array(rng.integers(0, 100, n)).cast(pa.string()), "")
    raise ValueError(f"unknown slot kind {kind!r}")


def _fill(pool: list[str], template: np.ndarray, language: str, rng: np.random.Generator) -> pa.Array:
    """Each row's template of ``pool`` with its slots filled, grouped by template."""
    texts, positions = [], []
    for t in np.unique(template):
        rows = np.flatnonzero(template == t)
        literals, slots = _split(pool[t])
        pieces: list = []
        for literal, slot in zip(literals, slots + [None]):
            pieces.append(pa.scalar(literal))
            if slot is not None:
                pieces.append(_slot_values(slot, language, rng, rows.size))
        if len(pieces) == 1:
            pieces.append(pa.array([""] * rows.size))
        texts.append(pc.binary_join_element_wise(*pieces, ""))
        positions.append(rows)
    order = np.concatenate(positions)
    inverse = np.empty(template.size, dtype=np.int64)
    inverse[order] = np.arange(template.size)
    return pa.concat_arrays(texts).take(pa.array(inverse))


def render(family: np.ndarray, language: np.ndarray, style: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Prompt text per row. ``style`` is a per-account number: an account leans to its own
    clause choices and order half of the time (people and scripts have habits)."""
    n = family.size
    result = pa.array([""] * n)
    if n == 0:
        return result
    key = family * len(LANGUAGES) + language
    pieces, positions = [], []
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        fam, lang = int(k // len(LANGUAGES)), LANGUAGES[int(k % len(LANGUAGES))]
        if fam == COMMON:
            pieces.append(
                pa.array(COMMON_PROMPTS).take(pa.array(rng.choice(len(COMMON_PROMPTS), rows.size, p=COMMON_P)))
            )
            positions.append(rows)
            continue
        name = FAMILY_NAMES[fam]
        habit = rng.random(rows.size) < 0.5
        clauses = []
        for r, role in enumerate(ROLES):
            pool, pool_lang = clause_pool(name, lang, role)
            own = (style[rows] // (r * 7 + 1)) % len(pool)
            clauses.append(_fill(pool, np.where(habit, own, rng.integers(0, len(pool), rows.size)), pool_lang, rng))
        order = np.where(habit, style[rows] % 6 % len(ORDERS), rng.choice(len(ORDERS), rows.size, p=ORDER_P))
        placed = [pc.choose(pa.array(ORDERS[order, p]), *clauses) for p in range(3)]
        placed = [pc.if_else(pc.equal(c, ""), pa.scalar(None, pa.string()), c) for c in placed]
        separator = pa.array(SEPARATORS).take(pa.array(rng.integers(0, len(SEPARATORS), rows.size)))
        pieces.append(pc.binary_join_element_wise(*placed, separator, null_handling="skip"))
        positions.append(rows)
    order = np.concatenate(positions)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return pa.concat_arrays([p.cast(pa.string()) for p in pieces]).take(pa.array(inverse))
