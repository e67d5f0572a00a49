"""Pure cost model for print jobs: material, energy, machine wear, VAT and business category.

No Home Assistant imports and no I/O: the caller passes options, slicer metadata, meter readings
and the time zone in, and stores what comes out. Money is `Decimal`, never float.

Rounding, one rule per step so every figure can be recomputed by hand:
* Each material line is rounded to cents half-up on its own; the material total is the exact sum
  of the rounded lines. Material cost is therefore exactly additive over lines (lines A + B cost
  cost(A) + cost(B)); merging two lines into one of the summed grams differs by at most 1 cent.
* Energy and wear are each rounded to cents half-up; net is the exact sum of the three parts.
* VAT is the rounded net times the rate, rounded half-up; gross is net + VAT exactly.
An unknown input makes its part None (never 0) and is named in `unknown`; then net, VAT and gross
are None too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
import re
from types import MappingProxyType
from typing import Any, Literal

from .printers.models import FilamentUsage, JobMetadata, PrinterStatus
from .printers.values import number

CENT = Decimal("0.01")
_ZERO = Decimal(0)
_THOUSAND = Decimal(1000)
_HUNDRED = Decimal(100)


class Material(StrEnum):
    """Material types with a configurable price per kg."""

    PLA = "PLA"
    PETG = "PETG"
    ABS = "ABS"
    ASA = "ASA"
    TPU = "TPU"
    PA = "PA"
    PC = "PC"
    OTHER = "other"


class CategoryMode(StrEnum):
    """Default rule for a job's category when the user has not set one."""

    BUSINESS = "business"
    PRIVATE = "private"
    BUSINESS_HOURS = "business_hours"


class Category(StrEnum):
    """Category of a job."""

    BUSINESS = "business"
    PRIVATE = "private"


type MaterialSource = Literal["slicer", "estimate", "user"]
type EnergySource = Literal["measured", "estimated"]

# Option keys as the options flow stores them; CostSettings fields carry the same names.
OPT_ENERGY_PRICE = "energy_price_per_kwh"
OPT_AVERAGE_POWER = "average_power_w"
OPT_WEAR_PER_HOUR = "wear_per_hour"
OPT_VAT_PERCENT = "vat_percent"
OPT_MATERIAL_OVERRIDES = "material_price_overrides"  # per colour/brand, one per line
OPT_CATEGORY_MODE = "category_mode"
OPT_BUSINESS_WEEKDAYS = "business_weekdays"
OPT_BUSINESS_START = "business_start"
OPT_BUSINESS_END = "business_end"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WEEKDAYS = WEEKDAYS[:5]
# No VAT until the user sets a rate: a guessed rate would inflate every cost unnoticed.
DEFAULT_VAT_PERCENT = _ZERO
ENDED_EARLY = frozenset({PrinterStatus.CANCELLED, PrinterStatus.FAILED})
_AMOUNTS = ("material", "energy", "wear", "net", "vat", "gross")


def material_price_option(material: Material) -> str:
    """Option key of a material's price per kg, e.g. `price_per_kg_pla`."""
    return f"price_per_kg_{material.value.lower()}"


_MATERIAL_ALIASES = {"PAHT": Material.PA, "NYLON": Material.PA}
_WEEKDAY_NAMES = {name: day for day, name in enumerate(WEEKDAYS)} | {str(d): d for d in range(7)}


def material_type(name: str | None) -> Material:
    """Map a slicer's material string ("PLA Basic", "PETG-CF", "PA6-CF") to a priced type.

    The first word (run of letters; digits split words, so PA6 and PA12 read as PA) naming a
    known type wins, case-insensitively: brands and suffixes around it do not matter ("Generic
    ASA" -> ASA, "TPU 95A" -> TPU) and a blend is priced as its first component ("PC-ABS" -> PC).
    Anything else, PCTG, PPA or PVA for instance, is "other".
    """
    for word in re.findall(r"[A-Z]+", (name or "").upper()):
        if material := _MATERIAL_ALIASES.get(word) or Material.__members__.get(word):
            return material
    return Material.OTHER


def round_cents(amount: Decimal) -> Decimal:
    """Round to cents, half-up (commercial rounding): 0.005 -> 0.01."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _check(name: str, value: Decimal | None) -> None:
    if value is not None and (not value.is_finite() or value < 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def _fixed(value: Decimal | None, places: int) -> str | None:
    if value is None:
        return None
    return str(value.quantize(Decimal(10) ** -places, rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryRule:
    """Default category; business_hours judges the job's local start time (see categorize)."""

    mode: CategoryMode = CategoryMode.BUSINESS_HOURS
    weekdays: frozenset[int] = frozenset(range(5))  # Monday is 0, as datetime.weekday()
    start: time = time(8)
    end: time = time(18)

    def __post_init__(self) -> None:
        """Reject what cannot be a weekly window."""
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays must be 0 (Monday) to 6, got {sorted(self.weekdays)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("business hours are local wall-clock times without a time zone")
        if self.start == self.end:
            raise ValueError("business hours must not start and end at the same time")


_COLOR = re.compile(r"#?([0-9A-Fa-f]{6})(?:[0-9A-Fa-f]{2})?")
MAX_OVERRIDES = 100
_MAX_PRICE = Decimal(10) ** 6  # per kg: more is a typing error, and would overflow the cents


class MaterialOverrideError(ValueError):
    """A line of the per-colour/brand prices that cannot be read."""


def color_key(color: str | None) -> str | None:
    """A colour as prices match it: RRGGBB upper-case ("#ff6a13", "FF6A13FF" -> "FF6A13")."""
    found = _COLOR.fullmatch(color.strip()) if isinstance(color, str) else None
    return found.group(1).upper() if found else None


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceOverride:
    """A price per kg for one material type in a colour, of a brand, or both.

    `brand` is case-folded words that must all appear in the material's name as the printer
    or slicer reports it ("Prusament", "Basic"); `color` is RRGGBB.
    """

    material: Material
    color: str | None = None
    brand: tuple[str, ...] = ()
    price: Decimal

    def __post_init__(self) -> None:
        """An override names a colour or a brand, and its price is an amount."""
        _check(OPT_MATERIAL_OVERRIDES, self.price)
        if self.color is None and not self.brand:
            raise MaterialOverrideError(f"{OPT_MATERIAL_OVERRIDES}: a colour or brand is needed")

    @property
    def specificity(self) -> int:
        """Colour and brand beat colour, which beats brand."""
        return 2 * (self.color is not None) + bool(self.brand)

    def matches(self, line: MaterialLine) -> bool:
        """Whether the line is this material, in this colour and of this brand."""
        if line.material is not self.material:
            return False
        if self.color is not None and color_key(line.color) != self.color:
            return False
        name = (line.name or "").casefold()
        return all(word in name for word in self.brand)


def parse_overrides(value: Any) -> tuple[PriceOverride, ...]:
    """Per-colour/brand prices, one per line: `PLA #FF6A13 = 32.50`, `PETG Prusament = 28`.

    The first word names the material type (as `material_type` reads it), a `#RRGGBB` (or
    RRGGBBAA) word the colour, other words the brand; the price per kg follows `=`. Empty lines
    are skipped. Raises MaterialOverrideError naming the line for anything else.
    """
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise MaterialOverrideError(f"{OPT_MATERIAL_OVERRIDES} must be text")
    overrides = []
    for index, text in enumerate(value.splitlines(), start=1):
        if not text.strip():
            continue
        left, equals, right = text.rpartition("=")
        words = left.split()
        try:
            price = Decimal(right.strip().replace(",", "."))
        except InvalidOperation:
            price = None
        if (
            not equals
            or not words
            or price is None
            or not price.is_finite()
            or not 0 <= price < _MAX_PRICE
        ):
            raise MaterialOverrideError(f"{OPT_MATERIAL_OVERRIDES} line {index}: {text!r}")
        kind = material_type(words[0])
        if kind is Material.OTHER and words[0].casefold() != Material.OTHER.value:
            raise MaterialOverrideError(
                f"{OPT_MATERIAL_OVERRIDES} line {index}: unknown material {words[0]!r}"
            )
        colors = [key for word in words[1:] if (key := color_key(word)) is not None]
        brand = tuple(word.casefold() for word in words[1:] if color_key(word) is None)
        if len(colors) > 1:
            raise MaterialOverrideError(f"{OPT_MATERIAL_OVERRIDES} line {index}: two colours")
        try:
            overrides.append(
                PriceOverride(
                    material=kind,
                    color=colors[0] if colors else None,
                    brand=brand,
                    price=price,
                )
            )
        except MaterialOverrideError:
            raise MaterialOverrideError(
                f"{OPT_MATERIAL_OVERRIDES} line {index}: name a colour or brand"
            ) from None
    if len(overrides) > MAX_OVERRIDES:
        raise MaterialOverrideError(f"{OPT_MATERIAL_OVERRIDES}: more than {MAX_OVERRIDES}")
    return tuple(overrides)


@dataclass(frozen=True, slots=True, kw_only=True)
class CostSettings:
    """Prices and rules for costing; a missing price makes the parts that need it unknown."""

    material_prices: Mapping[Material, Decimal] = field(default_factory=dict)  # per kg
    material_overrides: tuple[PriceOverride, ...] = ()  # per colour/brand, over the above
    energy_price_per_kwh: Decimal | None = None
    average_power_w: Decimal | None = None
    wear_per_hour: Decimal = _ZERO
    vat_percent: Decimal = DEFAULT_VAT_PERCENT
    currency: str = "EUR"
    category: CategoryRule = CategoryRule()

    def __post_init__(self) -> None:
        """Reject negative or non-finite amounts; freeze the price table."""
        for material, price in self.material_prices.items():
            _check(material_price_option(material), price)
        _check(OPT_ENERGY_PRICE, self.energy_price_per_kwh)
        _check(OPT_AVERAGE_POWER, self.average_power_w)
        _check(OPT_WEAR_PER_HOUR, self.wear_per_hour)
        _check(OPT_VAT_PERCENT, self.vat_percent)
        if self.vat_percent > _HUNDRED:
            raise ValueError(f"{OPT_VAT_PERCENT} must be at most 100, got {self.vat_percent}")
        object.__setattr__(self, "material_prices", MappingProxyType(dict(self.material_prices)))

    def price_per_kg(self, line: MaterialLine) -> Decimal | None:
        """The line's price: the most specific matching override, else its material type's.

        Of equally specific overrides the first listed wins.
        """
        best: PriceOverride | None = None
        for override in self.material_overrides:
            if override.matches(line) and (best is None or override.specificity > best.specificity):
                best = override
        return best.price if best is not None else self.material_prices.get(line.material)


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterialLine:
    """Grams of one material; None grams means unknown.

    `name` (as reported, "PLA Basic") and `color` pick a per-colour/brand price if one is set.
    """

    material: Material
    grams: Decimal | None
    source: MaterialSource = "slicer"
    name: str | None = None
    color: str | None = None

    def __post_init__(self) -> None:
        """Reject negative grams."""
        _check("grams", self.grams)


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterialCost:
    """One material line with the price applied; cost is rounded to cents."""

    line: MaterialLine
    price_per_kg: Decimal | None
    cost: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        """The line as a job record stores it (see `CostBreakdown.as_dict`)."""
        return {
            "material": self.line.material.value,
            "grams": _fixed(self.line.grams, 2),
            "source": self.line.source,
            "price_per_kg": _fixed(self.price_per_kg, 2),
            "cost": _fixed(self.cost, 2),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyUse:
    """Energy a print used; None kWh means unknown."""

    kwh: Decimal | None
    source: EnergySource


@dataclass(frozen=True, slots=True, kw_only=True)
class CostBreakdown:
    """Cost of one job or quote; amounts in cents, None where unknown (see `unknown`)."""

    lines: tuple[MaterialCost, ...]
    energy_use: EnergyUse
    material: Decimal | None
    energy: Decimal | None
    wear: Decimal | None
    net: Decimal | None
    vat: Decimal | None
    gross: Decimal | None
    vat_percent: Decimal
    currency: str
    estimated: bool
    unknown: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The breakdown as a job record stores it: exact amounts as strings with 2 places.

        Action responses give numbers instead (`cost_response`).
        """
        return {
            "currency": self.currency,
            **{name: _fixed(getattr(self, name), 2) for name in _AMOUNTS},
            "vat_percent": _fixed(self.vat_percent, 2),
            "estimated": self.estimated,
            "unknown": list(self.unknown),
            "energy_kwh": _fixed(self.energy_use.kwh, 3),
            "energy_source": self.energy_use.source,
            "lines": [line.as_dict() for line in self.lines],
        }


def _figure(value: Any, places: int) -> float | None:
    """A stored figure (the text of a Decimal) as a number; anything else is unknown."""
    result = number(value)
    return None if result is None else round(result, places)


def amount_figure(value: Any) -> float | None:
    """A stored amount as a number with two decimals, as responses and events give it."""
    return _figure(value, 2)


def cost_response(cost: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A breakdown as `as_dict` stores it, with its figures as numbers for action responses.

    Records keep exact decimal strings; a response gives numbers rounded to cents (kWh to
    three places) next to the currency, so a template can add or compare them as they are.
    A figure a hand-edited record spoiled is None (unknown), never an error.
    """
    if cost is None:
        return None
    result = dict(cost)
    for name in (*_AMOUNTS, "vat_percent"):
        if name in result:
            result[name] = _figure(result[name], 2)
    if "energy_kwh" in result:
        result["energy_kwh"] = _figure(result["energy_kwh"], 3)
    lines = result.get("lines")
    if isinstance(lines, list):
        result["lines"] = [
            {
                **line,
                **{
                    name: _figure(line.get(name), 2)
                    for name in ("grams", "price_per_kg", "cost")
                    if name in line
                },
            }
            if isinstance(line, Mapping)
            else line
            for line in lines
        ]
    return result


def _reading(value: float | None) -> Decimal | None:
    """A number from a printer or slicer file; NaN or negative is as good as unknown."""
    if value is None:
        return None
    number = Decimal(str(value))
    return number if number.is_finite() and number >= 0 else None


def material_lines(
    metadata: JobMetadata,
    *,
    status: PrinterStatus = PrinterStatus.FINISHED,
    progress: float | None = None,
    fallback_material: str | None = None,
) -> tuple[MaterialLine, ...]:
    """Material lines from slicer metadata, scaled to progress if the print ended early.

    A cancelled or failed print used grams x progress / 100 (above 100 counts as 100), marked as
    an estimate; unknown (None, NaN, negative) progress makes its grams unknown. A filament
    without a type, or a file with only total grams, is priced as `fallback_material` (the
    printer's loaded material). No grams at all give one unknown line: never a silent 0.
    """
    usages = metadata.filaments or (
        FilamentUsage(material=fallback_material, grams=metadata.total_grams),
    )
    fraction: Decimal | None = Decimal(1)
    if status in ENDED_EARLY:
        share = _reading(progress)
        fraction = None if share is None else min(share, _HUNDRED) / _HUNDRED
    lines = []
    for usage in usages:
        grams = _reading(usage.grams)
        lines.append(
            MaterialLine(
                material=material_type(usage.material or fallback_material),
                grams=None if grams is None or fraction is None else grams * fraction,
                source="estimate" if status in ENDED_EARLY else "slicer",
                name=usage.material or fallback_material,
                color=usage.color,
            )
        )
    return tuple(lines)


def meter_consumption(readings: Sequence[Decimal]) -> Decimal:
    """Energy in kWh over readings `[start, ..., end]` of a total-increasing meter (smart plug).

    A reading below the previous one means the meter restarted from 0, so that reading counts
    whole. Energy used between the last reading before a reset and the reset is not seen.
    """
    if not readings:
        raise ValueError("at least one meter reading is needed")
    for reading in readings:
        _check("meter reading", reading)
    return sum(
        (now - before if now >= before else now for before, now in pairwise(readings)), _ZERO
    )


def energy_use(
    settings: CostSettings, *, hours: Decimal | None, meter_readings: Sequence[Decimal] = ()
) -> EnergyUse:
    """Measured energy if there are meter readings, else average power x hours (estimated)."""
    if meter_readings:
        return EnergyUse(kwh=meter_consumption(meter_readings), source="measured")
    _check("hours", hours)
    if settings.average_power_w is None or hours is None:
        return EnergyUse(kwh=None, source="estimated")
    return EnergyUse(kwh=settings.average_power_w * hours / _THOUSAND, source="estimated")


def calculate_costs(
    settings: CostSettings,
    *,
    lines: Sequence[MaterialLine],
    energy: EnergyUse,
    hours: Decimal | None,
) -> CostBreakdown:
    """Cost breakdown by the rounding rules in the module docstring."""
    _check("hours", hours)
    unknown: list[str] = []
    costs = []
    for line in lines:
        price = settings.price_per_kg(line)
        if line.grams is None:
            unknown.append(f"grams:{line.material}")
        if price is None:
            unknown.append(material_price_option(line.material))
        cost = None
        if line.grams is not None and price is not None:
            cost = round_cents(line.grams * price / _THOUSAND)
        costs.append(MaterialCost(line=line, price_per_kg=price, cost=cost))
    line_costs = [c.cost for c in costs if c.cost is not None]
    material = sum(line_costs, _ZERO) if len(line_costs) == len(costs) else None
    if energy.kwh is None:
        unknown.append("energy_kwh")
    if settings.energy_price_per_kwh is None:
        unknown.append(OPT_ENERGY_PRICE)
    energy_cost = None
    if energy.kwh is not None and settings.energy_price_per_kwh is not None:
        energy_cost = round_cents(energy.kwh * settings.energy_price_per_kwh)
    wear: Decimal | None = _ZERO
    if hours is not None:
        wear = round_cents(hours * settings.wear_per_hour)
    elif settings.wear_per_hour:
        wear = None
        unknown.append("hours")
    net = vat = gross = None
    if material is not None and energy_cost is not None and wear is not None:
        net = material + energy_cost + wear
        vat = round_cents(net * settings.vat_percent / _HUNDRED)
        gross = net + vat
    return CostBreakdown(
        lines=tuple(costs),
        energy_use=energy,
        material=material,
        energy=energy_cost,
        wear=wear,
        net=net,
        vat=vat,
        gross=gross,
        vat_percent=settings.vat_percent,
        currency=settings.currency,
        estimated=energy.source == "estimated" or any(line.source == "estimate" for line in lines),
        unknown=tuple(dict.fromkeys(unknown)),
    )


def job_costs(
    settings: CostSettings,
    metadata: JobMetadata,
    *,
    status: PrinterStatus,
    progress: float | None,
    hours: Decimal | None,
    meter_readings: Sequence[Decimal] = (),
    fallback_material: str | None = None,
) -> CostBreakdown:
    """Cost of a finished, cancelled or failed job from its slicer metadata."""
    lines = material_lines(
        metadata, status=status, progress=progress, fallback_material=fallback_material
    )
    energy = energy_use(settings, hours=hours, meter_readings=meter_readings)
    return calculate_costs(settings, lines=lines, energy=energy, hours=hours)


def quote(
    settings: CostSettings, *, grams: Decimal, material: str, hours: Decimal
) -> CostBreakdown:
    """Cost of a hypothetical print; energy is estimated from the average power."""
    line = MaterialLine(material=material_type(material), grams=grams, source="user")
    energy = energy_use(settings, hours=hours)
    return calculate_costs(settings, lines=(line,), energy=energy, hours=hours)


def categorize(
    started_at: datetime, rule: CategoryRule, tz: tzinfo, override: Category | None = None
) -> Category:
    """A job's category: the per-job override if set, else the default rule.

    Business hours are judged on the job's start, converted from its aware instant (UTC as
    stored) to wall-clock time in `tz`, HA's time zone. That conversion is unambiguous across DST
    switches: a job started at 08:30 local is judged at 08:30 on a 23- or 25-hour day, and the
    weekday is the local one (Sunday 23:30 UTC is Monday in Berlin). The start decides for the
    whole job, even one running past the window. The window includes its start and excludes its
    end; an end before the start spans midnight (22:00-06:00) and counts for the weekday on
    which the job started.
    """
    if override is not None:
        return override
    if rule.mode is not CategoryMode.BUSINESS_HOURS:
        return Category(rule.mode.value)
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    local = started_at.astimezone(tz)
    now = local.time()
    if rule.start < rule.end:
        inside = rule.start <= now < rule.end
    else:
        inside = now >= rule.start or now < rule.end
    return Category.BUSINESS if inside and local.weekday() in rule.weekdays else Category.PRIVATE


def _option_decimal(options: Mapping[str, Any], key: str) -> Decimal | None:
    value = options.get(key)
    if value is None or value == "":
        return None
    text = value.strip().replace(",", ".") if isinstance(value, str) else str(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    _check(key, number)
    return number


def _option_time(options: Mapping[str, Any], key: str, default: time) -> time:
    value = options.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{key} must be a time like 08:00, got {value!r}") from None


def parse_settings(options: Mapping[str, Any], *, currency: str) -> CostSettings:
    """CostSettings from entry options as HA stores them (numbers, strings, "08:00:00").

    Missing or empty values take the defaults; a price left empty stays unknown rather than 0.
    Raises ValueError naming the option for anything negative, NaN, infinite or unreadable.
    """
    prices = {
        material: price
        for material in Material
        if (price := _option_decimal(options, material_price_option(material))) is not None
    }
    mode = options.get(OPT_CATEGORY_MODE) or CategoryMode.BUSINESS_HOURS
    try:
        mode = CategoryMode(mode)
    except ValueError:
        modes = ", ".join(CategoryMode)
        raise ValueError(f"{OPT_CATEGORY_MODE} must be one of {modes}, got {mode!r}") from None
    days = options.get(OPT_BUSINESS_WEEKDAYS, DEFAULT_WEEKDAYS)
    names = [str(day).strip().lower() for day in days] if isinstance(days, list | tuple) else [""]
    if any(name not in _WEEKDAY_NAMES for name in names):
        raise ValueError(f"{OPT_BUSINESS_WEEKDAYS} must list weekdays mon..sun, got {days!r}")
    rule = CategoryRule(
        mode=mode,
        weekdays=frozenset(_WEEKDAY_NAMES[name] for name in names),
        start=_option_time(options, OPT_BUSINESS_START, time(8)),
        end=_option_time(options, OPT_BUSINESS_END, time(18)),
    )
    wear, vat = (_option_decimal(options, key) for key in (OPT_WEAR_PER_HOUR, OPT_VAT_PERCENT))
    return CostSettings(
        material_prices=prices,
        material_overrides=parse_overrides(options.get(OPT_MATERIAL_OVERRIDES)),
        energy_price_per_kwh=_option_decimal(options, OPT_ENERGY_PRICE),
        average_power_w=_option_decimal(options, OPT_AVERAGE_POWER),
        wear_per_hour=_ZERO if wear is None else wear,
        vat_percent=DEFAULT_VAT_PERCENT if vat is None else vat,
        currency=currency,
        category=rule,
    )
