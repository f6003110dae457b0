"""Print Spec-Bench first turns of one split as JSONL {id, text}, for `mirror-sd tokenize --jsonl --chat`."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from split import held_out  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("which", choices=["train", "heldout"])
ap.add_argument("--per-task", type=int, default=20, help="held-out: the first N per task (N <= 20)")
ap.add_argument("--questions", default="data/specbench/question.jsonl")
a = ap.parse_args()
qs = [json.loads(l) for l in open(a.questions) if l.strip()]
split = json.load(open(os.path.join(os.path.dirname(__file__), "split.json")))
if a.which == "train":
    keep = set(split["train"])
    chosen = [q for q in qs if q["question_id"] in keep]
else:
    if a.per_task > 20:
        sys.exit("the held-out split has 20 questions per task")
    chosen = held_out(qs, a.per_task)
for q in chosen:
    print(json.dumps({"id": q["question_id"], "text": q["turns"][0]}))
