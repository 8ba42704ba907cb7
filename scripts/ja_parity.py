#!/usr/bin/env python3
"""Japanese phoneme parity with misaki's default path (development only, not in the product).

Kokoro v1.0's Japanese voices were trained on misaki's `JAG2P()` without a version: its cutlet
module (fugashi + UniDic tokens -> kana -> its own table). This runs that path offline over our
corpus and compares its phonemes with ours symbol by symbol (one symbol = one Kokoro id; both
sides filtered to Kokoro's vocabulary, as the model only ever sees those).

    python3 scripts/ja_parity.py [--corpus scripts/ja_parity/corpus.txt] [--ours ours.tsv]
                                 [--show N] [--lines]

The venv (misaki, fugashi, unidic-lite, jaconv, mojimoji; pinned) is made once under
$POLYVOX_TOOLS_DIR (default ~/.cache/polyvox-tools)/ja-parity-venv; unidic-lite ships its
dictionary in the wheel, so nothing is downloaded at run time. misaki's `ja` module imports
pyopenjtalk at the top although the cutlet path never calls it; a stub module stands in, so
pyopenjtalk (and its dictionary download) is not needed. Our side comes from the
`phonemize_lines` example (`--ours` takes a TSV it wrote instead of running cargo).

Agreement = 1 - (symbol edits / misaki's symbols), summed over the corpus; printed with and
without spaces, and the edits grouped by kind.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = ["misaki==0.9.4", "fugashi==1.5.2", "unidic-lite==1.0.8", "jaconv==0.5.0", "mojimoji==0.0.13"]


def venv_python() -> Path:
    tools = Path(os.environ.get("POLYVOX_TOOLS_DIR", Path.home() / ".cache/polyvox-tools"))
    venv = tools / "ja-parity-venv"
    stamp = venv / ".polyvox-ok"
    if not stamp.exists() or stamp.read_text() != " ".join(PINS):
        print(f"setting up {venv} ({' '.join(PINS)})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", *PINS], check=True)
        stamp.write_text(" ".join(PINS))
    return venv / "bin/python"


def misaki_g2p():
    sys.modules.setdefault("pyopenjtalk", types.ModuleType("pyopenjtalk"))
    from misaki import ja

    g2p = ja.JAG2P()
    assert g2p.cutlet is not None, "misaki's default path should be cutlet"
    return lambda text: g2p(text)[0]


def ours(corpus: Path, tsv: Path | None) -> dict:
    if tsv is not None:
        lines = tsv.read_text().splitlines()
    else:
        cmd = ["cargo", "run", "-q", "-p", "polyvox-text", "--example", "phonemize_lines", "--", "--lang", "ja"]
        lines = subprocess.run(cmd, cwd=ROOT, stdin=corpus.open(), capture_output=True, text=True, check=True).stdout.splitlines()
    return dict(line.split("\t", 1) for line in lines if "\t" in line)


def alignment(a: str, b: str):
    """Levenshtein over symbols; returns the edit count and the differing stretches (a_part, b_part)."""
    n, m = len(a), len(b)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    i, j, ops = n, m, []
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (a[i - 1] != b[j - 1]):
            ops.append((a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + 1:
            ops.append((a[i - 1], ""))
            i -= 1
        else:
            ops.append(("", b[j - 1]))
            j -= 1
    ops.reverse()
    stretches, cur = [], None
    for x, y in ops:
        if x == y:
            if cur:
                stretches.append(cur)
            cur = None
        else:
            cur = (cur[0] + x, cur[1] + y) if cur else (x, y)
    if cur:
        stretches.append(cur)
    return d[n][m], stretches


PUNCT = set("!\"(),.:;?—“”…«»")
NASALS = set("ɴmŋɲn")


def kind(a: str, b: str) -> str:
    both = a + b
    if not both.strip():
        return "spacing between words"
    if set(both) & PUNCT:
        return "punctuation"
    if a.replace(" ", "") == b.replace(" ", ""):
        return "spacing between words"
    if "ː" in both:
        return "long vowel"
    if "ʔ" in both:
        return "sokuon"
    if set(both.replace(" ", "")) <= NASALS:
        return "ん (moraic nasal)"
    if "ʲ" in both:
        return "palatalisation"
    return "reading (other sounds)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "scripts/ja_parity/corpus.txt")
    ap.add_argument("--ours", type=Path, help="a TSV (text, phonemes) from the phonemize_lines example")
    ap.add_argument("--vocab", type=Path, default=Path(os.environ.get("POLYVOX_ASSETS_DIR", Path.home() / ".cache/polyvox")) / "vocab.json")
    ap.add_argument("--show", type=int, default=12, help="examples per kind")
    ap.add_argument("--lines", action="store_true", help="print every sentence that differs")
    args = ap.parse_args()
    if "VIRTUAL_ENV" not in os.environ and not os.environ.get("JA_PARITY_IN_VENV"):
        py = venv_python()
        env = dict(os.environ, JA_PARITY_IN_VENV="1")
        sys.exit(subprocess.run([str(py), __file__, *sys.argv[1:]], env=env).returncode)

    vocab = json.loads(args.vocab.read_text())
    vocab = set(vocab.get("vocab", vocab))
    keep = lambda s: "".join(c for c in s if c in vocab)
    sentences = [l.strip() for l in args.corpus.read_text().splitlines() if l.strip() and not l.startswith("#")]
    mine = ours(args.corpus, args.ours)
    misaki = misaki_g2p()

    edits = total = edits_ns = total_ns = same = 0
    kinds = collections.Counter()
    pairs = collections.defaultdict(collections.Counter)
    for s in sentences:
        theirs, got = keep(misaki(s)), keep(mine[s])
        e, stretches = alignment(theirs, got)
        e_ns, _ = alignment(theirs.replace(" ", ""), got.replace(" ", ""))
        edits, total, edits_ns, total_ns = edits + e, total + len(theirs), edits_ns + e_ns, total_ns + len(theirs.replace(" ", ""))
        same += e == 0
        for a, b in stretches:
            k = kind(a, b)
            kinds[k] += max(len(a), len(b))
            pairs[k][(a, b)] += 1
        if args.lines and e:
            print(f"{s}\n  misaki: {theirs}\n  ours:   {got}")
    print(f"{len(sentences)} sentences, {same} identical")
    print(f"agreement {1 - edits / total:.2%} ({edits} edits over {total} symbols of misaki's, spaces included)")
    print(f"agreement {1 - edits_ns / total_ns:.2%} ({edits_ns} edits over {total_ns} symbols, spaces ignored)")
    for k, n in kinds.most_common():
        print(f"\n{k}: ~{n} symbols")
        for (a, b), c in pairs[k].most_common(args.show):
            print(f"  {c:4d}  misaki {a!r:12} ours {b!r}")


if __name__ == "__main__":
    main()
