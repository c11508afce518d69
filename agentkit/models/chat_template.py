"""Rendering a GGUF chat template safely.

A chat template is a Jinja program that arrives inside a model file. It is rendered in
Jinja's immutable sandbox, so it cannot reach Python internals, touch files or mutate the
messages; a template that fails or tries something unsafe is an error, never executed code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agentkit.errors import ChatTemplateError


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
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ChatTemplateError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = raise_exception
    try:
        compiled = environment.from_string(template)
        return compiled.render(
            messages=[dict(m) for m in messages],
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
    except TemplateError as error:
        raise ChatTemplateError(f"the model's chat template failed: {error}") from error
