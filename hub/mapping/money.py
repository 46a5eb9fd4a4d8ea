"""Exact money: decimal amounts to integer minor units and back, per ISO 4217 exponent.

No floats anywhere: amounts are parsed as ``Decimal`` from text (or an ``int``), scaled by the
currency's exponent and rounded half-even (banker's rounding) to an integer number of minor units.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final

#: ISO 4217 active currency codes -> minor-unit exponent (list one, current as of 2025).
#: Codes whose minor unit is "N.A." (precious metals, XDR, testing codes) are left out on purpose:
#: they are not money the hub pays or books.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
    "GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP "
    "LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR "
    "NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UZS VED VES WST XCD XCG YER ZAR ZMW "
    "ZWG"
)

CURRENCY_EXPONENTS: Final = MappingProxyType(
    {
        code: exponent
        for exponent, codes in ((0, _EXPONENT_0), (2, _EXPONENT_2), (3, _EXPONENT_3), (4, _EXPONENT_4))
        for code in codes.split()
    }
)

_QUANTUM = Decimal(1)


class MoneyError(ValueError):
    """An amount or currency that cannot be turned into exact minor units."""


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"{currency!r} is not an ISO 4217 currency code") from None


def parse_amount(value: object) -> Decimal:
    """A decimal amount from text or an integer. Floats are refused: they are not exact."""
    if value.__class__ is str and "_" not in value:
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a decimal amount") from None
        if not amount.is_finite():
            raise MoneyError(f"{value!r} is not a finite amount")
        return amount
    if isinstance(value, (bool, float)):
        raise MoneyError(f"amount {value!r} must be text or an integer, never a float")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if "_" in text:
            raise MoneyError(f"{value!r} is not a decimal amount")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a decimal amount") from None
    else:
        raise MoneyError(f"{value!r} is not a decimal amount")
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not a finite amount")
    return amount


def to_minor_units(value: object, currency: str) -> int:
    """``"1500.505" USD -> 150050`` (half-even), ``"1500" JPY -> 1500``, ``"1.2345" KWD -> 1234``."""
    scaled = parse_amount(value).scaleb(exponent(currency))
    return int(scaled.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN))


def from_minor_units(minor: object, currency: str) -> str:
    """``150050 USD -> "1500.50"``, ``1500 JPY -> "1500"``, ``-5 KWD -> "-0.005"``."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        if isinstance(minor, str) and minor.strip().lstrip("-").isdigit():
            minor = int(minor)
        else:
            raise MoneyError(f"minor units {minor!r} must be an integer")
    places = exponent(currency)
    return str(Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places)))
