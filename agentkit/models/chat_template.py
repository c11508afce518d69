"""Rendering a GGUF chat template safely, and refusing templates that try to escape.

A chat template is a Jinja program that arrives inside a model file. It is rendered in
Jinja's immutable sandbox, so it cannot reach Python internals, touch files or mutate the
messages; a template that fails or tries something unsafe is an error, never executed code.

The sandbox alone turns `''.__class__` into an empty string and goes on, so a template written
to escape it (the class of CVE-2024-34359) would still load. `check_chat_template` refuses such
a template when the model is loaded, before any library compiles it: any attribute or item
whose name starts with `_`, the `attr` filter, a dunder name in a string, or a security error
while rendering a sample conversation. The sandbox used here also refuses repetition (`*`) and
powers (`**`) that would build a huge string or number (a template cannot exhaust memory).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from agentkit.errors import ChatTemplateError

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_REPEATED_LENGTH = 1_000_000
MAX_EXPONENT = 64
MAX_POWER_BITS = 4096
_DUNDER = re.compile(r"__\w+__")
_SAMPLE_CONVERSATION = (
    {"role": "system", "content": "You answer from the sources."},
    {"role": "user", "content": "What is the capital?"},
    {"role": "assistant", "content": "Paris [1]."},
    {"role": "user", "content": "And the river?"},
)


def _sandbox() -> ImmutableSandboxedEnvironment:
    """The immutable sandbox, with `*` and `**` bounded; `raise_exception` for templates."""
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: object, operator: str, left: object, right: object) -> object:
            if operator == "**" and isinstance(right, int | float):
                if abs(right) > MAX_EXPONENT:
                    raise SecurityError(f"the power {right} is larger than {MAX_EXPONENT}")
                if (
                    isinstance(left, int)
                    and isinstance(right, int)
                    and left.bit_length() * right > MAX_POWER_BITS
                ):
                    raise SecurityError(f"the power {right} of a {left.bit_length()}-bit number is too large")
            if operator == "*":
                for sequence, times in ((left, right), (right, left)):
                    if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                        if len(sequence) * times > MAX_REPEATED_LENGTH:
                            raise SecurityError("the repetition builds more than a million items")
            return super().call_binop(context, operator, left, right)  # type: ignore[arg-type]

    def raise_exception(message: str) -> None:
        raise ChatTemplateError(message)

    environment = BoundedSandbox(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = raise_exception
    return environment


def render_chat_template(
    template: str,
    messages: Sequence[Mapping[str, str]],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
) -> str:
    """Render `template` over the messages in a sandbox."""
    from jinja2 import TemplateError

    try:
        compiled = _sandbox().from_string(template)
        return compiled.render(
            messages=[dict(m) for m in messages],
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
    except TemplateError as error:
        raise ChatTemplateError(f"the model's chat template failed: {error}") from error


def check_chat_template(template: str, *, source: str) -> None:
    """Raise `ChatTemplateError` naming `source` (the model file) if the template is unsafe.

    A template that is merely broken, or refuses the sample conversation (some models allow no
    system message), passes here: it fails later, when it is rendered, with its own message.
    """
    from jinja2 import TemplateError, nodes
    from jinja2.exceptions import SecurityError

    def refuse(reason: str) -> ChatTemplateError:
        return ChatTemplateError(
            f"model file {source}: its chat template is refused: {reason}. A chat template only "
            "formats messages; this one tries to reach Python internals (a sandbox escape). "
            "Do not use this file; download the model from a source you trust"
        )

    environment = _sandbox()
    try:
        tree = environment.parse(template)
    except TemplateError:
        return
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Const)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise refuse(f"it reads the attribute {node.attr!r}")
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            if isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
                raise refuse(f"it reads the item {node.arg.value!r}")
        if isinstance(node, nodes.Filter) and node.name == "attr":
            raise refuse("it uses the attr filter")
        if isinstance(node, nodes.Const) and isinstance(node.value, str) and _DUNDER.search(node.value):
            raise refuse(f"it names {_DUNDER.search(node.value).group(0)!r}")  # type: ignore[union-attr]
    try:
        environment.from_string(template).render(
            messages=[dict(message) for message in _SAMPLE_CONVERSATION],
            bos_token="<s>",
            eos_token="</s>",
            add_generation_prompt=True,
        )
    except SecurityError as error:
        raise refuse(str(error)) from None
    except (TemplateError, ChatTemplateError, TypeError, ValueError, KeyError, IndexError):
        return
