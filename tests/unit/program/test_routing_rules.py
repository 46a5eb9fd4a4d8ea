"""The owner rules by territory and vertical on their own: file order, first match wins, every key
of a rule must match (an unknown company fact matches no rule naming it), industries and regions
compared regardless of case and separators, CRM country names read as ISO codes, and a bad rule
refused with file, line and column."""

from __future__ import annotations

import pytest

from hub.mapping.errors import MappingFileError
from hub.program.program_file import Routed, load_program
from hub.program.routing import country_code

PROGRAM = """\
version: 1
owners:
  rules:
    - {region: EMEA, country: [DE, AT, CH], industry: [Manufacturing, Industrial Machinery], owner_id: "dach-mfg"}
    - {country: [DE, AT, CH], round_robin: ["dach-1", "dach-2"]}
    - {industry: [manufacturing], owner_id: "mfg"}
    - {company_region: [Bavaria], owner_id: "bavaria"}
    - {segment: enterprise, owner_id: "ent"}
  default_owner_id: "anyone"
  country_names: {Bundesrepublik: DE}
"""


def owners(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "program.yaml").write_text(PROGRAM)
    return load_program(tmp_path).owners


@pytest.mark.parametrize(
    "facts, owner, rule",
    [
        (Routed(region="EMEA", country="DE", industry="Manufacturing"), "dach-mfg", 1),
        (Routed(region="EMEA", country="DE", industry="INDUSTRIAL_MACHINERY"), "dach-mfg", 1),
        # the partner's region differs: rule 1 is out, the country rule takes it (round robin, turn 3)
        (Routed(region="NA", country="AT", industry="Manufacturing"), "dach-2", 2),
        (Routed(region="EMEA", country="US", industry="manufacturing"), "mfg", 3),
        (Routed(region="EMEA", country=None, industry=None, company_region="bavaria"), "bavaria", 4),
        (Routed(segment="enterprise"), "ent", 5),
        (Routed(region="EMEA"), "anyone", None),  # unknown company facts match no rule naming them
    ],
)
def test_first_rule_whose_every_key_matches_names_the_owner(tmp_path, facts, owner, rule):
    route = owners(tmp_path).route(facts, turn=3)
    assert (route.owner_id, route.rule) == (owner, rule)
    assert route.reason.startswith(f"owner rule {rule} (") if rule else route.reason.startswith("no owner rule")


def test_crm_country_names_become_iso_codes(tmp_path):
    extra = owners(tmp_path).country_names
    assert [country_code(v, extra) for v in ("Germany", " germany ", "Deutschland", "de", "Bundesrepublik")] == [
        "DE"
    ] * 5
    assert country_code("UK") == "GB" and country_code("United States") == "US"
    assert country_code("Atlantis") is None and country_code("") is None and country_code(None) is None


@pytest.mark.parametrize(
    "rule, where, message",
    [
        ('{country: [Germany], owner_id: "x"}', ":4:17:", "not two-letter ISO country codes: Germany"),
        ("{industry: [], owner_id: x}", ":4:18:", "at least 1 item"),
        ("{country: [DE]}", ":4:7:", "give exactly one of owner_id or round_robin"),
        ("{territory: [DE], owner_id: x}", ":4:8:", "territory"),
    ],
)
def test_bad_rules_name_file_line_and_column(tmp_path, rule, where, message):
    (tmp_path / "program.yaml").write_text(f"version: 1\nowners:\n  rules:\n    - {rule}\n")
    with pytest.raises(MappingFileError) as caught:
        load_program(tmp_path)
    text = "\n".join(caught.value.errors)
    assert message in text, text
    assert f"program.yaml{where}" in text, text
