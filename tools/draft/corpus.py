"""Print a folder of openly licensed text files as JSONL {id, text}, for `mirror-sd tokenize --jsonl`.

Sources used for the drafts (licences recorded in README.md):
  python3.11-doc (Debian), /usr/share/doc/python3.11/html/_sources/**/*.rst.txt: the Python 3.11
  documentation's reStructuredText sources, PSF License Version 2 (code examples also 0BSD).
Files are read in sorted path order, so the output is the same on every machine with the package.
"""
import argparse
import glob
import json
import os
import sys

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("root", help="folder to read, e.g. /usr/share/doc/python3.11/html/_sources")
ap.add_argument("--pattern", default="**/*.rst.txt", help="glob below root")
ap.add_argument("--min-chars", type=int, default=200, help="skip files shorter than this")
a = ap.parse_args()
paths = sorted(glob.glob(os.path.join(a.root, a.pattern), recursive=True))
if not paths:
    sys.exit(f"no files match {a.pattern} under {a.root} (is the package installed?)")
kept = chars = 0
for path in paths:
    with open(path, encoding="utf-8", errors="strict") as f:
        text = f.read()
    if len(text) < a.min_chars:
        continue
    print(json.dumps({"id": os.path.relpath(path, a.root), "text": text}))
    kept += 1
    chars += len(text)
print(f"{kept} of {len(paths)} files, {chars / 1e6:.1f} M characters", file=sys.stderr)
