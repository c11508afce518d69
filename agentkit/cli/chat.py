"""The stdin chat loop behind `agentkit chat`, testable with StringIO.

The agent's greeting, when it has one, opens the chat. On a terminal it shows a prompt and
streams answers as they are generated; with piped input it reads one question per line and
prints each answer with its sources, ending at EOF.
`/sources` shows the last answer's citations, `/quit` ends, `/help` lists the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from agentkit.results import Answer, Citation

if TYPE_CHECKING:
    from agentkit.conversation import Conversation

PROMPT = "you> "
HELP = "Commands: /sources shows the sources of the last answer, /quit ends the chat."


def format_citation(citation: Citation) -> str:
    page = f", page {citation.page}" if citation.page else ""
    where = f" ({citation.uri})" if citation.uri else ""  # a curated answer may have no source
    return f"[{citation.n}] {citation.title}{page}{where}"


def format_sources(answer: Answer) -> str:
    if not answer.citations:
        return "(no sources)"
    label = "Closest sources" if answer.abstained else "Sources"
    return label + ":\n" + "\n".join("  " + format_citation(c) for c in answer.citations)


def run_chat(conversation: Conversation, input_stream: TextIO, output: TextIO, *, interactive: bool) -> int:
    """Run the loop until EOF or /quit; returns the exit status."""
    if interactive:
        output.write(f"Chatting with {conversation.agent.name}. {HELP}\n")
    greeting = conversation.agent.greeting
    if greeting:
        output.write(f"{'agent> ' if interactive else ''}{greeting}\n")
    while True:
        if interactive:
            output.write(PROMPT)
            output.flush()
        line = input_stream.readline()
        if not line:
            if interactive:
                output.write("\n")
            return 0
        question = line.strip()
        if not question:
            continue
        if question in ("/quit", "/exit"):
            return 0
        if question == "/help":
            output.write(HELP + "\n")
            continue
        if question == "/sources":
            last = conversation.last_answer
            output.write((format_sources(last) if last else "No answer yet.") + "\n")
            continue
        if question.startswith("/"):
            output.write(f"Unknown command {question}. {HELP}\n")
            continue
        if not interactive:
            output.write(f"Q: {question}\n")
        stream = conversation.stream(question)
        if interactive:
            output.write("agent> ")
            for piece in stream:
                output.write(piece)
                output.flush()
            stream.finish()
            output.write("\n")
            continue
        # Piped: print the final, grounded text (it may differ from the raw stream).
        answer = stream.finish()
        output.write(f"A: {answer.text}\n{format_sources(answer)}\n\n")
        output.flush()
