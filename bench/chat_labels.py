"""Owners' chat understanding on the labelled set ``bench/data/chat_labels.tsv`` (written for facwatch).

Prints precision and recall of "complaint", of each asset kind and of each mood, and messages per second
of the analysis; beside them the same figures of a naive reference in the same run: a plain substring
search for the lexicon's fault words (no segmentation, no negation, no question or building rule).

    PYTHONPATH=. python -m bench.chat_labels

The set and the lexicon were written by the same hands: these figures say the rules do what they were
written to do on messages like these, not how they fare on a real group's messages (docs/owners.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alerts.detection.chat.analyse import Analyser, Analysis, Mood
from alerts.detection.chat.lexicon import default_lexicon

DATA = Path(__file__).parent / "data" / "chat_labels.tsv"
OWN_BUILDING = 1
_MOODS = {"neg": Mood.NEGATIVE, "neu": Mood.NEUTRAL, "pos": Mood.POSITIVE}


@dataclass(frozen=True, slots=True)
class Labelled:
    complaint: bool
    kind: str
    mood: Mood
    text: str


def load(path: Path = DATA) -> list[Labelled]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        complaint, kind, mood, text = line.split("\t")
        rows.append(Labelled(complaint == "1", kind, _MOODS[mood], text))
    return rows


def precision_recall(pairs: Sequence[tuple[bool, bool]]) -> tuple[float, float, int]:
    """(precision, recall, support) of (predicted, true) pairs."""
    tp = sum(1 for p, t in pairs if p and t)
    fp = sum(1 for p, t in pairs if p and not t)
    fn = sum(1 for p, t in pairs if t and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, tp + fn


def figures(rows: Sequence[Labelled], results: Sequence[Analysis]) -> dict[str, tuple[float, float, int]]:
    out = {
        "complaint": precision_recall(
            [(r.complaint, x.complaint) for r, x in zip(results, rows, strict=True)]
        )
    }
    for kind in ("elevator", "pump", "power"):
        pairs = [
            (r.asset_kind is not None and r.asset_kind.value == kind, x.kind == kind)
            for r, x in zip(results, rows, strict=True)
        ]
        out[f"kind={kind}"] = precision_recall(pairs)
    for mood in Mood:
        out[f"mood={mood.value}"] = precision_recall(
            [(r.mood is mood, x.mood is mood) for r, x in zip(results, rows, strict=True)]
        )
    return out


def naive() -> Callable[[str, int | None], Analysis]:
    lex = default_lexicon()

    def analyse(text: str, own: int | None) -> Analysis:
        faults = sum(1 for w in lex.fault if w in text)
        kinds = [k for w, k in lex.kind_of.items() if w in text]
        negative = sum(1 for w in lex.negative if w in text)
        positive = sum(1 for w in lex.positive if w in text)
        mood = (
            Mood.NEGATIVE if negative > positive else Mood.POSITIVE if positive > negative else Mood.NEUTRAL
        )
        return Analysis(faults > 0, faults, kinds[0] if kinds else None, mood)

    return analyse


def run(
    analyse: Callable[[str, int | None], Analysis], rows: Sequence[Labelled]
) -> tuple[list[Analysis], float]:
    started = time.perf_counter()
    results = [analyse(r.text, OWN_BUILDING) for r in rows]
    rounds = 1
    while time.perf_counter() - started < 1.0:
        for r in rows:
            analyse(r.text, OWN_BUILDING)
        rounds += 1
    return results, rounds * len(rows) / (time.perf_counter() - started)


def main() -> None:
    rows = load()
    analyser = Analyser()
    ours, ours_rate = run(analyser.analyse, rows)
    ref, ref_rate = run(naive(), rows)
    mine, theirs = figures(rows, ours), figures(rows, ref)
    print(f"labelled messages: {len(rows)} ({sum(r.complaint for r in rows)} complaints)")
    print(
        f"{'label':<16} {'support':>7}  {'precision':>9} {'recall':>7}   naive: {'precision':>9} {'recall':>7}"
    )
    for label, (p, r, n) in mine.items():
        np_, nr, _ = theirs[label]
        print(f"{label:<16} {n:>7}  {p:>9.2f} {r:>7.2f}          {np_:>9.2f} {nr:>7.2f}")
    print(f"messages/s: facwatch {ours_rate:,.0f}   naive {ref_rate:,.0f}")


if __name__ == "__main__":
    main()
