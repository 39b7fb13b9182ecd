"""Figures of sweeps and models: each writes a non-empty PNG and PDF, bad input is named."""

from __future__ import annotations

import numpy as np
import pytest

from ltrnn import plots

RNG = np.random.default_rng(0)
EPOCH = ["baseline"] * 12 + ["perturbation"] * 18
CONDITION = [f"target{index % 3}" for index in range(30)]


def rows():
    table = []
    for rank in (1, 2, 3):
        for size in (20, 50):
            for seed in (0, 1):
                loss = 0.9 - 0.05 * min(rank, 2) + 0.01 * seed
                table.append({"rank": rank, "rnn_size": size, "seed": seed,
                              "state": "SUCCEEDED", "validation_loss": loss,
                              "test_loss": loss + 0.01})
    table.append({"rank": 3, "rnn_size": 50, "seed": 2, "state": "FAILED",
                  "validation_loss": float("nan"), "test_loss": float("nan")})
    return table


FIGURES = {
    "rank_curve": lambda: plots.plot_rank_curve(
        rows(), chosen_rank=2, baselines={"PSTH": {"validation": 0.86, "test": 0.87}}),
    "trial_factors": lambda: plots.plot_trial_factors(RNG.standard_normal((30, 3)), epoch=EPOCH),
    "eigenvalues": lambda: plots.plot_eigenvalues(
        RNG.standard_normal((30, 3)) + 1j * RNG.standard_normal((30, 3)), epoch=EPOCH),
    "latents": lambda: plots.plot_latents(
        RNG.standard_normal((30, 10, 3)), CONDITION, times=np.arange(10) - 3.0),
    "latents_rank_one": lambda: plots.plot_latents(RNG.standard_normal((30, 10, 1)), CONDITION),
    "reconstruction": lambda: plots.plot_reconstruction(
        RNG.poisson(2.0, (30, 6, 10)).astype(float), np.full((30, 6, 10), 2.0),
        times=np.arange(10) - 3.0, condition=CONDITION),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_written_as_png_and_pdf(name, tmp_path):
    written = plots.save_figure(FIGURES[name](), tmp_path / "figures", name)
    assert [path.name for path in written] == [f"{name}.png", f"{name}.pdf"]
    png, pdf = (path.read_bytes() for path in written)
    assert png.startswith(b"\x89PNG")
    assert len(png) > 5000
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 2000


def test_reconstruction_with_missing_entries(tmp_path):
    observed = RNG.poisson(2.0, (8, 3, 6)).astype(float)
    observed[:, :, 4:] = np.nan
    figure = plots.plot_reconstruction(observed, np.ones((8, 3, 6)), neurons=[2])
    assert plots.save_figure(figure, tmp_path, "partial", formats="png")[0].stat().st_size > 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: plots.plot_rank_curve([]), "no succeeded cell"),
        (lambda: plots.plot_trial_factors(np.ones(5)),
         r"trial_factors must be a non-empty array with 2"),
        (lambda: plots.plot_trial_factors(np.ones((5, 2)), epoch=["a"] * 4),
         "epoch must have 5 labels"),
        (lambda: plots.plot_eigenvalues(np.ones((0, 2))), "eigenvalues must be a non-empty array"),
        (lambda: plots.plot_latents(np.ones((4, 5, 2)), ["a"] * 3), "condition must have 4 labels"),
        (lambda: plots.plot_latents(np.ones((4, 5, 2)), ["a"] * 4, times=np.arange(4)),
         r"times must have shape \(5,\)"),
        (lambda: plots.plot_reconstruction(np.ones((2, 3, 4)), np.ones((2, 3, 5))),
         "observed and predicted must have the same shape"),
        (lambda: plots.plot_reconstruction(np.ones((2, 3, 4)), np.ones((2, 3, 4)), neurons=[3]),
         r"neurons must be indices in \[0, 2\]"),
    ],
)
def test_bad_input_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_format_rejected(tmp_path):
    figure = FIGURES["trial_factors"]()
    with pytest.raises(ValueError, match="formats must be a non-empty list"):
        plots.save_figure(figure, tmp_path, "x", formats=["gif"])


def test_epoch_runs():
    assert plots.epoch_runs(EPOCH) == [("baseline", 0, 12), ("perturbation", 12, 30)]
