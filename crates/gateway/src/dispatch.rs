//! The dispatch seam: how code inside the gateway — a workflow step, a task worker, a backend
//! that composes tools — calls any catalogued tool (or any other MCP method) *as the caller it
//! works for*. A dispatched request is admitted like a client's (`request.rs`) and takes the
//! whole pipeline: authorize, rate limit, validate, cache, route, backend, and the audit
//! record and metrics around them. Nothing reaches an upstream around the policies.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;
use switchboard_policy::auth::Identity;
use switchboard_protocol::{ErrorObject, Id, Message, Request, methods, to_raw};
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::policies::Policies;
use crate::request::{Admission, RequestCtx, Transport};

/// Who a dispatched call acts for: the identity of the request that caused it, and the
/// generation of policies it was admitted with (so a workflow started before a reload is
/// judged as it began).
#[derive(Clone)]
pub struct Caller {
    pub identity: Arc<Identity>,
    pub policies: Arc<Policies>,
    pub transport: Transport,
    pub client_ip: Option<std::net::IpAddr>,
    pub trace: Option<crate::trace::TraceContext>,
    /// Where what an upstream says about a dispatched call goes (progress, logs, its
    /// elicitation and sampling requests): the client the caller's own call came from.
    pub relay: Option<Arc<dyn switchboard_upstream::Relay>>,
    /// What makes the calls (`workflow:<name>/<run>/<step>`): the audit record's transport.
    pub via: Option<Arc<str>>,
    /// The durable task the caller's call is a run of: a workflow run checkpoints under it
    /// and resumes from it after a restart. Never set from what a client sends.
    pub task: Option<Arc<str>>,
}

impl Caller {
    /// The caller of a request in flight.
    pub fn of(ctx: &RequestCtx) -> Self {
        Self {
            identity: ctx.identity.clone(),
            policies: ctx.policies.clone(),
            transport: ctx.transport,
            client_ip: ctx.client_ip,
            trace: ctx.trace.clone(),
            relay: None,
            via: None,
            task: ctx.task.clone(),
        }
    }

    /// Whether the caller may call the catalogued tool `name`: `Err` with exactly the error a
    /// call would get when the catalogue does not have it or the caller's role denies it.
    pub fn may_call(&self, gateway: &Gateway, name: &str) -> Result<(), ErrorObject> {
        let entry = gateway.catalog.tool(name);
        let target = switchboard_policy::Target::Tool(name.to_owned());
        let original = entry.as_ref().map(|t| t.route.original.as_str());
        switchboard_policy::stages::authorize(&self.identity, &target, original)?;
        match entry {
            Some(_) => Ok(()),
            None => Err(switchboard_policy::stages::unknown("tool", name)),
        }
    }
}

/// The gateway, for backends built before it exists (a factory is handed to
/// `Gateway::start_with`): the binary fills it once the gateway is up; a backend holding it
/// reaches the dispatch seam through it. Holds no strong reference (no cycle).
#[derive(Clone, Default)]
pub struct DispatchSlot(Arc<OnceLock<Weak<Gateway>>>);

impl DispatchSlot {
    pub fn new() -> Self {
        Self::default()
    }

    /// Point the slot at `gateway` (once; later calls change nothing).
    pub fn fill(&self, gateway: &Arc<Gateway>) {
        let _ = self.0.set(Arc::downgrade(gateway));
    }

    /// The gateway, while it runs.
    pub fn gateway(&self) -> Option<Arc<Gateway>> {
        self.0.get().and_then(Weak::upgrade)
    }
}

/// Calls through the full pipeline on behalf of a [`Caller`].
pub trait Dispatch: Send + Sync {
    /// Any request (`tools/list`, `resources/read`, …); its result or its JSON-RPC error.
    fn request<'a>(
        &'a self,
        caller: &'a Caller,
        method: &'a str,
        params: Option<Box<RawValue>>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Box<RawValue>, ErrorObject>>;

    /// `tools/call` of the catalogued tool `name` (its exposed name) with `arguments`.
    fn call_tool<'a>(
        &'a self,
        caller: &'a Caller,
        name: &'a str,
        arguments: serde_json::Value,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Box<RawValue>, ErrorObject>> {
        let params = to_raw(&serde_json::json!({"name": name, "arguments": arguments}));
        self.request(caller, methods::TOOLS_CALL, Some(params), cancel)
    }
}

/// Ids of dispatched requests: negative, so they never look like a client's in the audit
/// trail or the logs.
static NEXT_ID: AtomicI64 = AtomicI64::new(-1);

impl Dispatch for Arc<Gateway> {
    fn request<'a>(
        &'a self,
        caller: &'a Caller,
        method: &'a str,
        params: Option<Box<RawValue>>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Box<RawValue>, ErrorObject>> {
        Box::pin(async move {
            let req = Request {
                id: Id::Num(NEXT_ID.fetch_sub(1, Ordering::Relaxed)),
                method: method.to_owned(),
                params,
            };
            let admission = Admission {
                transport: caller.transport,
                session: None,
                tracked_by: None,
                out: None,
                modern: None,
                identity: caller.identity.clone(),
                policies: caller.policies.clone(),
                client_ip: caller.client_ip,
                trace: caller.trace.clone(),
            };
            let (token, run) =
                self.admit_detached(admission, req, caller.relay.clone(), caller.via.clone());
            tokio::pin!(run);
            // The dispatcher's cancellation cancels the dispatched call (and its upstream
            // call); the pipeline then answers it, and that answer is recorded as usual.
            let answer = tokio::select! {
                biased;
                answer = &mut run => answer,
                _ = cancel.cancelled() => {
                    token.cancel();
                    run.await
                }
            };
            match answer {
                Message::Response(r) => r.result,
                _ => Err(ErrorObject::internal(
                    "a dispatched request got no response",
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests;
