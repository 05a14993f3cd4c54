"""Which variables define which profiles: the rule producers and workers share."""

from __future__ import annotations

from schemas.profiles import defined_profiles, unknown_profile


def test_names_come_from_the_api_key_variables_and_default_only_from_openai_api_key() -> None:
    variables = [
        "OPENAI_API_KEY",
        "openai_src_api_key",
        "OPENAI_EU_PROD_API_KEY",
        "OPENAI_DEFAULT_API_KEY",  # refused by the worker, defines nothing here
        "OPENAI_SRC_BASE_URL",
        "OPENAI_API_KEYS",
    ]
    assert defined_profiles(variables) == {
        "default": "OPENAI_API_KEY",
        "src": "OPENAI_SRC_API_KEY",
        "eu_prod": "OPENAI_EU_PROD_API_KEY",
    }
    assert defined_profiles(["OPENAI_DEFAULT_API_KEY"]) == {}


def test_an_unknown_profile_names_the_variable_that_would_define_it() -> None:
    assert unknown_profile("default", ["src"]) == (
        "unknown connection profile 'default': set OPENAI_API_KEY to define it "
        "(profiles defined now: src)"
    )
    assert "set OPENAI_DST_API_KEY" in unknown_profile("dst", [])
