"""Device identity from the `get_version` reply."""

from __future__ import annotations

from typing import Any, Final

from ..models import DeviceInfo
from ..values import text

# The printer's model codes: `project_name` of its modules and `DevModel` of its SSDP notify
# use the same ones, so discovery and the version reply name a printer alike.
MODEL_CODES: Final = {
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
# Boards whose hardware revision says which X1 it is when nothing names the model: X1C
# firmware lists an `ap` module with hw AP05 (next to `rv1126`); only AP02 is an X1E.
_X1E_AP: Final = "AP02"
_X1C_AP: Final = "AP05"


def model_from_code(code: Any) -> str | None:
    """The model an SSDP `DevModel` or a module's `project_name` code stands for."""
    return MODEL_CODES.get(code) if isinstance(code, str) else None


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
    """`product_name`, then `project_name` (the `ota` module's first), then the boards."""
    ordered = sorted(modules.values(), key=lambda module: module is not modules.get("ota"))
    for module in ordered:
        product = text(module.get("product_name"))
        if product:
            return text(product.removeprefix("Bambu Lab "))
    for module in ordered:
        if model := model_from_code(module.get("project_name")):
            return model
    ap = text(modules.get("ap", {}).get("hw_ver"))
    if ap == _X1E_AP:
        return "X1E"
    if ap == _X1C_AP or "rv1126" in modules:
        return "X1C"
    return None
