/*
 * agentkit chat widget: one script tag puts an agent on any page.
 *
 *   <script src="https://host/widget.js" data-agent="helpdesk" data-key="..."></script>
 *
 * Adds a chat bubble that opens a panel, sends the conversation to
 * POST {origin of this script}/v1/chat/completions (OpenAI-compatible, stream: true), streams
 * the answer in, and lists the numbered sources from the final chunk's `agentkit.citations`.
 * The conversation is kept for the tab (sessionStorage). The agent's greeting comes from
 * GET /api/agents/{name}/widget; under each answer that has a question log id
 * (`agentkit.log_id`) thumbs up and down post POST /api/feedback.
 *
 * data-mode="page" and data-target="#id" render the panel inline, always open (the full-page
 * chat at /agents/{name}/chat); without data-key the page mode asks for a key.
 *
 * Security: everything that comes from the model or from a source (answer text, titles, URIs,
 * error messages) goes into the page as text (textContent), never as HTML. A source becomes a
 * link only when its URI parses as http: or https:, and nothing else (no image, no script, no
 * request) is ever made from what the model wrote. Styles live in a shadow root.
 */
(function () {
  "use strict";

  var script = document.currentScript || document.querySelector("script[data-agent][src*='widget.js']");
  if (!script) {
    return;
  }
  var apiOrigin = new URL(script.src, document.baseURI).origin;
  var agent = script.getAttribute("data-agent") || "";
  var pageMode = script.getAttribute("data-mode") === "page";
  /* Only the full-page chat takes its key from the address (?key=); a host page's query is its own. */
  var key = script.getAttribute("data-key") || (pageMode && new URLSearchParams(window.location.search).get("key")) || "";
  var title = script.getAttribute("data-title") || "Ask " + agent;
  var storageKey = "agentkit-chat:" + apiOrigin + ":" + agent;

  var CSS = [
    ":host { all: initial; }",
    "* { box-sizing: border-box; }",
    ".ak-root { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1f2328; }",
    ".ak-bubble { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px;",
    "  border-radius: 50%; border: none; background: #2456d6; color: #fff; cursor: pointer;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); display: flex; align-items: center; justify-content: center; }",
    ".ak-bubble:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible, a:focus-visible {",
    "  outline: 3px solid #f0a500; outline-offset: 2px; }",
    ".ak-bubble svg { width: 26px; height: 26px; fill: currentColor; }",
    ".ak-panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 370px; max-width: calc(100vw - 40px);",
    "  height: 540px; max-height: calc(100vh - 110px); background: #fff; border-radius: 12px;",
    "  box-shadow: 0 10px 40px rgba(0,0,0,.28); display: flex; flex-direction: column; overflow: hidden; }",
    ".ak-panel[hidden], .ak-form[hidden] { display: none; }",
    ".ak-page .ak-panel { position: static; width: 100%; max-width: 760px; height: 80vh; max-height: none; margin: 0 auto;",
    "  box-shadow: 0 2px 12px rgba(0,0,0,.15); }",
    ".ak-header { display: flex; align-items: center; gap: 8px; padding: 12px 14px; background: #2456d6; color: #fff; }",
    ".ak-header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }",
    ".ak-header button { background: transparent; border: 1px solid rgba(255,255,255,.6); color: #fff; border-radius: 6px;",
    "  padding: 3px 8px; font: inherit; font-size: 13px; cursor: pointer; }",
    ".ak-log { flex: 1; overflow-y: auto; padding: 14px; background: #f6f7f9; }",
    ".ak-msg { margin: 0 0 12px; padding: 9px 12px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere; max-width: 92%; }",
    ".ak-user { margin-left: auto; background: #2456d6; color: #fff; width: fit-content; }",
    ".ak-assistant { background: #fff; border: 1px solid #dde1e6; }",
    ".ak-error { background: #fdecec; border: 1px solid #f3b4b4; color: #8a1c1c; }",
    ".ak-abstained { color: #57606a; font-style: italic; }",
    ".ak-sources { margin: 8px 0 0; padding: 8px 0 0; border-top: 1px solid #e5e8eb; font-size: 13px; white-space: normal; }",
    ".ak-sources-label { font-weight: 600; color: #57606a; margin: 0 0 4px; }",
    ".ak-sources ol { margin: 0; padding-left: 0; list-style: none; }",
    ".ak-sources li { margin: 2px 0; }",
    ".ak-sources a { color: #2456d6; }",
    ".ak-form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e8eb; background: #fff; }",
    ".ak-form textarea, .ak-form input { flex: 1; resize: none; font: inherit; padding: 8px 10px; border: 1px solid #c9ced4; border-radius: 8px; }",
    ".ak-form button { background: #2456d6; color: #fff; border: none; border-radius: 8px; padding: 0 14px; font: inherit; cursor: pointer; }",
    ".ak-form button:disabled { background: #9db1e8; cursor: default; }",
    ".ak-sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); border: 0; }",
    ".ak-hint { color: #57606a; font-size: 13px; margin: 0 0 12px; }",
    ".ak-feedback { display: flex; align-items: center; gap: 6px; margin: 8px 0 0; font-size: 13px; color: #57606a; white-space: normal; }",
    ".ak-feedback button { background: #fff; border: 1px solid #c9ced4; border-radius: 6px; padding: 2px 8px; line-height: 0; cursor: pointer; }",
    ".ak-feedback button:hover { background: #eef2fb; }",
    ".ak-feedback svg { width: 16px; height: 16px; fill: #57606a; vertical-align: middle; }"
  ].join("\n");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  /* The only way a URI becomes a link: it must parse as an absolute http(s) URL. */
  function safeHttpUrl(value) {
    if (typeof value !== "string" || value === "") {
      return null;
    }
    var parsed;
    try {
      parsed = new URL(value);
    } catch (error) {
      return null;
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return null;
    }
    return parsed.href;
  }

  function loadHistory() {
    try {
      var stored = JSON.parse(window.sessionStorage.getItem(storageKey) || "[]");
      return Array.isArray(stored) ? stored : [];
    } catch (error) {
      return [];
    }
  }

  function saveHistory() {
    try {
      window.sessionStorage.setItem(storageKey, JSON.stringify(history));
    } catch (error) {
      /* storage full or disabled: the conversation still works for this page */
    }
  }

  var history = loadHistory();
  var busy = false;
  var greeting = "";

  /* ---- the DOM, inside a shadow root ---- */
  var host = document.createElement("div");
  host.setAttribute("data-agentkit-widget", agent);
  var mount = pageMode ? document.querySelector(script.getAttribute("data-target") || "#agentkit-chat") : null;
  (mount || document.body).appendChild(host);
  var shadow = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent = CSS;
  shadow.appendChild(style);

  var root = el("div", "ak-root" + (pageMode ? " ak-page" : ""));
  shadow.appendChild(root);

  var panelId = "ak-panel";
  var bubble = null;
  if (!pageMode) {
    bubble = el("button", "ak-bubble");
    bubble.type = "button";
    bubble.setAttribute("aria-label", "Open chat: " + title);
    bubble.setAttribute("aria-expanded", "false");
    bubble.setAttribute("aria-controls", panelId);
    var svgNs = "http://www.w3.org/2000/svg";
    var icon = document.createElementNS(svgNs, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(svgNs, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    icon.appendChild(path);
    bubble.appendChild(icon);
    root.appendChild(bubble);
  }

  var panel = el("div", "ak-panel");
  panel.id = panelId;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-modal", "false");
  panel.setAttribute("aria-labelledby", "ak-title");
  if (!pageMode) {
    panel.hidden = true;
  }
  root.appendChild(panel);

  var header = el("div", "ak-header");
  var heading = el("h2", null, title);
  heading.id = "ak-title";
  header.appendChild(heading);
  var clearButton = el("button", "ak-clear", "New chat");
  clearButton.type = "button";
  clearButton.setAttribute("aria-label", "Start a new conversation");
  header.appendChild(clearButton);
  var closeButton = null;
  if (!pageMode) {
    closeButton = el("button", "ak-close", "\u00d7");
    closeButton.type = "button";
    closeButton.setAttribute("aria-label", "Close chat");
    header.appendChild(closeButton);
  }
  panel.appendChild(header);

  var log = el("div", "ak-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Conversation");
  log.tabIndex = 0;
  panel.appendChild(log);

  var status = el("div", "ak-sr ak-status");
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  panel.appendChild(status);

  var keyForm = null;
  var keyInput = null;
  if (!key) {
    keyForm = el("form", "ak-form ak-key-form");
    var keyLabel = el("label", "ak-sr", "API key (chat scope)");
    keyLabel.htmlFor = "ak-key";
    keyInput = el("input");
    keyInput.id = "ak-key";
    keyInput.type = "password";
    keyInput.autocomplete = "off";
    keyInput.placeholder = "Chat API key";
    var keyButton = el("button", null, "Use key");
    keyButton.type = "submit";
    keyForm.appendChild(keyLabel);
    keyForm.appendChild(keyInput);
    keyForm.appendChild(keyButton);
    panel.appendChild(keyForm);
  }

  var form = el("form", "ak-form ak-ask-form");
  var inputLabel = el("label", "ak-sr", "Your question");
  inputLabel.htmlFor = "ak-input";
  var input = el("textarea", "ak-input");
  input.id = "ak-input";
  input.rows = 2;
  input.placeholder = "Ask a question\u2026 (Enter sends, Shift+Enter for a new line)";
  var sendButton = el("button", "ak-send", "Send");
  sendButton.type = "submit";
  form.appendChild(inputLabel);
  form.appendChild(input);
  form.appendChild(sendButton);
  panel.appendChild(form);
  if (!key) {
    form.hidden = true;
  }

  /* ---- rendering ---- */
  function renderSources(container, citations) {
    if (!Array.isArray(citations) || citations.length === 0) {
      return;
    }
    var box = el("div", "ak-sources");
    box.appendChild(el("p", "ak-sources-label", "Sources"));
    var list = el("ol");
    list.setAttribute("aria-label", "Sources");
    citations.forEach(function (citation, index) {
      if (!citation || typeof citation !== "object") {
        return;
      }
      var n = Number.isInteger(citation.n) ? citation.n : index + 1;
      var label = String(citation.title || citation.uri || "Source " + n);
      if (citation.page !== undefined && citation.page !== null && citation.page !== "") {
        label += " (page " + String(citation.page) + ")";
      }
      var item = el("li");
      item.appendChild(document.createTextNode("[" + n + "] "));
      var href = safeHttpUrl(citation.uri);
      if (href) {
        var link = el("a", "ak-source-link", label);
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.referrerPolicy = "no-referrer";
        item.appendChild(link);
      } else {
        item.appendChild(el("span", "ak-source-text", label));
      }
      list.appendChild(item);
    });
    box.appendChild(list);
    container.appendChild(box);
  }

  /* A thumb drawn as SVG (no emoji font needed); the down thumb is the up one turned over. */
  function thumbIcon(down) {
    var svgNs = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(svgNs, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var shape = document.createElementNS(svgNs, "path");
    shape.setAttribute("d", "M2 10h4v11H2z M8 10l4-7c1.5 0 2.5 1 2.2 2.6L13.5 9H20c1.2 0 2.1 1.1 1.9 2.3l-1.4 8c-.2 1-1 1.7-2 1.7H8z");
    if (down) {
      shape.setAttribute("transform", "rotate(180 12 12)");
    }
    svg.appendChild(shape);
    return svg;
  }

  /* Thumbs up and down under an answer the server logged; the rating is kept with the message. */
  function renderFeedback(container, message) {
    if (!Number.isInteger(message.log_id)) {
      return;
    }
    var box = el("div", "ak-feedback");
    if (message.rated) {
      box.appendChild(el("span", "ak-feedback-done", "Thanks for your feedback."));
      container.appendChild(box);
      return;
    }
    box.appendChild(el("span", null, "Helpful?"));
    [["up", "This answer was helpful"], ["down", "This answer was not helpful"]].forEach(function (choice) {
      var button = el("button", "ak-thumb ak-thumb-" + choice[0]);
      button.type = "button";
      button.setAttribute("aria-label", choice[1]);
      button.appendChild(thumbIcon(choice[0] === "down"));
      button.addEventListener("click", function () {
        sendFeedback(message, choice[0], box);
      });
      box.appendChild(button);
    });
    container.appendChild(box);
  }

  function sendFeedback(message, rating, box) {
    Array.prototype.forEach.call(box.querySelectorAll("button"), function (button) { button.disabled = true; });
    fetch(apiOrigin + "/api/feedback", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + key },
      body: JSON.stringify({ log_id: message.log_id, rating: rating })
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("feedback " + response.status);
        }
        message.rated = rating;
        saveHistory();
        box.textContent = "";
        box.appendChild(el("span", "ak-feedback-done", "Thanks for your feedback."));
        status.textContent = "Feedback sent.";
      })
      .catch(function () {
        Array.prototype.forEach.call(box.querySelectorAll("button"), function (button) { button.disabled = false; });
        status.textContent = "The feedback could not be sent.";
      });
  }

  function renderMessage(message) {
    var bubbleClass = message.role === "user" ? "ak-user" : message.error ? "ak-error" : "ak-assistant";
    var node = el("div", "ak-msg " + bubbleClass);
    var text = el("div", "ak-text", message.content);
    if (message.abstained) {
      text.className += " ak-abstained";
    }
    node.appendChild(text);
    if (message.role === "assistant") {
      renderSources(node, message.citations);
      renderFeedback(node, message);
    }
    log.appendChild(node);
    return node;
  }

  function renderAll() {
    log.textContent = "";
    if (greeting) {
      log.appendChild(el("div", "ak-msg ak-assistant ak-greeting", greeting));
    }
    if (history.length === 0) {
      log.appendChild(el("p", "ak-hint", "Answers come from this assistant's own sources, with citations."));
    }
    history.forEach(renderMessage);
    log.scrollTop = log.scrollHeight;
  }

  function showError(text) {
    var node = renderMessage({ role: "assistant", error: true, content: text });
    node.setAttribute("role", "alert");
    status.textContent = text;
  }

  /* ---- the API ---- */
  function errorText(response, body) {
    var message = body && body.error && typeof body.error.message === "string" ? body.error.message : "";
    if (response.status === 401 || response.status === 403) {
      return "This chat is not available here" + (message ? ": " + message : ".");
    }
    if (response.status === 429) {
      return "The assistant is busy. Please try again in a moment.";
    }
    return "Something went wrong (" + response.status + ")" + (message ? ": " + message : ".");
  }

  function readStream(response, onDelta, onExtra) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var done = false;

    function handleEvent(block) {
      var data = block
        .split("\n")
        .filter(function (line) { return line.indexOf("data:") === 0; })
        .map(function (line) { return line.slice(5).replace(/^ /, ""); })
        .join("\n");
      if (data === "") {
        return;
      }
      if (data === "[DONE]") {
        done = true;
        return;
      }
      var chunk = JSON.parse(data);
      if (chunk.error) {
        throw new Error(typeof chunk.error.message === "string" ? chunk.error.message : "The answer failed.");
      }
      var choice = chunk.choices && chunk.choices[0];
      if (choice && choice.delta && typeof choice.delta.content === "string") {
        onDelta(choice.delta.content);
      }
      if (chunk.agentkit) {
        onExtra(chunk.agentkit);
      }
    }

    function pump() {
      return reader.read().then(function (result) {
        if (result.done) {
          buffer += decoder.decode();
        } else {
          buffer += decoder.decode(result.value, { stream: true });
        }
        buffer = buffer.replace(/\r\n/g, "\n");
        var boundary;
        while ((boundary = buffer.indexOf("\n\n")) !== -1) {
          var block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          handleEvent(block);
        }
        if (result.done || done) {
          if (buffer.trim() !== "") {
            handleEvent(buffer);
          }
          return;
        }
        return pump();
      });
    }
    return pump();
  }

  function ask(question) {
    if (busy || !question.trim()) {
      return;
    }
    if (!key) {
      showError("Enter a chat API key first.");
      return;
    }
    busy = true;
    sendButton.disabled = true;
    if (history.length === 0) {
      renderAll();
      var hint = log.querySelector(".ak-hint");
      if (hint) {
        hint.remove();
      }
    }
    var userMessage = { role: "user", content: question };
    history.push(userMessage);
    renderMessage(userMessage);
    saveHistory();

    var answer = { role: "assistant", content: "", citations: [], abstained: false, log_id: null };
    var node = renderMessage(answer);
    var textNode = node.querySelector(".ak-text");
    log.setAttribute("aria-busy", "true");
    status.textContent = "The assistant is answering\u2026";

    var payload = {
      model: agent,
      stream: true,
      messages: history.filter(function (message) { return !message.error; }).map(function (message) {
        return { role: message.role, content: message.content };
      })
    };

    fetch(apiOrigin + "/v1/chat/completions", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream", Authorization: "Bearer " + key },
      body: JSON.stringify(payload)
    })
      .then(function (response) {
        if (!response.ok) {
          return response.json().catch(function () { return null; }).then(function (body) {
            throw new Error(errorText(response, body));
          });
        }
        return readStream(
          response,
          function (delta) {
            answer.content += delta;
            textNode.textContent = answer.content;
            log.scrollTop = log.scrollHeight;
          },
          function (extra) {
            answer.citations = Array.isArray(extra.citations) ? extra.citations : [];
            answer.abstained = extra.abstained === true;
            answer.log_id = Number.isInteger(extra.log_id) ? extra.log_id : null;
          }
        );
      })
      .then(function () {
        node.remove();
        history.push(answer);
        saveHistory();
        renderMessage(answer);
        status.textContent = answer.content;
      })
      .catch(function (error) {
        node.remove();
        history.pop(); /* the question was not answered: do not send it as history */
        saveHistory();
        var text = error instanceof TypeError
          ? "Could not reach the assistant from this page (it may not be allowed on this site)." : String(error.message || error);
        showError(text);
      })
      .then(function () {
        busy = false;
        sendButton.disabled = false;
        log.removeAttribute("aria-busy");
        log.scrollTop = log.scrollHeight;
      });
  }

  /* ---- behaviour ---- */
  function openPanel() {
    panel.hidden = false;
    if (bubble) {
      bubble.setAttribute("aria-expanded", "true");
      bubble.setAttribute("aria-label", "Close chat: " + title);
    }
    (keyInput && !key ? keyInput : input).focus();
    log.scrollTop = log.scrollHeight;
  }

  function closePanel() {
    if (pageMode) {
      return;
    }
    panel.hidden = true;
    bubble.setAttribute("aria-expanded", "false");
    bubble.setAttribute("aria-label", "Open chat: " + title);
    bubble.focus();
  }

  if (bubble) {
    bubble.addEventListener("click", function () {
      if (panel.hidden) {
        openPanel();
      } else {
        closePanel();
      }
    });
  }
  if (closeButton) {
    closeButton.addEventListener("click", closePanel);
  }
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      closePanel();
    }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value;
    if (busy || !question.trim()) {
      return;
    }
    input.value = "";
    ask(question);
  });
  clearButton.addEventListener("click", function () {
    history = [];
    saveHistory();
    renderAll();
    status.textContent = "Started a new conversation.";
    input.focus();
  });
  if (keyForm) {
    keyForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!keyInput.value.trim()) {
        return;
      }
      key = keyInput.value.trim();
      keyForm.remove();
      form.hidden = false;
      loadGreeting();
      input.focus();
    });
  }

  /* The agent's greeting (shown above the conversation); without it the chat works the same. */
  function loadGreeting() {
    if (!key) {
      return;
    }
    fetch(apiOrigin + "/api/agents/" + encodeURIComponent(agent) + "/widget", {
      method: "GET",
      mode: "cors",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      headers: { Authorization: "Bearer " + key }
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (config) {
        if (config && typeof config.greeting === "string" && config.greeting !== "" && !busy) {
          greeting = config.greeting;
          renderAll();
        }
      })
      .catch(function () {
        /* no greeting: the chat works the same */
      });
  }

  renderAll();
  loadGreeting();
  if (pageMode) {
    openPanel();
  }
})();
