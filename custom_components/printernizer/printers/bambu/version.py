"""Device identity from the `get_version` reply."""

from __future__ import annotations

from typing import Any, Final

from ..models import DeviceInfo
from ..values import text

# Project codes from `ota`/board modules, for firmware that leaves product_name empty.
_PROJECT_MODELS: Final = {
    "BL-P001": "X1C",
    "BL-P002": "X1",
    "C11": "P1P",
    "C12": "P1S",
    "C13": "X1E",
    "N1": "A1 mini",
    "N2S": "A1",
    "O1D": "H2D",
}
# A printer with every AMS attached lists a few dozen modules.
_MAX_MODULES: Final = 64


def device_info(serial: str, info: dict[str, Any]) -> DeviceInfo | None:
    """Model, firmware and hardware revision as the printer reports them.

    None when the reply has no module list, so a broken reply does not erase a known identity.
    """
    listed = info.get("module")
    if not isinstance(listed, list):
        return None
    modules = {
        name: module
        for module in listed[:_MAX_MODULES]
        if isinstance(module, dict) and (name := text(module.get("name")))
    }
    ota = modules.get("ota", {})
    return DeviceInfo(
        serial=serial,
        model=_model(modules),
        firmware=text(ota.get("sw_ver")),
        hardware=next(
            (
                hw
                for name in ("rv1126", "ap", "esp32", "ota", "mc")
                if (hw := text(modules.get(name, {}).get("hw_ver")))
            ),
            None,
        ),
    )


def _model(modules: dict[str, dict[str, Any]]) -> str | None:
    for module in modules.values():
        product = text(module.get("product_name"))
        if product:
            return text(product.removeprefix("Bambu Lab "))
    for module in modules.values():
        project = module.get("project_name")
        if isinstance(project, str) and project in _PROJECT_MODELS:
            return _PROJECT_MODELS[project]
    if "ap" in modules:
        return "X1E"
    if "rv1126" in modules:
        return "X1C"
    return None
