//! The admin API's API keys (`/admin/api/keys`): list them (never their secrets or hashes),
//! create one (`admin:*`; the key is in the answer, once), revoke one (`admin:*`). They live in
//! the file `auth.api_keys.file` names, which the gateway watches: a revoked key is refused at
//! `/mcp` within a second. Changes here are serialised in this process and written atomically
//! (`KeyFile::save`); the `switchboard keys` command edits the same file.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use switchboard_gateway::admin_view::AdminView;
use switchboard_policy::auth::keys::KeyFile;
use switchboard_policy::roles::AdminAccess;

use super::api::{admit, refuse};
use super::json;

/// One change to the key file at a time in this process.
static EDITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The key file, if API keys are configured.
fn key_file(view: &AdminView) -> Option<std::path::PathBuf> {
    let policies = view.policies();
    policies
        .config
        .auth
        .as_ref()
        .and_then(|a| a.api_keys.as_ref())
        .map(|k| std::path::PathBuf::from(&k.file))
}

fn no_key_file() -> Response {
    refuse(
        StatusCode::CONFLICT,
        "API keys are not configured: add `auth.api_keys.file`",
    )
}

fn listed(file: &KeyFile) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = file
        .keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "id": k.id, "name": k.name, "role": k.role,
                "created": k.created, "revoked": k.revoked,
            })
        })
        .collect();
    serde_json::json!({ "keys": keys })
}

pub(crate) async fn list(State(view): State<AdminView>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&view, &headers, AdminAccess::Read, "admin/keys.list").await {
        return r;
    }
    let Some(path) = key_file(&view) else {
        return no_key_file();
    };
    match KeyFile::load(&path) {
        Ok(file) => json(StatusCode::OK, &listed(&file)),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    name: String,
    role: String,
}

pub(crate) async fn create(
    State(view): State<AdminView>,
    headers: HeaderMap,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Response {
    let admin = match admit(&view, &headers, AdminAccess::Full, "admin/keys.create").await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = async {
        let Json(new) = body.map_err(|e| {
            refuse(
                e.status(),
                format!(
                    "the body must be {{\"name\": …, \"role\": …}}: {}",
                    e.body_text()
                ),
            )
        })?;
        let name = new.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`name` must be 1 to 64 characters",
            ));
        }
        let roles = view.policies().config.effective_roles();
        if !roles.contains_key(&new.role) {
            let known: Vec<&str> = roles.keys().map(String::as_str).collect();
            return Err(refuse(
                StatusCode::CONFLICT,
                format!(
                    "role `{}` is not defined; use one of: {}",
                    new.role,
                    known.join(", ")
                ),
            ));
        }
        let path = key_file(&view).ok_or_else(no_key_file)?;
        let _editing = EDITING.lock().await;
        let mut file = KeyFile::load(&path)
            .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        if file
            .keys
            .iter()
            .any(|k| k.name == name && k.revoked.is_none())
        {
            return Err(refuse(
                StatusCode::CONFLICT,
                format!("a key named `{name}` exists; revoke it first or pick another name"),
            ));
        }
        let key = file.create(name, &new.role);
        file.save(&path)
            .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let id = file.keys.last().map(|k| k.id.clone()).unwrap_or_default();
        Ok(serde_json::json!({"id": id, "name": name, "role": new.role, "key": key}))
    }
    .await;
    match outcome {
        Ok(created) => {
            view.audit_action(Some(&admin.identity), "admin/keys.create", "ok");
            json(StatusCode::CREATED, &created)
        }
        Err(r) => {
            view.audit_action(Some(&admin.identity), "admin/keys.create", "error");
            r
        }
    }
}

pub(crate) async fn revoke(
    State(view): State<AdminView>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let admin = match admit(&view, &headers, AdminAccess::Full, "admin/keys.revoke").await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let outcome = async {
        let path = key_file(&view).ok_or_else(no_key_file)?;
        let _editing = EDITING.lock().await;
        let mut file = KeyFile::load(&path)
            .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let rec = file
            .revoke(&id)
            .map_err(|e| refuse(StatusCode::NOT_FOUND, e.to_string()))?
            .clone();
        file.save(&path)
            .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(serde_json::json!({"revoked": {
            "id": rec.id, "name": rec.name, "role": rec.role,
            "created": rec.created, "revoked": rec.revoked,
        }}))
    }
    .await;
    match outcome {
        Ok(body) => {
            view.audit_action(Some(&admin.identity), "admin/keys.revoke", "ok");
            json(StatusCode::OK, &body)
        }
        Err(r) => {
            view.audit_action(Some(&admin.identity), "admin/keys.revoke", "error");
            r
        }
    }
}
