"""docs/configuration.md lists exactly the settings that the services read, with their defaults."""

from __future__ import annotations

import re

import pytest

from deploy_helpers import REPO
from ltrnn.server.settings import SETTINGS, Settings

CONFIGURATION_DOC = REPO / "docs" / "configuration.md"
CLIENT_VARIABLES = {"LTRNN_TOKEN"}


def _table_rows() -> dict[str, tuple[str, str, str]]:
    """Map each documented variable to its (CLI option, meaning, default) cells."""
    rows = {}
    for line in CONFIGURATION_DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`LTRNN_"):
            continue
        variable = cells[0].strip("`")
        assert variable not in rows, f"{variable} is documented twice"
        rows[variable] = (cells[1].strip("`"), cells[2], cells[3])
    return rows


@pytest.fixture(scope="module")
def rows():
    return _table_rows()


def test_every_server_setting_is_documented(rows):
    documented = set(rows) - CLIENT_VARIABLES
    read = {setting.env for setting in SETTINGS}
    assert documented - read == set(), "documented but not read by ltrnn.server.settings"
    assert read - documented == set(), "read by ltrnn.server.settings but not documented"


def test_client_token_is_documented(rows):
    assert rows["LTRNN_TOKEN"][0] == "--token"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.env)
def test_option_and_default_match(rows, setting):
    option, _, default_cell = rows[setting.env]
    assert option == "--" + setting.name.replace("_", "-")

    default = getattr(Settings(), setting.name)
    literal = re.fullmatch(r"`([^`]*)`", default_cell)
    if literal:
        assert setting.parse(literal.group(1)) == default, f"{setting.env}: {default_cell}"
    else:
        assert default_cell.startswith("empty"), f"{setting.env}: {default_cell}"
        assert default in ("", 0), f"{setting.env} defaults to {default!r}, documented as empty"
