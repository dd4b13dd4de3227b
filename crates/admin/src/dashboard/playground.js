// The tool playground: pick a tool the signed-in role sees, fill a form made from its
// `inputSchema`, call it as the signed-in identity (`POST /admin/api/call`: the whole pipeline,
// audited) and see what it answered. Calling needs `admin:*`.
import { call, el, session, fill } from "./core.js";

/// One form control per property of an object schema: text, number, a checkbox, a list of
/// choices (`enum`), or JSON for anything else. Returns the fieldset and a reader of values.
export function formFor(schema) {
  const props = schema?.type === "object" || schema?.properties ? schema.properties ?? {} : {};
  const required = new Set(schema?.required ?? []);
  const readers = [];
  const fields = Object.entries(props).map(([name, prop], i) => {
    const id = `arg-${i}`;
    const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== "null") : prop.type;
    const label = el("label", { for: id }, name, required.has(name) ? " (required)" : "");
    const help = prop.description ? el("p", { class: "help", id: `${id}-help` }, prop.description) : null;
    const common = { id, name, "aria-describedby": help ? `${id}-help` : undefined, required: required.has(name) };
    let input;
    let read;
    if (Array.isArray(prop.enum)) {
      input = el("select", common, required.has(name) ? null : el("option", { value: "" }, "—"),
        prop.enum.map((v) => el("option", { value: JSON.stringify(v) }, String(v))));
      read = () => (input.value === "" ? undefined : JSON.parse(input.value));
    } else if (type === "boolean") {
      input = el("input", { ...common, type: "checkbox", required: false, checked: prop.default === true });
      read = () => input.checked;
    } else if (type === "number" || type === "integer") {
      input = el("input", { ...common, type: "number", step: type === "integer" ? "1" : "any",
        min: prop.minimum, max: prop.maximum, value: prop.default });
      read = () => (input.value === "" ? undefined : Number(input.value));
    } else if (type === "string") {
      input = el("input", { ...common, type: "text", value: prop.default });
      read = () => (input.value === "" && !required.has(name) ? undefined : input.value);
    } else {
      input = el("textarea", { ...common, rows: "3", placeholder: "JSON" },
        prop.default === undefined ? "" : JSON.stringify(prop.default));
      read = () => {
        if (input.value.trim() === "") return undefined;
        try { return JSON.parse(input.value); } catch (e) { throw new Error(`${name}: not JSON (${e.message})`); }
      };
    }
    readers.push([name, read]);
    return el("div", { class: "field" }, label, input, help);
  });
  const values = () => {
    const out = {};
    for (const [name, read] of readers) {
      const v = read();
      if (v !== undefined) out[name] = v;
    }
    return out;
  };
  return { fields, values };
}

/// What a tool answered: its text (and other) content, its structured content, or the error.
function showAnswer(answer) {
  if (answer.error) {
    const e = answer.error;
    return el("div", { class: "answer answer-error", id: "answer", role: "status" },
      el("h3", {}, `Error ${e.code}`), el("p", {}, e.message),
      e.data === undefined ? null : el("pre", {}, JSON.stringify(e.data, null, 2)));
  }
  const r = answer.result ?? {};
  const parts = (r.content ?? []).map((c) => c.type === "text"
    ? el("pre", { class: "content-text" }, c.text)
    : el("p", {}, `${c.type} content${c.mimeType ? ` (${c.mimeType})` : ""}`));
  return el("div", { class: r.isError ? "answer answer-error" : "answer", id: "answer", role: "status" },
    el("h3", {}, r.isError ? "The tool answered with an error" : "Result"), parts,
    r.structuredContent === undefined ? null
      : el("details", { open: true }, el("summary", {}, "Structured content"),
        el("pre", {}, JSON.stringify(r.structuredContent, null, 2))));
}

export function playground(root, chosen) {
  const picker = el("select", { id: "tool-pick" });
  const form = el("form", { id: "call-form" });
  const out = el("div", { "aria-live": "polite" });
  root.append(el("h2", {}, "Playground"),
    el("p", {}, `Tools as role ${session.me.role ?? "—"} sees them. A call goes through the whole gateway as you (${session.me.subject}), and is audited.`),
    el("label", { for: "tool-pick" }, "Tool"), picker, form, out);
  let tools = [];
  const showForm = () => {
    const tool = tools.find((t) => t.name === picker.value);
    out.replaceChildren();
    if (!tool) { form.replaceChildren(); return; }
    const { fields, values } = formFor(tool.inputSchema);
    const error = el("p", { class: "error", role: "alert" });
    const submit = el("button", { type: "submit", disabled: !session.mayAct }, "Call");
    fill(form, 
      tool.description ? el("p", { class: "help" }, tool.description) : null,
      el("fieldset", {}, el("legend", {}, `Arguments of ${tool.name}`),
        fields.length ? fields : el("p", {}, "It takes no arguments.")),
      submit, session.mayAct ? null : el("p", { class: "updated" }, "Read-only access: calling tools needs admin:*."),
      error);
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      let args;
      try { args = values(); } catch (e) { error.textContent = e.message; return; }
      submit.disabled = true;
      fill(out, el("p", { role: "status" }, `Calling ${tool.name}…`));
      try {
        fill(out, showAnswer(await call("call", "POST", { tool: tool.name, arguments: args })));
      } catch (e) {
        out.replaceChildren();
        error.textContent = e.message;
      } finally {
        submit.disabled = !session.mayAct;
      }
    };
  };
  picker.addEventListener("change", () => {
    history.replaceState(null, "", `#/playground/${encodeURIComponent(picker.value)}`);
    showForm();
  });
  (async () => {
    if (!session.me.role) { fill(form, el("p", {}, "Your identity has no role: no tools.")); return; }
    try {
      tools = (await call(`catalog?role=${encodeURIComponent(session.me.role)}`)).tools;
    } catch (e) {
      fill(form, el("p", { class: "error" }, e.message));
      return;
    }
    tools.sort((a, b) => a.name.localeCompare(b.name));
    fill(picker, el("option", { value: "" }, "— choose a tool —"),
      tools.map((t) => el("option", { value: t.name, selected: t.name === chosen }, t.name)));
    showForm();
  })();
  return null;
}
