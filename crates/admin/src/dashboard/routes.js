// Routes: each route's candidates in order, whether each is available now and its circuit
// breaker's state. Fetched again every 5 seconds while the page is open.
import { call, el, row, table, fill } from "./core.js";

export function routes(root) {
  const list = el("div", { "aria-live": "polite" });
  root.append(el("h2", {}, "Routes and circuit breakers"), list);
  const draw = async () => {
    try {
      const r = await call("routes");
      fill(list, r.routes.length ? r.routes.map((route) => el("section", { class: "route", dataset: { route: route.name } },
        el("h3", {}, `${route.name} (${route.strategy.replace("_", " ")})`),
        table(`Candidates of route ${route.name}`, [{ name: "Tool" }, { name: "Priority" }, { name: "Available" }, { name: "Breaker" }],
          route.candidates.map((c) => row([c.tool, String(c.priority),
            el("td", { class: c.available ? "state-ready" : "state-down" }, c.available ? "yes" : "no"),
            el("td", { class: c.breaker === "open" ? "state-down" : "" }, c.breaker === "open" ? "open (calls refused)" : "closed")])))))
        : el("p", {}, "No routes are configured (`routes:`)."));
    } catch (e) {
      fill(list, el("p", { class: "error" }, e.message));
    }
  };
  draw();
  const timer = setInterval(draw, 5000);
  return () => clearInterval(timer);
}
