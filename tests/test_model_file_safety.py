"""Model files are data from strangers: a file that is not GGUF, a broken header, or a chat
template that tries to escape the Jinja sandbox (the class of CVE-2024-34359) is refused with
an error naming the file, before llama.cpp is given it. The GGUF files here are written by the
test (a header with key/value entries and no tensors); no model weights are involved.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agentkit.errors import ChatTemplateError, GeneratorError
from agentkit.models.chat_template import check_chat_template, render_chat_template
from agentkit.models.gguf_file import read_gguf_strings
from agentkit.models.llama_cpp import LlamaCppGenerator, default_model_path


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, entries: dict[str, str | int | list[str]], *, version: int = 3) -> Path:
    """A GGUF header: magic, version, tensor count 0, the entries (string, uint32, string array)."""
    body = b"GGUF" + struct.pack("<IQQ", version, 0, len(entries))
    for key, value in entries.items():
        body += _string(key)
        if isinstance(value, str):
            body += struct.pack("<I", 8) + _string(value)
        elif isinstance(value, int):
            body += struct.pack("<II", 4, value)
        else:
            body += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(item) for item in value)
    path.write_bytes(body)
    return path


def model_with_template(tmp_path: Path, template: str) -> Path:
    return write_gguf(
        tmp_path / "hostile.gguf",
        {
            "general.architecture": "llama",
            "llama.context_length": 2048,
            "tokenizer.ggml.tokens": ["<s>", "</s>", "a", "b"],
            "tokenizer.chat_template": template,
        },
    )


ESCAPES = {
    "mro walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals through a global": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "template reference": "{{ self._TemplateReference__context }}",
    "attr filter": "{{ messages|attr('__class__') }}",
    "item lookup": "{{ messages['__class__'] }}",
    "dunder in a string": "{% set name = '__globals__' %}{{ name }}",
    "the CVE's payload": (
        "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}"
        "{{ x()._module.__builtins__['__import__']('os').popen('touch /tmp/pwned') }}{% endif %}{% endfor %}"
    ),
    "memory bomb by repetition": "{{ 'a' * 10000000000 }}",
    "memory bomb by power": "{{ 2 ** 100000000 }}",
    "memory bomb by repeated powers": "{{ ((((9 ** 9) ** 9) ** 9) ** 9) ** 9 }}",
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_a_template_that_tries_to_escape_the_sandbox_refuses_the_model(tmp_path: Path, name: str) -> None:
    path = model_with_template(tmp_path, ESCAPES[name])
    with pytest.raises(ChatTemplateError, match="its chat template is refused") as raised:
        LlamaCppGenerator(str(path), context_window=512)
    assert str(path) in str(raised.value)
    assert not Path("/tmp/pwned").exists()


def test_repetition_and_powers_are_bounded_when_rendering_too() -> None:
    with pytest.raises(ChatTemplateError, match="more than a million"):
        render_chat_template("{{ 'ab' * 600000 }}", [], bos_token="", eos_token="")
    assert render_chat_template("{{ '-' * 3 }}{{ 2 ** 3 }}", [], bos_token="", eos_token="") == "---8"


def test_ordinary_templates_pass_including_ones_that_refuse_a_system_message() -> None:
    refusing = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "<start_of_turn>{{ m['role'] }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    )
    check_chat_template(refusing, source="gemma.gguf")
    check_chat_template("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}", source="x.gguf")
    check_chat_template("{{ broken", source="x.gguf")  # broken, not hostile: fails when rendered


def test_the_default_model_passes_the_checks() -> None:
    path = default_model_path()
    strings = read_gguf_strings(path)
    check_chat_template(strings["tokenizer.chat_template"], source=path)
    assert strings["general.architecture"] == "llama"


def test_a_file_that_is_not_gguf_is_refused_naming_it(tmp_path: Path) -> None:
    for name, content in {
        "weights.bin": b"PK\x03\x04 a zip file",
        "model.gguf": b"<html>Not found</html>",
        "empty.gguf": b"",
    }.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(GeneratorError, match="is not a GGUF file") as raised:
            LlamaCppGenerator(str(path), context_window=512)
        assert str(path) in str(raised.value)


def test_a_broken_or_old_header_is_refused_naming_the_file(tmp_path: Path) -> None:
    whole = write_gguf(tmp_path / "whole.gguf", {"tokenizer.chat_template": "{{ messages }}"})
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(whole.read_bytes()[:-5])
    with pytest.raises(GeneratorError, match="broken GGUF header") as raised:
        read_gguf_strings(str(truncated))
    assert str(truncated) in str(raised.value)

    lying = tmp_path / "lying.gguf"
    lying.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62))
    with pytest.raises(GeneratorError, match="key/value entries"):
        read_gguf_strings(str(lying))

    old = write_gguf(tmp_path / "old.gguf", {}, version=1)
    with pytest.raises(GeneratorError, match="GGUF version 1"):
        read_gguf_strings(str(old))
