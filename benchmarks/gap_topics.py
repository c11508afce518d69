"""Benchmark: at which similarity threshold do `agentkit stats` gaps group questions into topics?

Data: SQuAD 2.0 dev as shipped in `../shared/data/squad_v2/dev-v2.0.json` (16 Wikipedia
articles). A gap is what the knowledge base lacks, so the questions asked about one paragraph
stand for one gap (the owner would add that paragraph), and one article for one broad subject.
A fixed-seed sample of paragraphs from all articles gives a set of "unanswered" questions whose
true topics are known; they are grouped with the real MiniLM embedder by `find_gaps` at each
threshold, and the grouping is compared with the truth over pairs of questions:

- paragraph precision: of the pairs put in one group, the share about the same paragraph;
- paragraph recall: of the pairs about the same paragraph, the share put in one group;
- article precision: of the pairs put in one group, the share from the same article
  (a group mixing subjects is useless to the owner);
- groups: how many topics the owner would see (the truth is the number of paragraphs).

    python benchmarks/gap_topics.py                     # 60 paragraphs, thresholds 0.3-0.7
    python benchmarks/gap_topics.py --paragraphs 120 --seed 2
    python benchmarks/gap_topics.py --embedder onnx-int8:default   # the embedder of new agents
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from itertools import combinations
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SQUAD = REPO_ROOT.parent / "shared" / "data" / "squad_v2" / "dev-v2.0.json"
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def sample_questions(paragraphs: int, seed: int) -> list[tuple[str, str, str]]:
    """(question, paragraph key, article) for every question of `paragraphs` sampled paragraphs."""

    articles = json.loads(SQUAD.read_text())["data"]
    keyed = [
        (article["title"], f"{article['title']}#{index}", paragraph)
        for article in articles
        for index, paragraph in enumerate(article["paragraphs"])
    ]
    chosen = random.Random(seed).sample(keyed, paragraphs)
    rows = [(qa["question"], key, title) for title, key, paragraph in chosen for qa in paragraph["qas"]]
    random.Random(seed + 1).shuffle(rows)
    return rows


def pair_scores(groups: list[list[int]], paragraph: list[str], article: list[str]) -> dict[str, float]:
    grouped = {pair for group in groups for pair in combinations(sorted(group), 2)}
    same_paragraph = {
        (i, j) for i, j in combinations(range(len(paragraph)), 2) if paragraph[i] == paragraph[j]
    }
    together = len(grouped) or 1
    return {
        "paragraph_precision": sum(1 for i, j in grouped if paragraph[i] == paragraph[j]) / together,
        "paragraph_recall": len(grouped & same_paragraph) / (len(same_paragraph) or 1),
        "article_precision": sum(1 for i, j in grouped if article[i] == article[j]) / together,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--embedder", default="default", help="an embedder spec, e.g. onnx-int8:default")
    args = parser.parse_args(argv)
    if not SQUAD.exists():
        print(f"{SQUAD} is missing: this benchmark needs ../shared/data", file=sys.stderr)
        return 1

    from agentkit.improve.gaps import UnansweredQuestion, find_gaps
    from agentkit.models.registry import load_embedder

    rows = sample_questions(args.paragraphs, args.seed)
    embedder = load_embedder(args.embedder)
    started = time.perf_counter()
    vectors = embedder.embed([question for question, _, _ in rows])
    embed_s = time.perf_counter() - started
    by_text = {question.strip(): vectors[i] for i, (question, _, _) in enumerate(rows)}

    def embed(texts):  # type: ignore[no-untyped-def]  # the vectors made once above
        import numpy as np

        return np.vstack([by_text[text] for text in texts])

    # Each question its own log id (its row), so groups map back to the truth.
    items = [UnansweredQuestion(question, log_id=i) for i, (question, _, _) in enumerate(rows)]
    paragraph = [key for _, key, _ in rows]
    article = [title for _, _, title in rows]
    print(
        f"{len(rows)} questions about {args.paragraphs} paragraphs of "
        f"{len(set(article))} articles (seed {args.seed}, embedder {args.embedder}); "
        f"embedding took {embed_s:.1f} s"
    )
    print()
    print(
        "| threshold | groups | largest | paragraph precision | paragraph recall | article precision | seconds |"
    )
    print("|---|---|---|---|---|---|---|")
    for threshold in THRESHOLDS:
        started = time.perf_counter()
        gaps = find_gaps(items, embed, threshold=threshold)
        seconds = time.perf_counter() - started
        groups = [gap.log_ids for gap in gaps]
        scores = pair_scores(groups, paragraph, article)
        print(
            f"| {threshold:.2f} | {len(gaps)} | {gaps[0].questions} | {scores['paragraph_precision']:.1%} | "
            f"{scores['paragraph_recall']:.1%} | {scores['article_precision']:.1%} | {seconds:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
