"""Newer firmware as a Bambu printer reports it in `upgrade_state`.

`new_version_state` 1 means an update is available, 2 none. P1/A1 firmware names versions in
`new_ver_list` ({name, cur_ver, new_ver} per module; `ota` is the printer's own firmware), X1
in `ota_new_version_number`. A list naming only accessories (an AMS) is no printer update.
"""

from __future__ import annotations

from typing import Any, Final

from ..models import FirmwareUpdate
from ..values import integer, text

AVAILABLE: Final = 1
NONE_AVAILABLE: Final = 2
_MAX_MODULES: Final = 64
_MAX_VERSION: Final = 32  # "01.08.02.00"; anything far longer is not a version


def firmware_update(upgrade_state: Any) -> FirmwareUpdate | None:
    """What `upgrade_state` says about the printer's firmware; None when it does not say."""
    if not isinstance(upgrade_state, dict):
        return None
    state = integer(upgrade_state.get("new_version_state"))
    if state == NONE_AVAILABLE:
        return FirmwareUpdate(available=False)
    if state != AVAILABLE:
        return None
    version = text(upgrade_state.get("ota_new_version_number"), limit=_MAX_VERSION)
    listed = upgrade_state.get("new_ver_list")
    modules = [
        module
        for module in (listed[:_MAX_MODULES] if isinstance(listed, list) else ())
        if isinstance(module, dict)
    ]
    own = [module for module in modules if module.get("name") == "ota"]
    if modules and not own and version is None:
        return FirmwareUpdate(available=False)  # accessories only
    for module in own:
        version = text(module.get("new_ver"), limit=_MAX_VERSION) or version
    return FirmwareUpdate(available=True, version=version)
