from __future__ import annotations

import pytest
from pydantic import SecretStr

from worker.openai.clients import openai_client
from worker.settings import (
    ApiStyle,
    Profile,
    Settings,
    SettingsError,
    load_profiles,
    unread_variables,
)

SRC = "sk-proj-" + "s" * 40
DST = "sk-proj-" + "d" * 40


def test_every_openai_name_api_key_defines_a_profile() -> None:
    profiles = load_profiles(
        {
            "OPENAI_SRC_API_KEY": SRC,
            "OPENAI_SRC_ORG_ID": "org-src",
            "OPENAI_SRC_PROJECT_ID": "proj_src",
            "OPENAI_SRC_API_STYLE": "assistants",
            "OPENAI_DST_API_KEY": DST,
            "OPENAI_DST_BASE_URL": "http://127.0.0.1:9/v1",
            "OPENAI_EU_PROD_API_KEY": DST,
            "OPENAI_API_KEY": SRC,
        }
    )
    assert sorted(profiles) == ["default", "dst", "eu_prod", "src"]
    assert profiles["src"].api_style is ApiStyle.assistants
    assert (profiles["src"].org_id, profiles["src"].project_id) == ("org-src", "proj_src")
    assert profiles["dst"].api_style is ApiStyle.responses
    assert profiles["dst"].base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"OPENAI_SRC_API_KEY": "sk-short"}, "OPENAI_SRC_API_KEY"),
        ({"OPENAI_SRC_API_KEY": f'"{SRC}"'}, "OPENAI_SRC_API_KEY"),
        ({"OPENAI_SRC_API_KEY": "  "}, "OPENAI_SRC_API_KEY is empty"),
        ({"OPENAI_DST_API_KEY": DST, "OPENAI_DST_API_STYLE": "threads"}, "OPENAI_DST_API_STYLE"),
        # `default` reads OPENAI_BASE_URL: this spelling would send it to api.openai.com
        (
            {"OPENAI_DEFAULT_API_KEY": DST, "OPENAI_DEFAULT_BASE_URL": "http://127.0.0.1:9/v1"},
            "OPENAI_DEFAULT_API_KEY is not read: profile 'default' is OPENAI_API_KEY",
        ),
    ],
)
def test_a_bad_key_or_style_is_refused_naming_the_variable(
    environ: dict[str, str], names: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_profiles(environ)
    assert names in str(info.value)
    assert SRC not in str(info.value) and DST not in str(info.value)


def test_an_unknown_profile_says_which_variable_defines_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_SRC_API_KEY", SRC)
    with pytest.raises(SettingsError) as info:
        Settings(_env_file=None).profile("dst")
    assert "OPENAI_DST_API_KEY" in str(info.value) and "src" in str(info.value)


def test_keys_never_show_in_settings_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_SRC_API_KEY", SRC)
    settings = Settings(_env_file=None)
    assert SRC not in repr(settings.profiles) and SRC not in str(settings.profile("src"))


def test_the_client_carries_org_and_project_and_never_retries_on_its_own() -> None:
    [profile] = load_profiles(
        {
            "OPENAI_SRC_API_KEY": SRC,
            "OPENAI_SRC_ORG_ID": "org-src",
            "OPENAI_SRC_PROJECT_ID": "proj_src",
            "OPENAI_SRC_BASE_URL": "http://127.0.0.1:9/v1",
        }
    ).values()
    client = openai_client(profile, timeout_s=7)
    assert client.max_retries == 0
    assert client.timeout == 7
    assert client.organization == "org-src" and client.project == "proj_src"
    assert str(client.base_url) == "http://127.0.0.1:9/v1/"


async def test_the_client_reaches_the_sandbox_project_it_names(sandbox_project) -> None:
    [profile] = load_profiles(
        {
            "OPENAI_SRC_API_KEY": sandbox_project.api_key,
            "OPENAI_SRC_ORG_ID": sandbox_project.org_id,
            "OPENAI_SRC_PROJECT_ID": sandbox_project.project_id,
            "OPENAI_SRC_BASE_URL": sandbox_project.base_url,
        }
    ).values()
    page = await openai_client(profile).files.list()
    assert page.data == []


def test_profiles_given_to_settings_are_used_and_the_environment_is_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_SRC_API_KEY", "sk-short")  # would be refused if read
    with pytest.raises(SettingsError, match="OPENAI_SRC_API_KEY does not look like"):
        Settings(_env_file=None).profiles  # noqa: B018
    given = Profile(name="dst", api_key=SecretStr(DST), base_url="http://127.0.0.1:9/v1")
    settings = Settings(_env_file=None, profiles={"dst": given})
    assert settings.profiles == {"dst": given}
    assert settings.profile("dst") is given
    with pytest.raises(SettingsError, match="set OPENAI_SRC_API_KEY to define it"):
        settings.profile("src")


def test_a_profile_given_under_another_name_is_refused() -> None:
    given = Profile(name="dst", api_key=SecretStr(DST))
    with pytest.raises(SettingsError, match="profile 'src' is given as 'dst'"):
        Settings(_env_file=None, profiles={"src": given})


def test_openai_variables_nothing_reads_are_named() -> None:
    environ = {
        "OPENAI_SRC_API_KEY": SRC,
        "OPENAI_SRC_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_SRC_BASEURL": "http://127.0.0.1:9/v1",  # the typo
        "OPENAI_DST_PROJECT_ID": "proj_dst",  # a profile whose key is missing
        "OPENAI_TIMEOUT_S": "30",  # a worker setting
        "OPENAI_LOG": "debug",  # the SDK's own
        "OPENAI_API_STYLE": "assistants",  # default's, but default has no key here
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    assert unread_variables(environ, Settings.model_fields) == [
        "OPENAI_API_STYLE",
        "OPENAI_DST_PROJECT_ID",
        "OPENAI_SRC_BASEURL",
    ]
    assert unread_variables({"OPENAI_API_KEY": SRC, "OPENAI_BASE_URL": "x"}, []) == []


def test_settings_name_a_typo_and_still_define_the_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_SRC_API_KEY", SRC)
    monkeypatch.setenv("OPENAI_SRC_PROJECTID", "proj_src")
    settings = Settings(_env_file=None)
    assert "src" in settings.profiles
    assert "OPENAI_SRC_PROJECTID" in settings.unread_openai_variables()
