"""The train / held-out split of Spec-Bench by question id, written to split.json.

Held-out = the first 20 questions of each of Spec-Bench's six tasks, in the order `mirror-sd bench`
selects them (by question id; mt_bench spread over its eight categories, one of each before a second
of any). So every `bench --per-task N` run with N <= 20 measures only held-out prompts. Everything
else (360 questions) is the training split.
"""
import json
import sys
from collections import defaultdict

TASKS = ["mt_bench", "translation", "summarization", "qa", "math_reasoning", "rag"]
MT = {"writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"}
PER_TASK = 20


def task_of(q):
    return "mt_bench" if q["category"] in MT else q["category"]


def held_out(questions, per_task=PER_TASK):
    out = []
    for task in TASKS:
        pool = sorted((q for q in questions if task_of(q) == task), key=lambda q: q["question_id"])
        if task != "mt_bench":
            out += pool[:per_task]
            continue
        by_cat = defaultdict(list)
        for q in pool:
            by_cat[q["category"]].append(q)
        picked, i = [], 0
        while len(picked) < min(per_task, len(pool)):
            for c in sorted(by_cat):
                if len(picked) < per_task and i < len(by_cat[c]):
                    picked.append(by_cat[c][i])
            i += 1
        out += picked
    return out


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "../../data/specbench/question.jsonl"
    qs = [json.loads(l) for l in open(path) if l.strip()]
    ho = {q["question_id"] for q in held_out(qs)}
    split = {"rule": __doc__.strip().splitlines()[2].strip() + " ...",
             "held_out": sorted(ho), "train": sorted(q["question_id"] for q in qs if q["question_id"] not in ho)}
    json.dump(split, open("split.json", "w"), indent=0)
    print(f"{len(split['train'])} train, {len(split['held_out'])} held-out questions -> split.json")
