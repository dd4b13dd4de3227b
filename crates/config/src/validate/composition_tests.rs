//! The load-time checks of `workflows:`, `routes:` and `views:` as a person sees them, and what
//! loading adds for them.

use std::path::Path;

use crate::{Config, ConfigError, TransportKind, WORKFLOWS_SERVER, from_str};

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    from_str(yaml, Path::new("wf.yaml"), &|k| {
        (k == "CHANNEL").then(|| "exec".to_owned())
    })
}

fn problems(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(_) => panic!("expected problems for:\n{yaml}"),
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

fn has(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "no problem contains {needle:?}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_valid_workflow_is_served_by_the_workflows_entry_with_env_and_expressions_apart() {
    let c = parse(
        r#"
workflows:
  report:
    timeout: 2m
    steps:
      - id: revenue
        tool: sales__revenue
        args: {period: "${{ .inputs.period }}", channel: "${CHANNEL}"}
      - id: notify
        tool: chat__send
        if: .steps.revenue.result.total > 0
        args: {text: "Revenue ${{ .steps.revenue.result.total }} (${CHANNEL:-none})"}
    output: "${{ {total: .steps.revenue.result.total} }}"
"#,
    )
    .unwrap();
    let entry = &c.servers[WORKFLOWS_SERVER];
    assert_eq!(entry.kind(), TransportKind::Workflows);
    let wf = &entry.workflows["report"];
    // `${VAR}` is expanded at load; `${{ }}` is left for each run.
    assert_eq!(wf.steps[0].args["period"], "${{ .inputs.period }}");
    assert_eq!(wf.steps[0].args["channel"], "exec");
    assert_eq!(
        wf.steps[1].args["text"],
        "Revenue ${{ .steps.revenue.result.total }} (exec)"
    );
    assert_eq!(
        wf.output.as_ref().unwrap(),
        "${{ {total: .steps.revenue.result.total} }}"
    );
    // The tool may run for the workflow's timeout, and a second more.
    assert_eq!(entry.tool_timeouts["report"].0.as_secs(), 121);
    assert_eq!(c.workflows["report"].dependencies(), vec![vec![], vec![0]]);
}

#[test]
fn each_load_time_problem_names_its_key_and_what_is_wrong() {
    let p = problems(
        r#"
servers:
  workflows: {command: x}
workflows:
  "bad name":
    steps: []
  graph:
    input_schema: {type: string}
    steps:
      - {id: a, tool: x__a, args: {v: "${{ .steps.c.result }}"}}
      - {id: b, tool: x__b, needs: [a, nosuch]}
      - {id: c, tool: x__c, args: {v: "${{ .steps.b.result }}"}}
      - {id: b, tool: x__d}
      - {id: "1x", tool: ""}
  cycle:
    steps:
      - {id: a, tool: x__a, args: {v: "${{ .steps.c.result }}"}}
      - {id: b, tool: x__b, needs: [a]}
      - {id: c, tool: x__c, args: {v: "${{ .steps.b.result }}"}}
  syntax:
    steps:
      - id: s
        tool: x__s
        args: {v: "${{ .inputs.a + }}", w: "${{ .inputs.b", u: "${{ nonesuch(1) }}"}
        if: "${{ .steps.s.result }}"
        retry: {attempts: 0, backoff: 0.5}
      - id: t
        tool: x__t
        args: "${{ .inputs }}"
        concurrency: 2
      - {id: u, tool: x__u, args: [1]}
      - {id: v, tool: x__v, args: {a: "${{ .steps.revnue.result }}"}}
      - {id: revenue, tool: x__r}
"#,
    );
    has(
        &p,
        "servers.workflows: the name `workflows` is taken by the workflows",
    );
    has(
        &p,
        "workflows.bad name: a workflow's name is its tool's name",
    );
    has(&p, "workflows.bad name.steps: is empty");
    has(&p, "workflows.graph.input_schema: must describe an object");
    has(
        &p,
        "workflows.graph.steps[1].needs: names the step `nosuch`",
    );
    has(
        &p,
        "workflows.graph.steps[3].id: `b` is the id of an earlier step too",
    );
    has(&p, "workflows.graph.steps[4].id: `1x` is not a step id");
    has(&p, "workflows.graph.steps[4].tool: is empty");
    has(
        &p,
        "workflows.cycle.steps: steps wait for each other in a cycle: a → c → b → a",
    );
    // jq syntax errors: the key, the expression and the position in the string.
    has(
        &p,
        "workflows.syntax.steps[0].args.v: jq expression `.inputs.a +` does not parse",
    );
    has(&p, "(position 15 of the string)");
    has(
        &p,
        "workflows.syntax.steps[0].args.w: `${{` is not closed by `}}`",
    );
    has(
        &p,
        "workflows.syntax.steps[0].args.u: jq expression `nonesuch(1)` uses what jq does not define",
    );
    has(
        &p,
        "workflows.syntax.steps[0].if: refers to its own step `s`",
    );
    has(&p, "workflows.syntax.steps[0].retry.attempts: is 0");
    has(
        &p,
        "workflows.syntax.steps[0].retry.backoff: must be at least 1.0",
    );
    has(
        &p,
        "workflows.syntax.steps[1].concurrency: applies only with `for_each`",
    );
    has(
        &p,
        "workflows.syntax.steps[2].args: must be an object, or one `${{ }}` expression",
    );
    has(
        &p,
        "workflows.syntax.steps[3].args.a: names the step `revnue`, which this workflow does not have (fix: did you mean `revenue`?)",
    );
}

#[test]
fn workflows_calling_each_other_in_a_cycle_are_refused_and_nesting_is_not() {
    let p = problems(
        "workflows:\n  a: {steps: [{id: s, tool: workflows__b}]}\n  b: {steps: [{id: s, tool: x__y, compensate: {tool: workflows__a}}]}\n",
    );
    has(
        &p,
        "workflows.a: workflows call each other in a cycle: a → b → a",
    );
    let p = problems("workflows:\n  a: {steps: [{id: s, tool: workflows__a}]}\n");
    has(&p, "cycle: a → a");
    parse("workflows:\n  a: {steps: [{id: s, tool: workflows__b}]}\n  b: {steps: [{id: s, tool: x__y}]}\n")
        .unwrap();
}

#[test]
fn unknown_keys_in_a_step_are_refused_by_the_schema() {
    let p =
        problems("workflows:\n  w:\n    steps:\n      - {id: a, tool: x__a, on_eror: continue}\n");
    has(&p, "on_eror");
}

#[test]
fn routes_are_served_unprefixed_and_their_problems_name_the_key() {
    let c = parse(
        "routes:\n  search_documents:\n    candidates:\n      - {tool: primary__search, priority: 10}\n      - {tool: archive__find, priority: 1, args: \"${{ {q: .query} }}\"}\n    strategy: adaptive\n    hedge_after: 300ms\n",
    )
    .unwrap();
    let entry = &c.servers[crate::ROUTES_SERVER];
    assert_eq!(entry.kind(), TransportKind::Routes);
    assert_eq!(entry.prefix.as_deref(), Some(""));
    let p = problems(
        r#"
servers:
  routes: {command: x}
routes:
  "a__b":
    candidates: [{tool: x__y}]
  empty:
    candidates: []
    hedge_after: 0s
  mapped:
    candidates:
      - {tool: x__y, args: "${{ {q: .query }}"}
      - {tool: mapped}
      - {tool: x__z, args: "q: ${{ .query }}"}
    circuit_breaker: {failures: 0}
    input_schema: {type: array}
"#,
    );
    has(
        &p,
        "servers.routes: the name `routes` is taken by the routes",
    );
    has(&p, "routes.a__b: the name contains the separator `__`");
    has(&p, "routes.empty.candidates: is empty");
    has(&p, "routes.empty.hedge_after: is 0");
    has(
        &p,
        "routes.mapped.candidates[0].args: `${{` is not closed by `}}`",
    );
    has(&p, "routes.mapped.candidates[1].tool: is the route itself");
    has(
        &p,
        "routes.mapped.candidates[2].args: must be one jq expression",
    );
    has(&p, "routes.mapped.circuit_breaker.failures: is 0");
    has(&p, "routes.mapped.input_schema: must describe an object");
    let p = problems("routes:\n  r:\n    candidates: [{tool: x__y}]\n    strategy: fastest\n");
    has(&p, "fastest");
}

#[test]
fn the_legacy_sse_transport_needs_paths_of_its_own() {
    let p = problems(
        "http:\n  legacy_sse: {enabled: true, path: /mcp, messages_path: msgs}\nviews:\n  a: {path: /sse, tools: ['x__*']}\n",
    );
    has(&p, "http.legacy_sse.path: `/mcp` is also http.path");
    has(&p, "http.legacy_sse.messages_path: must start with `/`");
    let p = problems(
        "http:\n  legacy_sse: {enabled: true}\nviews:\n  a: {path: /sse, tools: ['x__*']}\n",
    );
    has(&p, "views.a.path: `/sse` is also http.legacy_sse.path");
    let p = problems("http:\n  legacy_sse: {enabled: true, path: /s, messages_path: /s}\n");
    has(
        &p,
        "http.legacy_sse.messages_path: is the same as http.legacy_sse.path",
    );
    // Off, its paths are not served, so nothing clashes.
    assert!(parse("views:\n  a: {path: /sse, tools: ['x__*']}\n").is_ok());
}

#[test]
fn views_need_a_path_of_their_own_and_tools() {
    let p = problems(
        "views:\n  a: {path: /mcp, tools: ['x__*']}\n  b: {path: support, tools: []}\n  c: {path: /v, tools: ['']}\n  d: {path: /v, tools: ['y']}\n",
    );
    has(&p, "views.a.path: `/mcp` is also http.path");
    has(&p, "views.b.path: must start with `/`");
    has(&p, "views.b.tools: is empty");
    has(&p, "views.c.tools: holds an empty pattern");
    has(&p, "views.d.path: `/v` is also c");
}

#[test]
fn cluster_needs_a_redis_url_and_names_unknown_keys() {
    let c =
        parse("cluster: {url: \"redis://127.0.0.1:6379\", replica_id: a}\nservers: {}\n").unwrap();
    let cluster = c.cluster.unwrap();
    assert_eq!(cluster.replica_id.as_deref(), Some("a"));
    assert_eq!(cluster.key_prefix, "switchboard:cluster:");
    has(
        &problems("cluster: {url: \"http://127.0.0.1:6379\"}\nservers: {}\n"),
        "cluster.url: `http://127.0.0.1:6379` is not a redis:// URL",
    );
    has(
        &problems("cluster: {url: \"redis://x\", sticky: true}\nservers: {}\n"),
        "sticky",
    );
    has(
        &problems("cluster: {store: etcd, url: \"redis://x\"}\nservers: {}\n"),
        "etcd",
    );
}
