from __future__ import annotations

import openai
import pytest


async def test_unknown_key_is_refused_with_401(sandbox_project) -> None:
    client = openai.AsyncOpenAI(
        api_key="sk-not-a-real-key-000000", base_url=sandbox_project.base_url, max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as info:
        await client.files.list()
    assert info.value.code == "invalid_api_key"
