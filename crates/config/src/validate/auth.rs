//! Checks of `roles:` and `auth:`: rates that parse, roles that exist, JWT issuers with one
//! fitting key source, an OAuth resource that can check its tokens, some way in.

use indexmap::IndexMap;

use crate::{AuthConfig, JwtConfig, OAuthConfig, Problem, RoleConfig};

/// Every role's `rate_limit` and `tool_limits` are rates (`100/min`).
pub(super) fn check_role_rates(roles: &IndexMap<String, RoleConfig>) -> Vec<Problem> {
    let mut p = Vec::new();
    for (name, role) in roles {
        for (tool, rate) in &role.tool_limits {
            if let Err(e) = crate::parse_rate(rate) {
                p.push(
                    Problem::new(format!("roles.{name}.tool_limits.{tool}"), e)
                        .fix("write e.g. `10/min`"),
                );
            }
        }
        if let Some(rate) = &role.rate_limit
            && let Err(e) = crate::parse_rate(rate)
        {
            p.push(Problem::new(format!("roles.{name}.rate_limit"), e).fix("write e.g. `100/min`"));
        }
    }
    p
}

/// Without `auth`, configured roles are never given to anyone.
pub(super) fn check_roles_without_auth(roles: &IndexMap<String, RoleConfig>) -> Vec<Problem> {
    let mut p = Vec::new();
    if !roles.is_empty() {
        p.push(
            Problem::new(
                "roles",
                "roles are defined but `auth` is not, so nobody is given one",
            )
            .fix("add an `auth:` section (api_keys, jwt, anonymous_role)"),
        );
    }
    p
}

/// Admin permissions in `roles` (`admin:read`, `admin:*`) are well formed, and the role of
/// callers without a credential has none.
pub(super) fn check_admin_permissions(
    roles: &IndexMap<String, RoleConfig>,
    anonymous_role: Option<&str>,
) -> Vec<Problem> {
    let mut p = Vec::new();
    for (name, role) in roles {
        for (list, entries) in [("allow", &role.allow), ("deny", &role.deny)] {
            for (i, entry) in entries.iter().enumerate() {
                let Some(rest) = entry.trim().strip_prefix("admin:") else {
                    continue;
                };
                if rest != "read" && rest != "*" {
                    p.push(
                        Problem::new(
                            format!("roles.{name}.{list}[{i}]"),
                            format!("`{entry}` is not an admin permission"),
                        )
                        .fix("use `admin:read` (see the admin API) or `admin:*` (see and act)"),
                    );
                }
                if list == "allow" && Some(name.as_str()) == anonymous_role {
                    p.push(
                        Problem::new(
                            format!("roles.{name}.allow[{i}]"),
                            format!(
                                "`{name}` is auth.anonymous_role: anyone without a credential would get `{entry}`"
                            ),
                        )
                        .fix("grant admin permissions to roles given by API keys or JWTs only"),
                    );
                }
            }
        }
    }
    p
}

/// `auth`: the roles it hands out exist (`roles` are the roles in force), each JWT issuer and
/// the OAuth resource are usable, and some credential or an anonymous role lets requests in.
pub(super) fn check_auth(auth: &AuthConfig, roles: &IndexMap<String, RoleConfig>) -> Vec<Problem> {
    let mut p = Vec::new();
    for (key, role) in [
        ("auth.anonymous_role", &auth.anonymous_role),
        ("auth.stdio.role", &auth.stdio.role),
    ] {
        if let Some(r) = role {
            p.extend(check_role_defined(key, r, roles));
        }
    }
    for (i, j) in auth.jwt.iter().enumerate() {
        p.extend(check_jwt(i, j, roles));
    }
    if let Some(o) = &auth.oauth {
        p.extend(check_oauth(o, !auth.jwt.is_empty(), roles));
    }
    if auth.api_keys.is_none()
        && auth.jwt.is_empty()
        && auth.anonymous_role.is_none()
        && auth.oauth.is_none()
    {
        p.push(
            Problem::new("auth", "accepts no credential and has no anonymous role, so every request would be refused")
                .fix("add `api_keys`, `jwt` or `anonymous_role`"),
        );
    }
    p
}

/// A role named at `key` is one of `roles`.
fn check_role_defined(key: &str, role: &str, roles: &IndexMap<String, RoleConfig>) -> Vec<Problem> {
    let mut p = Vec::new();
    if !roles.contains_key(role) {
        let names = roles.keys().cloned().collect::<Vec<_>>().join(", ");
        p.push(
            Problem::new(key, format!("role `{role}` is not defined"))
                .fix(format!("use one of: {names}")),
        );
    }
    p
}

/// `auth.jwt[i]`: exactly one key source, an accepted algorithm that fits it, a long enough
/// secret, an audience, a defined default role.
fn check_jwt(i: usize, j: &JwtConfig, roles: &IndexMap<String, RoleConfig>) -> Vec<Problem> {
    let mut p = Vec::new();
    let at = |k: &str| format!("auth.jwt[{i}].{k}");
    let sources = [
        j.secret.is_some(),
        j.public_key.is_some(),
        j.public_key_file.is_some(),
        j.jwks_url.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources != 1 {
        p.push(
            Problem::new(format!("auth.jwt[{i}]"), "needs exactly one key source")
                .fix("set one of `secret`, `public_key`, `public_key_file`, `jwks_url`"),
        );
    }
    let alg = j.algorithm.to_ascii_uppercase();
    let hmac = alg.starts_with("HS");
    const ALGS: &[&str] = &[
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
        "ES384", "EDDSA",
    ];
    if !ALGS.contains(&alg.as_str()) {
        p.push(
            Problem::new(
                at("algorithm"),
                format!("`{}` is not accepted", j.algorithm),
            )
            .fix("use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA"),
        );
    } else if hmac != j.secret.is_some() && sources == 1 {
        p.push(
            Problem::new(
                at("algorithm"),
                format!("`{}` does not fit the key source", j.algorithm),
            )
            .fix("HS* algorithms take `secret`; the others a public key or `jwks_url`"),
        );
    }
    if let Some(s) = &j.secret
        && s.len() < 32
    {
        p.push(
            Problem::new(at("secret"), "is shorter than 32 bytes")
                .fix("use a long random secret from ${ENV}"),
        );
    }
    if j.audience.is_empty() {
        p.push(
            Problem::new(
                at("audience"),
                "is empty: tokens meant for other services would be accepted",
            )
            .fix("name this gateway's audience, e.g. its URL"),
        );
    }
    if let Some(r) = &j.default_role {
        p.extend(check_role_defined(&at("default_role"), r, roles));
    }
    p
}

/// `auth.oauth`: an http(s) resource URI, authorization servers to point clients to, a way to
/// check tokens (introspection, or a JWT issuer when `has_jwt`), a defined default role.
fn check_oauth(
    o: &OAuthConfig,
    has_jwt: bool,
    roles: &IndexMap<String, RoleConfig>,
) -> Vec<Problem> {
    let mut p = Vec::new();
    if !(o.resource.starts_with("http://") || o.resource.starts_with("https://")) {
        p.push(
            Problem::new(
                "auth.oauth.resource",
                format!("`{}` is not an http(s) URL", o.resource),
            )
            .fix("write this endpoint's public URL, e.g. https://mcp.example.com/mcp"),
        );
    }
    if o.authorization_servers.is_empty() {
        p.push(
            Problem::new(
                "auth.oauth.authorization_servers",
                "is empty: clients cannot learn where to get a token",
            )
            .fix("list your authorization server's issuer URL"),
        );
    }
    if o.introspection.is_none() && !has_jwt {
        p.push(
            Problem::new(
                "auth.oauth",
                "no way to check tokens: neither `introspection` nor a `jwt` issuer",
            )
            .fix("add `introspection` or a `jwt` entry for the authorization server"),
        );
    }
    if let Some(r) = &o.default_role {
        p.extend(check_role_defined("auth.oauth.default_role", r, roles));
    }
    p
}
