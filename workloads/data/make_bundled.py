"""Re-record the bundled real traces (see README.md in this folder).

Run from the repository root: .venv/bin/python workloads/data/make_bundled.py [--only NAME] [--out DIR]

Each trace is one real program run under ``valgrind --tool=lackey --trace-mem=yes``
through :func:`workloads.record.record` (page size 4096, consecutive duplicate
(page, op) references collapsed). The inputs are generated here deterministically, so
a re-run records the same program on the same input; the addresses can still differ
slightly from run to run (address-space layout randomisation, environment size), and
other versions of the programs or of valgrind give other traces.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from workloads.record import record

HERE = Path(__file__).resolve().parent

PY_SCRIPT = """\
words = [format(i * 2654435761 % 1000003, "x") for i in range(3000)]
counts = {}
for w in words:
    counts[w[:2]] = counts.get(w[:2], 0) + 1
print(sorted(counts.items(), key=lambda kv: -kv[1])[:3])
"""

SQL = """\
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400)
INSERT INTO t SELECT x, (x * 7919) % 101, printf('%08x', (x * 2654435761) % 4294967296) FROM c;
CREATE INDEX t_k ON t(k);
SELECT k, count(*), max(v) FROM t WHERE k BETWEEN 10 AND 60 GROUP BY k ORDER BY 2 DESC, 1 LIMIT 5;
"""


def words_file(path: Path, n: int, seed: int = 1) -> Path:
    """``n`` random lowercase words of 3 to 12 letters, one per line (Python's ``random``, seeded)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 12))) for _ in range(n)]
    path.write_text("\n".join(words) + "\n")
    return path


C_SOURCE = """\
#include <stdio.h>
struct node { int key; struct node *left, *right; };
static struct node pool[4096];
static int used;
static struct node *insert(struct node *t, int key) {
    if (!t) { t = &pool[used++]; t->key = key; t->left = t->right = 0; return t; }
    if (key < t->key) t->left = insert(t->left, key); else t->right = insert(t->right, key);
    return t;
}
static int depth(const struct node *t) {
    if (!t) return 0;
    int l = depth(t->left), r = depth(t->right);
    return 1 + (l > r ? l : r);
}
int main(void) {
    struct node *root = 0;
    for (int i = 0; i < 4000; i++) root = insert(root, (int)((i * 2654435761u) % 100003u));
    printf("%d\\n", depth(root));
    return 0;
}
"""


AWK = """\
{ for (i = 1; i <= NF; i++) { c[substr($i, 1, 2)]++; n[length($i)]++ } }
END { for (k in c) print k, c[k]; for (k in n) print k, n[k] }
"""

BC = "scale=600; 4*a(1)\nquit\n"

TCL = """\
set d [dict create]
for {set i 0} {$i < 20000} {incr i} { dict incr d [expr {($i * 2654435761) % 7919}] }
puts [dict size $d]
"""

JQ_FILTER = "group_by(.k) | map({k: .[0].k, n: length, s: (map(.v) | add)}) | sort_by(-.n) | .[:5]"


def json_file(path: Path, n: int, seed: int = 1) -> Path:
    """A JSON array of ``n`` objects ``{"k": word prefix, "v": int, "w": word}`` (Python's ``random``)."""
    import json

    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = []
    for _ in range(n):
        w = "".join(rng.choice(letters) for _ in range(rng.randint(3, 12)))
        rows.append({"k": w[:2], "v": rng.randint(0, 999), "w": w})
    path.write_text(json.dumps(rows))
    return path


NODE = (
    "const m = new Map(); for (let i = 0; i < 20000; i++) m.set((i * 2654435761) % 100003, i); "
    "console.log(m.size)"
)

PERL = 'my %h; for my $i (1..20000) { $h{($i*2654435761)%100003}++ } print scalar(keys %h), "\\n"'


def tar_tree(tmp: Path) -> Path:
    """A folder of 40 word files (seeds 10-49) for ``tar`` to archive."""
    tree = tmp / "tree"
    tree.mkdir(exist_ok=True)
    for i in range(40):
        words_file(tree / f"f{i:02d}.txt", 200, seed=10 + i)
    return tree


def cc1() -> str:
    """The C compiler proper (gcc's driver runs it as a child process, which valgrind would not follow)."""
    import subprocess

    done = subprocess.run(["gcc", "-print-prog-name=cc1"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commands(tmp: Path) -> dict[str, tuple[list[str], dict]]:
    """Name -> (command line, record() options) of every bundled trace (inputs written into ``tmp``)."""
    text7 = words_file(tmp / "text7.txt", 6_000, seed=7)
    first_4m = {"max_refs": 4_000_000}
    return {
        "sort": (["sort", str(words_file(tmp / "words.txt", 4_000))], {}),
        "gzip": (["gzip", "-6", "-c", str(words_file(tmp / "text.txt", 2_500, seed=2))], {}),
        # the interpreter's start-up alone is ~16M page references: keep 4M from 15.5M on
        "python": (
            ["/usr/bin/python3.11", "-I", "-S", "-c", PY_SCRIPT],
            {"skip_refs": 15_500_000, "max_refs": 4_000_000},
        ),
        "sqlite": (["sqlite3", ":memory:", SQL], {}),
        # training data for learned agents (the train suite): more programs, more reference patterns
        "comm": (
            [
                "comm",
                "--nocheck-order",
                "-3",
                str(words_file(tmp / "a.txt", 3_000, seed=3)),
                str(words_file(tmp / "b.txt", 3_000, seed=4)),
            ],
            {},
        ),  # fmt: skip
        "cc1": (
            [cc1(), "-quiet", "-O1", str(_write(tmp / "tree.c", C_SOURCE)), "-o", "/dev/null"],
            {"max_refs": 4_000_000},
        ),
        "tar": (["tar", "cf", "-", "-C", str(tar_tree(tmp).parent), "tree"], {"max_refs": 4_000_000}),
        # more training programs (second batch): a compressor with a large window, a
        # regex stream editor, a JSON processor, arbitrary precision arithmetic, a
        # disassembler and a Tcl interpreter
        "zstd": (["zstd", "-19", "-c", str(words_file(tmp / "text11.txt", 6_000, seed=11))], first_4m),
        "sed": (
            [
                "sed",
                "-E",
                "s/([aeiou]+)([^aeiou]*)/\\2\\1/g",
                str(words_file(tmp / "text12.txt", 6_000, seed=12)),
            ],
            first_4m,
        ),
        "jq": (["jq", "-c", JQ_FILTER, str(json_file(tmp / "rows.json", 3_000, seed=13))], first_4m),
        "bc": (["bc", "-l", str(_write(tmp / "pi.bc", BC))], first_4m),
        "objdump": (["objdump", "-d", "--no-show-raw-insn", "/usr/bin/comm"], first_4m),
        "tclsh": (["tclsh", str(_write(tmp / "count.tcl", TCL))], first_4m),
        # programs of the `valid` suite (choosing a round, margin and safeguard on real programs)
        "grep": (
            ["grep", "-E", "-c", "(ab|cd)[a-m]+(e|o)$", str(words_file(tmp / "text14.txt", 8_000, seed=14))],
            {},
        ),
        "lz4": (["lz4", "-9", "-c", str(words_file(tmp / "text15.txt", 6_000, seed=15))], first_4m),
        "xxd": (["xxd", str(words_file(tmp / "text16.txt", 1_500, seed=16))], first_4m),
        "node": (["node", "-e", NODE], first_4m),
        # unseen programs: in no suite, to check that a learned agent transfers (benchmarks/bench_agents.py)
        "xz": (["xz", "-6", "-c", str(text7)], first_4m),
        "bzip2": (["bzip2", "-9", "-c", str(text7)], first_4m),
        "awk": (["awk", "-f", str(_write(tmp / "count.awk", AWK)), str(text7)], first_4m),
        "perl": (["perl", "-e", PERL], first_4m),
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def main() -> None:
    """Record the traces named by --only (default: all) into --out."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="record only these traces")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    os.environ["LC_ALL"] = "C"  # sort order and messages independent of the locale
    with tempfile.TemporaryDirectory() as tmp:
        for name, (cmd, options) in commands(Path(tmp)).items():
            if args.only and name not in args.only:
                continue
            t = time.perf_counter()
            out = args.out / f"{name}.npz"
            w = record(cmd, out, 4096, quiet=True, **options)
            print(
                f"{name:8} {w.references:>11,} references  {out.stat().st_size / 1e6:6.2f} MB  "
                f"{time.perf_counter() - t:6.1f} s"
            )


if __name__ == "__main__":
    main()
