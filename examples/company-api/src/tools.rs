//! The three tools of the company API, declared with rmcp's tool macros.

use rmcp::{
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock},
    tool, tool_router,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    data::ProjectStatus,
    search::{self, Filters},
    server::CompanyApi,
};

/// Arguments of `get_employee_info`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetEmployeeInfo {
    /// Employee id, e.g. "E001".
    pub employee_id: String,
}

/// Arguments of `update_project_status`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectStatus {
    /// Project id, e.g. "P001".
    pub project_id: String,
    /// The new status.
    pub status: ProjectStatus,
}

/// Restrictions for `search_documents`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct SearchFilters {
    /// Only documents of this department (case-insensitive), e.g. "Engineering".
    pub department: Option<String>,
    /// Only documents about this project, e.g. "P002".
    pub project_id: Option<String>,
}

/// Arguments of `search_documents`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchDocuments {
    /// Words or a phrase to find in document titles and bodies (case-insensitive).
    /// An empty query lists every document that passes the filters.
    pub query: String,
    /// Optional filters.
    #[serde(default)]
    pub filters: Option<SearchFilters>,
}

fn not_found(kind: &str, id: &str, known: impl Iterator<Item = String>) -> CallToolResult {
    let known: Vec<String> = known.collect();
    CallToolResult::error(vec![ContentBlock::text(format!(
        "Unknown {kind} '{id}'. Known {kind} ids: {}.",
        known.join(", ")
    ))])
}

#[tool_router(vis = "pub(crate)")]
impl CompanyApi {
    /// Look up an employee: name, email, department, role and current projects.
    #[tool(
        name = "get_employee_info",
        annotations(
            title = "Get employee info",
            read_only_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_employee_info(
        &self,
        Parameters(args): Parameters<GetEmployeeInfo>,
    ) -> CallToolResult {
        let company = self.company();
        let Some(employee) = company.employee(args.employee_id.trim()) else {
            return not_found(
                "employee",
                &args.employee_id,
                company.employees.iter().map(|e| e.id.clone()),
            );
        };
        let statuses = self.statuses();
        let projects: Vec<_> = employee
            .projects
            .iter()
            .filter_map(|id| company.project(id))
            .map(|p| {
                let status = statuses.get(&p.id).copied().unwrap_or(p.status);
                (p, status)
            })
            .collect();
        let current: Vec<_> = projects
            .iter()
            .filter(|(_, status)| *status != ProjectStatus::Completed)
            .map(|(p, status)| json!({ "id": p.id, "name": p.name, "status": status }))
            .collect();
        let past: Vec<_> = projects
            .iter()
            .filter(|(_, status)| *status == ProjectStatus::Completed)
            .map(|(p, _)| json!({ "id": p.id, "name": p.name }))
            .collect();
        CallToolResult::structured(json!({
            "id": employee.id,
            "name": employee.name,
            "email": employee.email,
            "department": employee.department,
            "role": employee.role,
            "current_projects": current,
            "completed_projects": past,
        }))
    }

    /// Set a project's status (planned, active, blocked, completed). The change
    /// lasts for the life of the server process. Returns the old and new status.
    #[tool(
        name = "update_project_status",
        annotations(
            title = "Update project status",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn update_project_status(
        &self,
        Parameters(args): Parameters<UpdateProjectStatus>,
    ) -> CallToolResult {
        let company = self.company();
        let Some(project) = company.project(args.project_id.trim()) else {
            return not_found(
                "project",
                &args.project_id,
                company.projects.iter().map(|p| p.id.clone()),
            );
        };
        let old = self.set_status(&project.id, project.status, args.status);
        tracing::info!(project = %project.id, %old, new = %args.status, "project status updated");
        CallToolResult::structured(json!({
            "project_id": project.id,
            "name": project.name,
            "old_status": old,
            "new_status": args.status,
            "changed": old != args.status,
        }))
    }

    /// Search internal documents by keywords or phrase over title and body
    /// (case-insensitive), optionally filtered by department and project.
    #[tool(
        name = "search_documents",
        annotations(
            title = "Search documents",
            read_only_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn search_documents(
        &self,
        Parameters(args): Parameters<SearchDocuments>,
    ) -> CallToolResult {
        let company = self.company();
        let filters = args.filters.unwrap_or_default();
        let project_id = filters.project_id.as_deref().map(str::trim);
        if let Some(project) = project_id
            && company.project(project).is_none()
        {
            return not_found(
                "project",
                project,
                company.projects.iter().map(|p| p.id.clone()),
            );
        }
        let filters = Filters {
            department: filters.department.as_deref().map(str::trim),
            project_id,
        };
        let hits = search::search(company, &args.query, &filters);
        CallToolResult::structured(json!({
            "query": args.query,
            "count": hits.len(),
            "documents": hits,
        }))
    }
}
