// The audit trail: the newest records, searched by any text (a subject, a tool, an outcome),
// and its hash chain checked on demand.
import { call, el, num, row, table, when, fill } from "./core.js";

const COLUMNS = [
  { name: "#", num: true }, { name: "Time" }, { name: "Subject" }, { name: "Role" },
  { name: "Via" }, { name: "Method" }, { name: "Target" }, { name: "Outcome" },
  { name: "ms", num: true },
];

export function audit(root) {
  const q = el("input", { id: "audit-q", type: "search", name: "q", placeholder: "subject, tool, outcome…" });
  const results = el("div", { "aria-live": "polite" });
  const verdict = el("p", { id: "audit-verdict", role: "status" });
  const search = async () => {
    try {
      const a = await call(`audit?limit=200${q.value ? `&q=${encodeURIComponent(q.value)}` : ""}`);
      fill(results, 
        el("p", { class: "updated" }, `${a.matched} matching record${a.matched === 1 ? "" : "s"}, newest first${a.records.length < a.matched ? ` (the newest ${a.records.length} shown)` : ""}.`),
        table("Audit records", COLUMNS, a.records.map((r) => row([
          num(String(r.seq)), when(r.time), r.subject, r.role, r.transport, r.method, r.target,
          el("td", { class: r.outcome === "ok" ? "" : "state-down" }, r.outcome),
          num(r.latency_us == null ? "—" : (r.latency_us / 1000).toFixed(1)),
        ], { dataset: { seq: String(r.seq) } })), { id: "audit-records" }));
    } catch (e) {
      fill(results, el("p", { class: "error" }, e.message));
    }
  };
  const verify = async () => {
    verdict.textContent = "Checking the chain…";
    try {
      const v = await call("audit/verify");
      verdict.className = v.intact ? "state-ready" : "state-down";
      verdict.textContent = v.intact
        ? `Intact: ${v.records} records, each linked to the one before (head ${v.head.slice(0, 16)}…).`
        : `Broken at record ${v.broken_at}: ${v.why}`;
    } catch (e) {
      verdict.className = "error";
      verdict.textContent = e.message;
    }
  };
  root.append(el("h2", {}, "Audit trail"),
    el("form", { role: "search", onsubmit: (ev) => { ev.preventDefault(); search(); } },
      el("label", { for: "audit-q" }, "Search"), q, el("button", { type: "submit" }, "Search")),
    el("button", { type: "button", id: "audit-verify", onclick: verify }, "Verify the chain"),
    verdict, results);
  search();
  return null;
}
