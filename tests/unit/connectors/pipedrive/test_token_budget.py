"""Pipedrive's token budget without a server: the token cost the connector charges for each call is
the one Pipedrive's OpenAPI specs declare, and the calendar-window budget counts costs until the
window ends."""

from __future__ import annotations

import pytest
import yaml

from connectors.pipedrive import TOKEN_COSTS
from connectors.ratelimit import RateBudgetExhausted
from tests.support.prism import PIPEDRIVE_SPECS


def test_token_costs_match_the_specs():
    specs = {
        "v2": yaml.safe_load((PIPEDRIVE_SPECS / "openapi-v2.yaml").read_text()),
        "v1": yaml.safe_load((PIPEDRIVE_SPECS / "openapi-v1.yaml").read_text()),
    }
    for (api, method, path), cost in TOKEN_COSTS.items():
        assert specs[api]["paths"][path][method.lower()]["x-token-cost"] == cost, (api, method, path)


def test_fixed_window_budget_counts_token_costs_until_the_window_ends():
    """``hub.ratelimit``'s calendar-window budget (Pipedrive's daily tokens) without Redis."""
    from connectors.ratelimit import Budget, LocalRateLimiter

    limiter = LocalRateLimiter([Budget("pipedrive:tokens", 25, 86_400.0, fixed=True)], max_wait_s=0)
    limiter.acquire("pipedrive:tokens", 10)
    limiter.acquire("pipedrive:tokens", 10)
    limiter.acquire("pipedrive:tokens", 5)
    with pytest.raises(RateBudgetExhausted) as exc:
        limiter.acquire("pipedrive:tokens", 1)
    import time as _time

    assert 0 < exc.value.retry_after <= 86_400 - (_time.time() % 86_400) + 1  # at the next UTC midnight
