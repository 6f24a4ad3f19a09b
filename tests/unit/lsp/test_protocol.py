"""What CopilotProtocol's converter accepts and how it says what it refuses (the answers
themselves are tested over stdio: tests/e2e/test_protocol_answers.py)."""

from __future__ import annotations

from typing import Any

import cattrs
import pytest
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from copilot.lsp import server as server_module
from copilot.lsp.protocol import CUSTOM_PARAMS, CopilotProtocol, describe


@pytest.fixture(scope="module")
def converter() -> cattrs.Converter:
    return LanguageServer("test", "1", protocol_cls=CopilotProtocol).protocol._converter


def refusal(converter: cattrs.Converter, data: Any, type_: type[Any]) -> str:
    with pytest.raises(Exception) as caught:
        converter.structure(data, type_)
    return describe(caught.value)


POSITION = {"textDocument": {"uri": "file:///a.py"}, "position": {"line": 0, "character": 0}}
INLINE = {**POSITION, "context": {"triggerKind": 1}}


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({**INLINE, "position": {"line": -1, "character": 0}}, "Position.line should be in range"),
        ({**INLINE, "position": {"line": 2**40, "character": 0}}, "but was 1099511627776 @ $.position"),
        ({**INLINE, "position": {"line": 1.5, "character": 0}}, "expected int @ $.position.line"),
        ({**INLINE, "position": {"line": "1", "character": 0}}, "expected int @ $.position.line"),
        ({**INLINE, "position": {"line": True, "character": 0}}, "expected int @ $.position.line"),
        (
            {**INLINE, "context": {"triggerKind": 99}},
            "99 is not a valid InlineCompletionTriggerKind @ $.context.triggerKind",
        ),
        ({**INLINE, "context": {"triggerKind": 1.0}}, "@ $.context.triggerKind"),
        ({**INLINE, "textDocument": None}, "expected str @ $.textDocument.uri"),
        ({k: v for k, v in INLINE.items() if k != "context"}, "required field missing @ $.context"),
    ],
)
def test_params_lsprotocol_or_the_integer_rule_refuses_are_described_with_their_camel_case_path(
    converter: cattrs.Converter, params: dict[str, Any], said: str
) -> None:
    assert said in refusal(converter, params, types.InlineCompletionParams)


def test_valid_params_keep_their_types(converter: cattrs.Converter) -> None:
    params = converter.structure(INLINE, types.InlineCompletionParams)
    assert params.context.trigger_kind is types.InlineCompletionTriggerKind.Invoked
    assert (params.position.line, params.position.character) == (0, 0)


def test_capability_flags_stay_as_lenient_as_pygls(converter: cattrs.Converter) -> None:
    capabilities = converter.structure({"dynamicRegistration": 1}, types.DidChangeConfigurationClientCapabilities)
    assert capabilities.dynamic_registration is True


def test_a_long_description_is_cut() -> None:
    text = describe(ValueError("x" * 1000), "$.params")
    assert len(text) == 300 and text.endswith("...")


def test_the_checked_custom_requests_are_the_servers_position_requests() -> None:
    assert set(CUSTOM_PARAMS) == {server_module.GENERATE_METHOD, server_module.INSPECT_METHOD}
