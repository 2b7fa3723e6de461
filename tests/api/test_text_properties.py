"""Properties over the whole HTTP path: whatever text a client sends reaches the other API's
backend unchanged, and the streamed answer collects to exactly the non-streamed one."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Stack

# The fakes echo the last user text (up to 200 characters) and split streams on spaces.
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
               max_size=80).filter(lambda t: t.strip() == t and t.strip() != "")
SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(text=TEXT)
async def test_anthropic_client_text_survives_the_openai_backend(
        stack: Stack, anthropic_client: Any, text: str) -> None:
    message = await anthropic_client.messages.create(
        model="oai/mini-sim", max_tokens=50, messages=[{"role": "user", "content": text}])
    assert stack.openai_fake.chat_requests[-1].body["messages"][-1]["content"] == text
    async with anthropic_client.messages.stream(
            model="oai/mini-sim", max_tokens=50, messages=[{"role": "user", "content": text}]) as s:
        streamed = await s.get_final_message()
    assert message.content[0].text == streamed.content[0].text
    assert message.content[0].text.endswith(f"You said: {text}")


@SETTINGS
@given(text=TEXT)
async def test_openai_client_text_survives_the_anthropic_backend(
        stack: Stack, openai_client: Any, text: str) -> None:
    completion = await openai_client.chat.completions.create(
        model="ant/haiku-sim", messages=[{"role": "user", "content": text}])
    sent = stack.anthropic_fake.message_requests[-1].body["messages"][-1]["content"]
    assert sent in (text, [{"type": "text", "text": text}])
    async with openai_client.chat.completions.stream(
            model="ant/haiku-sim", messages=[{"role": "user", "content": text}]) as s:
        streamed = await s.get_final_completion()
    assert completion.choices[0].message.content == streamed.choices[0].message.content
    assert completion.choices[0].message.content.endswith(f"You said: {text}")
