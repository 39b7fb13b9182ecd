"""Choice of the rank of a sweep from its held-out losses (the one-standard-error rule)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Share of the total improvement (loss at the smallest rank minus the best loss) below which
# a further gain counts as a plateau. With one seed per rank the standard error is 0, and
# without this tolerance the rule would always take the lowest loss, however small the gain.
PLATEAU_FRACTION = 0.05


@dataclass(frozen=True)
class FitRow:
    """Losses of one succeeded cell."""

    rank: int
    rnn_size: int
    seed: int
    train: float
    validation: float
    test: float
    model_id: str


@dataclass(frozen=True)
class RankRow:
    """Mean losses of one rank over the seeds of its best RNN size."""

    rank: int
    rnn_size: int
    n_fits: int
    mean_score: float
    score_standard_error: float
    mean_validation: float
    mean_test: float
    mean_train: float


@dataclass(frozen=True)
class RankChoice:
    """The chosen rank, the rule in words, the per-rank table and the chosen model."""

    rank: int
    rule: str
    ranks: list[RankRow]
    model_id: str


def _summarise(rows: list[FitRow], score: str) -> list[RankRow]:
    summaries = []
    for rank in sorted({row.rank for row in rows}):
        best = None
        for size in sorted({row.rnn_size for row in rows if row.rank == rank}):
            group = [row for row in rows if row.rank == rank and row.rnn_size == size]
            scores = np.array([getattr(row, score) for row in group])
            mean = float(scores.mean())
            error = float(scores.std(ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else 0.0
            summary = RankRow(
                rank=rank, rnn_size=size, n_fits=len(group), mean_score=mean,
                score_standard_error=error,
                mean_validation=float(np.mean([row.validation for row in group])),
                mean_test=float(np.mean([row.test for row in group])),
                mean_train=float(np.mean([row.train for row in group])),
            )
            if best is None or summary.mean_score < best.mean_score:
                best = summary
        summaries.append(best)
    return summaries


def choose_rank(rows: list[FitRow]) -> RankChoice | None:
    """Choose the smallest rank whose held-out loss is within tolerance of the best.

    For each rank, the RNN size with the lowest mean validation loss over seeds represents
    the rank. The rank with the lowest mean sets a threshold: its mean plus the larger of
    its standard error and :data:`PLATEAU_FRACTION` of the total improvement (the mean at
    the smallest rank minus the lowest mean). The smallest rank whose mean is at or below the
    threshold is chosen, because held-out loss that stops improving beyond a rank marks that
    rank. Without validation entries (every validation loss NaN) the test loss is used
    instead, and the rule text states it.

    Parameters
    ----------
    rows : list of FitRow
        Succeeded cells.

    Returns
    -------
    RankChoice or None
        None when ``rows`` has no finite score.
    """
    score = "validation"
    usable = [row for row in rows if math.isfinite(row.validation)]
    if not usable:
        score = "test"
        usable = [row for row in rows if math.isfinite(row.test)]
    if not usable:
        return None

    summaries = _summarise(usable, score)
    best = min(summaries, key=lambda summary: summary.mean_score)
    improvement = summaries[0].mean_score - best.mean_score
    tolerance = max(best.score_standard_error, PLATEAU_FRACTION * improvement)
    threshold = best.mean_score + tolerance
    chosen = next(summary for summary in summaries if summary.mean_score <= threshold)
    model = min(
        (row for row in usable if row.rank == chosen.rank and row.rnn_size == chosen.rnn_size),
        key=lambda row: getattr(row, score),
    )
    caveat = (
        "" if score == "validation"
        else " (no validation entries, so the test loss stood in; the test set then takes "
        "part in model selection)"
    )
    rule = (
        f"one-standard-error rule with a {100 * PLATEAU_FRACTION:g}% plateau tolerance on the "
        f"mean {score} loss over seeds, best RNN size per rank{caveat}: the lowest mean is "
        f"{best.mean_score:.4g} +- {best.score_standard_error:.2g} at rank {best.rank} "
        f"(N={best.rnn_size}, {best.n_fits} fits); the tolerance is the larger of that "
        f"standard error and {100 * PLATEAU_FRACTION:g}% of the improvement "
        f"{improvement:.4g} from rank {summaries[0].rank}, so the threshold is "
        f"{threshold:.4g}; the smallest rank at or below it is {chosen.rank} "
        f"(N={chosen.rnn_size}, mean {chosen.mean_score:.4g})"
    )
    return RankChoice(rank=chosen.rank, rule=rule, ranks=summaries, model_id=model.model_id)
