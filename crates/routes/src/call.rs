//! One call of a route: candidates in the route's order, each called through the dispatch seam
//! as the caller (audited with transport `route:<name>`), skipping those the caller may not
//! use and those whose breaker is open; a failure moves on to the next candidate when the
//! route's `fallback_on` names it and a second call is harmless (see [`Route::falls_back`]).
//! With `hedge_after`, a read-only idempotent candidate that has not answered in time gets the
//! next candidate asked too, and the first answer wins (the other is cancelled).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use serde_json::value::RawValue;
use switchboard_config::FailureKind;
use switchboard_gateway::dispatch::{Caller, Dispatch};
use switchboard_gateway::gateway::Gateway;
use switchboard_protocol::{ErrorObject, codes};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::health::{Admit, Breaker};
use crate::route::Route;

/// How one candidate's call ended.
enum Outcome {
    /// An answer to pass on (an `isError` result the route does not fall back on included).
    Answer(Box<RawValue>),
    /// A failure of the candidate's kind, and what to answer if nothing better comes.
    Failure(FailureKind, Result<Box<RawValue>, ErrorObject>),
    /// Refused for the caller's reasons (arguments, rate limit, cancellation): answered as is.
    Refused(ErrorObject),
}

/// Call `route` with `args` for `caller`.
pub async fn call(
    route: &Route,
    gw: &Arc<Gateway>,
    caller: &Caller,
    args: &Value,
    cancel: &CancellationToken,
) -> Result<Box<RawValue>, ErrorObject> {
    let mut caller = caller.clone();
    caller.via = Some(format!("route:{}", route.name).into());
    // Candidates the caller may not use, or the catalogue does not list now, are left out.
    let mut queue: VecDeque<usize> = route
        .order()
        .into_iter()
        .filter(|&i| caller.may_call(gw, &route.candidates[i].tool).is_ok())
        .collect();
    if queue.is_empty() {
        return Err(ErrorObject::invalid_params(format!(
            "Unknown tool: {}",
            route.name
        )));
    }
    let mut tried: Vec<String> = Vec::new();
    let mut last: Option<Result<Box<RawValue>, ErrorObject>> = None;
    while let Some(i) = queue.pop_front() {
        let tool = route.candidates[i].tool.clone();
        if route.admit(i) == Admit::No {
            tried.push(format!("{tool}: breaker open"));
            count(route, &tool, "skipped");
            continue;
        }
        let idempotent = route
            .idempotent
            .unwrap_or_else(|| read_only_idempotent(gw, &tool));
        // A hedge partner: the next candidate whose breaker is closed, for a tool safe to ask
        // twice.
        let partner = route
            .hedge_after
            .filter(|_| read_only_idempotent(gw, &tool))
            .and_then(|after| {
                let j = queue
                    .iter()
                    .copied()
                    .find(|&j| route.candidates[j].health.lock().is_closed())?;
                Some((after, j))
            });
        let (outcome, who) = match partner {
            None => (one(route, gw, &caller, i, args, cancel).await, i),
            Some((after, j)) => {
                let (outcome, who, asked) =
                    hedged(route, gw, &caller, (i, j), after, args, cancel).await;
                if asked {
                    queue.retain(|&x| x != j);
                }
                (outcome, who)
            }
        };
        match outcome {
            Outcome::Answer(raw) => return Ok(raw),
            Outcome::Refused(e) => return Err(e),
            Outcome::Failure(kind, result) => {
                let from = &route.candidates[who].tool;
                tried.push(format!("{from}: {}", kind_name(kind)));
                if !route.falls_back(kind, idempotent) || queue.is_empty() {
                    return conclude(route, result, &tried);
                }
                metrics::counter!("switchboard_route_fallbacks_total",
                    "route" => route.name.to_string(), "from" => from.to_string(), "reason" => kind_name(kind))
                .increment(1);
                tracing::info!(route = %route.name, from = %from, reason = kind_name(kind), "route falls back to its next candidate");
                last = Some(result);
            }
        }
    }
    match last {
        Some(result) => conclude(route, result, &tried),
        None => Err(ErrorObject::new(
            codes::UPSTREAM_UNAVAILABLE,
            format!(
                "route `{}`: no candidate can take the call now ({})",
                route.name,
                tried.join("; ")
            ),
        )),
    }
}

/// Ask `first`; if it has not answered after `after`, ask `second` too. The first answer (or,
/// if both fail, the second's failure) with who gave it, and whether `second` was asked.
async fn hedged(
    route: &Route,
    gw: &Arc<Gateway>,
    caller: &Caller,
    (first, second): (usize, usize),
    after: Duration,
    args: &Value,
    cancel: &CancellationToken,
) -> (Outcome, usize, bool) {
    let a_cancel = cancel.child_token();
    let a = one(route, gw, caller, first, args, &a_cancel);
    tokio::pin!(a);
    tokio::select! {
        outcome = &mut a => return (outcome, first, false),
        _ = tokio::time::sleep(after) => {}
    }
    metrics::counter!("switchboard_route_hedges_total", "route" => route.name.to_string())
        .increment(1);
    tracing::debug!(route = %route.name, slow = %route.candidates[first].tool, "hedging with the next candidate");
    let b_cancel = cancel.child_token();
    let b = one(route, gw, caller, second, args, &b_cancel);
    tokio::pin!(b);
    tokio::select! {
        outcome = &mut a => match outcome {
            Outcome::Failure(..) => (b.await, second, true),
            done => { b_cancel.cancel(); let _ = b.await; (done, first, true) }
        },
        outcome = &mut b => match outcome {
            Outcome::Failure(..) => (a.await, first, true),
            done => { a_cancel.cancel(); let _ = a.await; (done, second, true) }
        },
    }
}

/// One call of candidate `i`, its health and metrics updated.
async fn one(
    route: &Route,
    gw: &Arc<Gateway>,
    caller: &Caller,
    i: usize,
    args: &Value,
    cancel: &CancellationToken,
) -> Outcome {
    let cand = &route.candidates[i];
    let args = match &cand.mapping {
        None => args.clone(),
        Some(jq) => match jq.eval_one(args) {
            Ok(v) if v.is_object() => v,
            Ok(v) => {
                return refused_mapping(route, cand, format!("gave {v}, not an object"));
            }
            Err(e) => return refused_mapping(route, cand, e),
        },
    };
    let started = Instant::now();
    // A span per candidate call in the exported traces: which candidate, and how it ended.
    let span = tracing::info_span!(target: switchboard_gateway::trace::OTEL_TARGET, "route.candidate",
        route = %route.name, candidate = %cand.tool, outcome = tracing::field::Empty);
    let answer = gw
        .call_tool(caller, &cand.tool, args, cancel.child_token())
        .instrument(span.clone())
        .await;
    let took = started.elapsed();
    let outcome = classify(answer);
    let label = match &outcome {
        Outcome::Answer(_) => "ok",
        Outcome::Failure(k, _) => kind_name(*k),
        Outcome::Refused(_) => "refused",
    };
    span.record("outcome", label);
    count(route, &cand.tool, label);
    let mut h = cand.health.lock();
    match &outcome {
        Outcome::Answer(_) | Outcome::Failure(FailureKind::Error, _) => h.succeeded(took),
        Outcome::Failure(_, _) => {
            if h.failed(Instant::now(), route.breaker.as_ref()) {
                tracing::warn!(route = %route.name, candidate = %cand.tool, "circuit breaker opened");
            }
        }
        Outcome::Refused(_) => h.probe_abandoned(),
    }
    match h.breaker {
        Breaker::Open { until } => gw.breakers.opened(&route.name, &cand.tool, until),
        Breaker::Closed | Breaker::Probing => gw.breakers.closed(&route.name, &cand.tool),
    }
    metrics::gauge!("switchboard_route_breaker", "route" => route.name.to_string(), "candidate" => cand.tool.to_string())
        .set(h.breaker_gauge());
    outcome
}

fn refused_mapping(route: &Route, cand: &crate::route::Candidate, why: String) -> Outcome {
    // The mapping fails before any call: the candidate did not run, so another may.
    Outcome::Failure(
        FailureKind::Unavailable,
        Err(ErrorObject::invalid_params(format!(
            "route `{}`: the arguments for `{}` cannot be made: {why}",
            route.name, cand.tool
        ))),
    )
}

fn classify(answer: Result<Box<RawValue>, ErrorObject>) -> Outcome {
    match answer {
        Ok(raw) => {
            let is_error = serde_json::from_str::<Value>(raw.get())
                .ok()
                .and_then(|v| v.get("isError").and_then(Value::as_bool))
                == Some(true);
            if is_error {
                Outcome::Failure(FailureKind::Error, Ok(raw))
            } else {
                Outcome::Answer(raw)
            }
        }
        Err(e) => match e.code {
            codes::UPSTREAM_UNAVAILABLE | codes::UPSTREAM_BUSY => {
                Outcome::Failure(FailureKind::Unavailable, Err(e))
            }
            codes::UPSTREAM_TIMEOUT => Outcome::Failure(FailureKind::Timeout, Err(e)),
            codes::UPSTREAM_FAILED => Outcome::Failure(FailureKind::Failed, Err(e)),
            _ => Outcome::Refused(e),
        },
    }
}

/// The last failure, saying which candidates were tried.
fn conclude(
    route: &Route,
    result: Result<Box<RawValue>, ErrorObject>,
    tried: &[String],
) -> Result<Box<RawValue>, ErrorObject> {
    match result {
        Ok(raw) => Ok(raw),
        Err(mut e) => {
            if tried.len() > 1 {
                e.message = format!(
                    "{} (route `{}` tried {})",
                    e.message,
                    route.name,
                    tried.join(", ")
                );
            }
            Err(e)
        }
    }
}

fn read_only_idempotent(gw: &Gateway, tool: &str) -> bool {
    gw.catalog
        .tool(tool)
        .is_some_and(|t| t.read_only_idempotent)
}

fn kind_name(k: FailureKind) -> &'static str {
    match k {
        FailureKind::Unavailable => "unavailable",
        FailureKind::Timeout => "timeout",
        FailureKind::Failed => "failed",
        FailureKind::Error => "error",
    }
}

fn count(route: &Route, tool: &str, outcome: &'static str) {
    metrics::counter!("switchboard_route_calls_total",
        "route" => route.name.to_string(), "candidate" => tool.to_owned(), "outcome" => outcome)
    .increment(1);
}
