"""Subspaces of neural activity: principal angles, captured variance and principal subspaces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ._validation import (
    as_real_array,
    check_finite,
    check_integer,
    check_ndim,
    describe,
    matrix_rank_threshold,
)


def check_basis(name: str, basis) -> np.ndarray:
    """Return ``basis`` as a float64 (n, p) array of linearly independent columns, or raise."""
    basis = as_real_array(name, basis)
    check_ndim(name, basis, 2, "(n_dimensions, n_vectors)")
    n_rows, n_columns = basis.shape
    if n_columns == 0 or n_rows < n_columns:
        raise ValueError(
            f"{name} must have at least one column and at least as many rows as columns "
            f"(shape (n_dimensions, n_vectors) with n_dimensions >= n_vectors >= 1), got shape "
            f"{basis.shape}."
        )
    check_finite(name, basis)
    singular_values = scipy.linalg.svdvals(basis)
    if singular_values[0] == 0.0:
        raise ValueError(f"{name} has zero norm; a basis needs nonzero, independent columns.")
    threshold = matrix_rank_threshold(singular_values, basis.shape, np.float64)
    rank = int((singular_values > threshold).sum())
    if rank < n_columns:
        raise ValueError(
            f"{name} is rank-deficient: its {n_columns} columns span only {rank} dimensions "
            f"(singular values {np.array2string(singular_values, precision=3)}); pass linearly "
            "independent columns."
        )
    return basis


def principal_angles(basis_a, basis_b) -> np.ndarray:
    """Compute the principal angles between two subspaces, in degrees.

    Parameters
    ----------
    basis_a : array-like of shape (n, p)
        Columns spanning the first subspace. They need not be orthonormal, but must be
        linearly independent.
    basis_b : array-like of shape (n, q)
        Columns spanning the second subspace, with the same number of rows as ``basis_a``.

    Returns
    -------
    angles : ndarray of shape (min(p, q),)
        Principal angles in degrees, sorted ascending: 0 for a shared direction, 90 for
        orthogonal ones. Computed by ``scipy.linalg.subspace_angles``.
    """
    basis_a = check_basis("basis_a", basis_a)
    basis_b = check_basis("basis_b", basis_b)
    if basis_a.shape[0] != basis_b.shape[0]:
        raise ValueError(
            f"basis_a and basis_b must have the same number of rows (the ambient dimension), "
            f"got shapes {basis_a.shape} and {basis_b.shape}."
        )
    angles = np.degrees(scipy.linalg.subspace_angles(basis_a, basis_b))
    return np.sort(angles)


def _activity_samples(name: str, activity, n_dimensions: int | None = None) -> np.ndarray:
    """Return activity of shape (..., n) as a centred (n_samples, n) matrix, or raise."""
    activity = as_real_array(name, activity)
    if activity.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (..., n_neurons), got shape {activity.shape}."
        )
    if n_dimensions is not None and activity.shape[-1] != n_dimensions:
        raise ValueError(
            f"{name} must have {n_dimensions} neurons in its last axis to match the basis, got "
            f"shape {activity.shape}."
        )
    samples = activity.reshape(-1, activity.shape[-1])
    if samples.shape[0] < 2:
        raise ValueError(
            f"{name} must contain at least 2 samples to have a variance, got shape "
            f"{activity.shape}."
        )
    check_finite(name, samples)
    centred = samples - samples.mean(axis=0)
    if not np.any(centred):
        raise ValueError(f"{name} has zero variance: every sample is the same vector.")
    return centred


def variance_captured(activity, basis) -> float:
    """Compute the fraction of activity variance that lies in the span of ``basis``.

    Parameters
    ----------
    activity : array-like of shape (..., n)
        Samples of n-dimensional activity; all leading axes are pooled into samples. The
        mean over samples is removed first.
    basis : array-like of shape (n, p)
        Linearly independent columns spanning the subspace (orthonormalised here).

    Returns
    -------
    fraction : float
        ``||X Q||_F^2 / ||X||_F^2`` for centred samples X and an orthonormal basis Q of the
        span, in [0, 1].
    """
    basis = check_basis("basis", basis)
    centred = _activity_samples("activity", activity, basis.shape[0])
    orthonormal, _ = np.linalg.qr(basis)
    captured = np.sum((centred @ orthonormal) ** 2)
    return float(min(captured / np.sum(centred**2), 1.0))


def principal_subspace(activity, dim: int) -> np.ndarray:
    """Compute an orthonormal basis of the top ``dim`` principal components of activity.

    Parameters
    ----------
    activity : array-like of shape (..., n)
        Samples of n-dimensional activity; all leading axes are pooled into samples. The
        mean over samples is removed first.
    dim : int
        Number of principal components, 1 <= dim <= n, and no more than the number of
        directions in which the centred activity varies.

    Returns
    -------
    basis : ndarray of shape (n, dim)
        Orthonormal columns ordered by explained variance, each signed so that its entry of
        largest magnitude is positive (so the result is deterministic).
    """
    centred = _activity_samples("activity", activity)
    n_samples, n_dimensions = centred.shape
    dim = check_integer("dim", dim, 1, n_dimensions)
    _, singular_values, right_vectors = scipy.linalg.svd(centred, full_matrices=False)
    threshold = matrix_rank_threshold(singular_values, centred.shape, np.float64)
    rank = int((singular_values > threshold).sum())
    if dim > rank:
        raise ValueError(
            f"dim={dim} is larger than the number of directions in which activity varies "
            f"({rank}, from {n_samples} samples of {n_dimensions} neurons); use dim <= {rank}."
        )
    basis = right_vectors[:dim].T
    largest = np.argmax(np.abs(basis), axis=0)
    signs = np.sign(basis[largest, np.arange(dim)])
    return basis * signs


@dataclass(frozen=True)
class EpochSubspaceAngles:
    """Principal angles between each epoch's principal subspace and a model subspace.

    Attributes
    ----------
    epochs : tuple of str
        Epoch labels in order of first appearance.
    dim : int
        Number of principal components per epoch.
    angles : ndarray of shape (n_epochs, min(dim, n_model_dimensions))
        Principal angles in degrees, ascending along each row.
    variance_captured : ndarray of shape (n_epochs,)
        Fraction of each epoch's activity variance inside the model subspace.
    n_samples : ndarray of shape (n_epochs,)
        Number of (trial, time) samples in each epoch.
    """

    epochs: tuple[str, ...]
    dim: int
    angles: np.ndarray
    variance_captured: np.ndarray
    n_samples: np.ndarray

    def to_dict(self) -> dict:
        """Return the result as JSON-ready built-in types."""
        return {
            "epochs": list(self.epochs),
            "dim": self.dim,
            "angles": self.angles.tolist(),
            "variance_captured": self.variance_captured.tolist(),
            "n_samples": self.n_samples.tolist(),
        }


def epoch_subspace_angles(
    activity, epochs, model_basis, dim: int | None = None
) -> EpochSubspaceAngles:
    """Compare each epoch's principal subspace of activity with a model subspace.

    Parameters
    ----------
    activity : array-like of shape (n_trials, n_neurons, n_times)
        Activity per trial, neuron and time bin (the recording layout). No NaN allowed.
    epochs : array-like of shape (n_trials,)
        Epoch label of each trial; trials of one label need not be contiguous.
    model_basis : array-like of shape (n_neurons, R)
        Linearly independent columns spanning the model subspace, e.g. the column factors
        of a fitted model mapped to neuron space.
    dim : int, optional
        Principal components per epoch. Default: R, the number of model basis columns.

    Returns
    -------
    EpochSubspaceAngles
    """
    activity = as_real_array("activity", activity)
    check_ndim("activity", activity, 3, "(n_trials, n_neurons, n_times)")
    n_trials, n_neurons, _ = activity.shape
    model_basis = check_basis("model_basis", model_basis)
    if model_basis.shape[0] != n_neurons:
        raise ValueError(
            f"model_basis must have one row per neuron ({n_neurons}, from activity of shape "
            f"{activity.shape}), got shape {model_basis.shape}."
        )
    labels = np.asarray(epochs)
    if labels.shape != (n_trials,):
        raise ValueError(
            f"epochs must have shape ({n_trials},), one label per trial of activity, got "
            f"{describe(labels)}."
        )
    dim = model_basis.shape[1] if dim is None else check_integer("dim", dim, 1, n_neurons)

    names = [str(label) for label in labels]
    order = tuple(dict.fromkeys(names))
    angles, captured, counts = [], [], []
    for name in order:
        trials = np.array([label == name for label in names])
        samples = activity[trials].transpose(0, 2, 1)
        try:
            basis = principal_subspace(samples, dim)
            captured.append(variance_captured(samples, model_basis))
        except ValueError as error:
            raise ValueError(f"epoch {name!r}: {error}") from error
        angles.append(principal_angles(basis, model_basis))
        counts.append(samples.shape[0] * samples.shape[1])
    return EpochSubspaceAngles(
        epochs=order,
        dim=dim,
        angles=np.array(angles),
        variance_captured=np.array(captured),
        n_samples=np.array(counts, dtype=np.int64),
    )
