"""Fixtures for the deployment tests."""

from __future__ import annotations

import pytest

from deploy_helpers import K8S, OVERLAYS, render


@pytest.fixture(params=OVERLAYS)
def overlay(request) -> str:
    """Name of a kustomize overlay under deploy/k8s/overlays."""
    return request.param


@pytest.fixture
def rendered(overlay) -> list[dict]:
    """Resources of the overlay, rendered by kubectl kustomize."""
    return render(K8S / "overlays" / overlay)
