"""Benchmark: when does a new question take a curated answer? False matches and misses.

A curated answer must be given to a question that means the same as the curated one (a
paraphrase) and never to one that only looks like it (a near miss: same topic, another
entity, number or negation, or another question about the same text). The matcher
(`agentkit.improve.matching`) needs both an embedding similarity at or above its threshold and
no lexical conflict (numbers, names, negation, opposite words, question kind).

Data: `benchmarks/data/curated_matching.jsonl`, pairs written for this project: paraphrases
and near misses of the demo questions (`make demo`), of 45 questions of the docs-site QA set
and of 22 SQuAD questions (those two are named by id and read from `../shared/data`, never
copied). The script adds near misses found in the data itself: every two questions of the docs
set that cite the same page, and a fixed-seed sample of SQuAD questions asked about the same
paragraph. Pairs are split into a calibration and a report half by their curated question
(a hash of the group), so paraphrases of one question never sit on both sides.

    .venv/bin/python benchmarks/curated_matching.py               # the tables
    .venv/bin/python benchmarks/curated_matching.py --pairs       # ... and every wrong decision
    .venv/bin/python benchmarks/curated_matching.py --embedder default   # one embedder only

The threshold is chosen on the calibration half only, with both bundled MiniLM embedders
(PyTorch, what older agents have, and ONNX int8, what new agents get): the one with the least
`miss rate + FALSE_MATCH_COST * false-match rate`, summed over the two (a false match gives a
wrong canned answer, a miss only falls back to the normal answer path, so a false match counts
as four misses). The report half says what to expect. The near misses are hard on purpose
(most are one entity, number or word away from the curated question), so their false-match
rate is far above what ordinary questions to an agent see.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from agentkit.improve.matching import MATCH_THRESHOLD, lexical_conflict, question_terms  # noqa: E402

PAIRS_PATH = REPO_ROOT / "benchmarks" / "data" / "curated_matching.jsonl"
SHARED = REPO_ROOT.parent / "shared" / "data"
DOCS_QA_PATH = SHARED / "qa" / "python_markdown_docs_qa.jsonl"
SQUAD_PATH = SHARED / "squad_v2" / "dev-v2.0.json"
SQUAD_PARAGRAPH_PAIRS = 300
SAMPLE_SEED = 13
FALSE_MATCH_COST = 4
EMBEDDERS = ("default", "onnx-int8:default")
THRESHOLDS = [round(0.60 + 0.01 * step, 2) for step in range(36)]
HALVES = ("calibration", "report")


@dataclass(frozen=True)
class Pair:
    group: str
    curated: str
    asked: str
    same: bool
    kind: str

    @property
    def half(self) -> str:
        return HALVES[zlib.crc32(self.group.encode()) % 2]


def load_pairs() -> list[Pair]:
    docs = {row["id"]: row for row in map(json.loads, DOCS_QA_PATH.read_text().splitlines()) if row}
    squad = json.loads(SQUAD_PATH.read_text())
    squad_questions: dict[str, str] = {}
    paragraphs: list[list[tuple[str, str]]] = []
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            asked = [(q["id"], q["question"].strip()) for q in paragraph["qas"] if not q["is_impossible"]]
            squad_questions.update(asked)
            paragraphs.append(asked)

    def text(value: str | dict[str, str]) -> str:
        if isinstance(value, str):
            return value
        if "qa" in value:
            return str(docs[value["qa"]]["question"])
        return squad_questions[value["squad"]]

    pairs = []
    for line in PAIRS_PATH.read_text().splitlines():
        row = json.loads(line)
        pairs.append(Pair(row["group"], text(row["curated"]), text(row["asked"]), row["same"], row["kind"]))
    # Two different questions of the docs set citing the same page are near misses of each other.
    answerable = [row for row in docs.values() if row["answerable"]]
    for first, second in itertools.combinations(answerable, 2):
        if set(first["pages"]) & set(second["pages"]):
            pairs.append(
                Pair(f"docs-{first['id']}", first["question"], second["question"], False, "docs same page")
            )
    # So are two SQuAD questions about the same paragraph (a fixed-seed sample).
    candidates = [
        (asked[0][0], first, second)
        for asked in paragraphs
        if len(asked) > 1
        for (_, first), (_, second) in itertools.combinations(asked, 2)
        if first.casefold() != second.casefold()
    ]
    random.Random(SAMPLE_SEED).shuffle(candidates)
    for paragraph_id, first, second in candidates[:SQUAD_PARAGRAPH_PAIRS]:
        pairs.append(Pair(f"squad-paragraph-{paragraph_id}", first, second, False, "squad same paragraph"))
    return pairs


@dataclass(frozen=True)
class Scored:
    pair: Pair
    similarity: float
    conflict: str | None

    def matched(self, threshold: float, *, lexical: bool = True) -> bool:
        return self.similarity >= threshold and (self.conflict is None or not lexical)


def score(pairs: Sequence[Pair], embedder_spec: str = "default") -> list[Scored]:
    from agentkit.models.registry import load_embedder

    embedder = load_embedder(embedder_spec)
    texts = sorted({pair.curated for pair in pairs} | {pair.asked for pair in pairs})
    vectors = dict(zip(texts, embedder.embed(texts), strict=True))
    return [
        Scored(
            pair,
            float(vectors[pair.curated] @ vectors[pair.asked]),
            lexical_conflict(question_terms(pair.asked), question_terms(pair.curated)),
        )
        for pair in pairs
    ]


def rates(
    scored: Sequence[Scored], threshold: float, *, lexical: bool = True
) -> tuple[float, float, int, int]:
    """(false-match rate, miss rate, near misses, paraphrases)."""
    different = [s for s in scored if not s.pair.same]
    same = [s for s in scored if s.pair.same]
    false_matches = sum(s.matched(threshold, lexical=lexical) for s in different)
    misses = sum(not s.matched(threshold, lexical=lexical) for s in same)
    return false_matches / max(len(different), 1), misses / max(len(same), 1), len(different), len(same)


def cost(scored: Sequence[Scored], threshold: float) -> float:
    false_match, miss, _, _ = rates(scored, threshold)
    return miss + FALSE_MATCH_COST * false_match


def choose_threshold(calibrations: Sequence[Sequence[Scored]]) -> float:
    """The threshold of least cost summed over the calibration halves (one per embedder; the
    higher threshold of a tie)."""
    return min(
        reversed(THRESHOLDS),
        key=lambda threshold: sum(cost(calibration, threshold) for calibration in calibrations),
    )


def halves(scored: Sequence[Scored]) -> dict[str, list[Scored]]:
    return {half: [item for item in scored if item.pair.half == half] for half in HALVES}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pairs", action="store_true", help="print every wrong decision at the code's threshold"
    )
    parser.add_argument(
        "--embedder",
        action="append",
        help=f"embedder spec, repeatable (default: {' and '.join(EMBEDDERS)}, the bundled MiniLM "
        "in PyTorch and in ONNX int8, which new agents get)",
    )
    args = parser.parse_args()
    if not DOCS_QA_PATH.exists() or not SQUAD_PATH.exists():
        print(f"shared data not found under {SHARED}; nothing to measure")
        return 0
    specs = args.embedder or list(EMBEDDERS)
    pairs = load_pairs()
    scored = {spec: score(pairs, spec) for spec in specs}
    split = {spec: halves(items) for spec, items in scored.items()}
    chosen = choose_threshold([parts["calibration"] for parts in split.values()])
    print(
        f"Pairs: {len(pairs)} ({sum(p.same for p in pairs)} paraphrases, "
        f"{sum(not p.same for p in pairs)} near misses)"
    )
    for half, items in split[specs[0]].items():
        _, _, near, same = rates(items, chosen)
        print(f"  {half}: {same} paraphrases, {near} near misses")
    print(
        f"\nChosen on the calibration halves of {', '.join(specs)} (least miss rate + "
        f"{FALSE_MATCH_COST} x false-match rate): {chosen:.2f}; in code (MATCH_THRESHOLD): "
        f"{MATCH_THRESHOLD:.2f}"
    )
    shown = sorted(
        {t for t in THRESHOLDS if abs(t - chosen) <= 0.035 or round(t * 100) % 5 == 0} | {MATCH_THRESHOLD}
    )
    for spec, parts in split.items():
        print(f"\nEmbedder {spec}:\n")
        print(
            "| threshold | calibration false match | calibration miss | report false match "
            "| report miss | report, embedding only: false match / miss |"
        )
        print("|---|---|---|---|---|---|")
        for threshold in shown:
            cal_false, cal_miss, _, _ = rates(parts["calibration"], threshold)
            rep_false, rep_miss, _, _ = rates(parts["report"], threshold)
            raw_false, raw_miss, _, _ = rates(parts["report"], threshold, lexical=False)
            mark = " (chosen)" if threshold == chosen else ""
            print(
                f"| {threshold:.2f}{mark} | {cal_false:.1%} | {cal_miss:.1%} | {rep_false:.1%} "
                f"| {rep_miss:.1%} | {raw_false:.1%} / {raw_miss:.1%} |"
            )
    print(f"\nReport half at {MATCH_THRESHOLD:.2f}, by kind of pair ({specs[0]}):\n")
    print("| kind | pairs | matched |")
    print("|---|---|---|")
    kinds: dict[str, list[Scored]] = defaultdict(list)
    for item in split[specs[0]]["report"]:
        kinds[("paraphrase" if item.pair.same else "near miss: " + item.pair.kind)].append(item)
    for kind, items in sorted(kinds.items()):
        matched = sum(s.matched(MATCH_THRESHOLD) for s in items)
        print(f"| {kind} | {len(items)} | {matched} ({matched / len(items):.0%}) |")
    if args.pairs:
        print(f"\nWrong decisions at the code's threshold (both halves, {specs[0]}):")
        for item in scored[specs[0]]:
            if item.matched(MATCH_THRESHOLD) != item.pair.same:
                verdict = "FALSE MATCH" if not item.pair.same else "MISS"
                why = item.conflict or (
                    "similarity below threshold" if item.similarity < MATCH_THRESHOLD else ""
                )
                print(
                    f"{verdict} [{item.pair.half}, {item.pair.kind}] {item.similarity:.3f} {why}\n"
                    f"    curated: {item.pair.curated}\n    asked:   {item.pair.asked}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
