//! The MCP handler: tools (via the tool router), document resources, the
//! `weekly_status_report` prompt and argument completion.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard},
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{
        CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams,
        GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, Prompt,
        PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, Reference, Resource, ResourceContents, ResourceTemplate, Role,
        ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool_handler,
};
use serde_json::json;

use crate::data::{Company, DOCUMENT_URI_PREFIX, ProjectStatus};

/// Shared by every session: the data set and the live project statuses.
#[derive(Clone)]
pub struct CompanyApi {
    company: Arc<Company>,
    statuses: Arc<RwLock<HashMap<String, ProjectStatus>>>,
    tool_router: ToolRouter<Self>,
}

const PROMPT: &str = "weekly_status_report";

impl CompanyApi {
    pub fn new(company: Company) -> Self {
        Self {
            company: Arc::new(company),
            statuses: Arc::default(),
            tool_router: Self::tool_router(),
        }
    }

    pub(crate) fn company(&self) -> &Company {
        &self.company
    }

    /// Statuses changed since start (absent: the data file's status).
    pub(crate) fn statuses(&self) -> RwLockReadGuard<'_, HashMap<String, ProjectStatus>> {
        self.statuses.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Set `project`'s status, returning the previous one.
    pub(crate) fn set_status(
        &self,
        project: &str,
        initial: ProjectStatus,
        status: ProjectStatus,
    ) -> ProjectStatus {
        let mut statuses = self
            .statuses
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        statuses
            .insert(project.to_owned(), status)
            .unwrap_or(initial)
    }

    fn status_of(&self, project: &str, initial: ProjectStatus) -> ProjectStatus {
        self.statuses().get(project).copied().unwrap_or(initial)
    }

    fn weekly_status_report(&self, project_id: &str) -> Result<GetPromptResult, ErrorData> {
        let company = self.company();
        let Some(project) = company.project(project_id.trim()) else {
            let known: Vec<&str> = company.projects.iter().map(|p| p.id.as_str()).collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "Unknown project '{project_id}'. Known project ids: {}.",
                    known.join(", ")
                ),
                Some(json!({ "project_id": project_id })),
            ));
        };
        let status = self.status_of(&project.id, project.status);
        let lead = company
            .employee(&project.lead)
            .map_or("unknown", |e| e.name.as_str());
        let team: Vec<String> = company
            .members(&project.id)
            .map(|e| format!("- {} ({}, {})", e.name, e.role, e.department))
            .collect();
        let docs: Vec<String> = company
            .documents
            .iter()
            .filter(|d| d.project_id.as_deref() == Some(project.id.as_str()))
            .map(|d| format!("- {} (updated {}, {})", d.title, d.updated, d.uri()))
            .collect();
        let text = format!(
            "Write this week's status report for project {id} \"{name}\".\n\n\
             Project: {description}\nDepartment: {department}\nLead: {lead}\nCurrent status: {status}\n\n\
             Team:\n{team}\n\nRelated documents:\n{docs}\n\n\
             Structure the report as: 1) summary in two sentences, 2) progress this week, \
             3) risks and blockers{blocked}, 4) plan for next week, 5) decisions needed. \
             Use search_documents and the document resources for details; keep it under 300 words.",
            id = project.id,
            name = project.name,
            description = project.description,
            department = project.department,
            team = team.join("\n"),
            docs = if docs.is_empty() {
                "- none".to_owned()
            } else {
                docs.join("\n")
            },
            blocked = if status == ProjectStatus::Blocked {
                " (the project is BLOCKED: explain why and what unblocks it)"
            } else {
                ""
            },
        );
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(format!("Weekly status report for {}", project.name)),
        )
    }

    fn completions(&self, reference: &Reference, argument: &str, value: &str) -> Vec<String> {
        let company = self.company();
        let prefix = value.to_lowercase();
        let ids: Vec<&str> = match reference {
            Reference::Prompt(p) if p.name == PROMPT && argument == "project_id" => {
                company.projects.iter().map(|p| p.id.as_str()).collect()
            }
            Reference::Resource(t) if t.uri == document_template() && argument == "id" => {
                company.documents.iter().map(|d| d.id.as_str()).collect()
            }
            _ => Vec::new(),
        };
        ids.into_iter()
            .filter(|id| id.to_lowercase().starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    }
}

fn document_template() -> String {
    format!("{DOCUMENT_URI_PREFIX}{{id}}")
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for CompanyApi {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .enable_completions()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("company-api", env!("CARGO_PKG_VERSION"))
                    .with_title(format!("{} internal API", self.company.company)),
            )
            .with_instructions(
                "Company internal API: look up employees (get_employee_info), change project \
                 status (update_project_status) and search internal documents \
                 (search_documents). Documents are also resources at company://documents/{id}.",
            )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = self
            .company()
            .documents
            .iter()
            .map(|d| {
                Resource::new(d.uri(), d.id.clone())
                    .with_title(d.title.clone())
                    .with_description(format!("{} document, updated {}", d.department, d.updated))
                    .with_mime_type("text/markdown")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(document_template(), "document")
                .with_title("Internal document")
                .with_description("An internal document by id, e.g. company://documents/D001")
                .with_mime_type("text/markdown"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let company = self.company();
        let document = request
            .uri
            .strip_prefix(DOCUMENT_URI_PREFIX)
            .and_then(|id| company.document(id));
        match document {
            Some(d) => Ok(ReadResourceResult::new(vec![
                ResourceContents::text(d.markdown(company), request.uri.clone())
                    .with_mime_type("text/markdown"),
            ])
            .into()),
            None => Err(ErrorData::resource_not_found(
                format!("No document at {}", request.uri),
                Some(json!({ "uri": request.uri })),
            )),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let prompt = Prompt::new(
            PROMPT,
            Some("Draft a weekly status report for a project from its team, status and documents"),
            Some(vec![
                PromptArgument::new("project_id")
                    .with_description("Project id, e.g. P001")
                    .with_required(true),
            ]),
        )
        .with_title("Weekly status report");
        Ok(ListPromptsResult::with_all_items(vec![prompt]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != PROMPT {
            return Err(ErrorData::invalid_params(
                format!("Unknown prompt: {}", request.name),
                Some(json!({ "name": request.name })),
            ));
        }
        let project_id = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("project_id"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                ErrorData::invalid_params("missing required argument: project_id", None)
            })?;
        self.weekly_status_report(project_id).map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let values = self.completions(
            &request.r#ref,
            &request.argument.name,
            &request.argument.value,
        );
        let completion = CompletionInfo::with_all_values(values)
            .map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(CompleteResult::new(completion))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::BUNDLED;

    fn api() -> CompanyApi {
        CompanyApi::new(Company::parse(BUNDLED).unwrap_or_else(|e| panic!("{e:#}")))
    }

    #[test]
    fn status_changes_return_the_previous_status() {
        let api = api();
        assert_eq!(
            api.set_status("P003", ProjectStatus::Planned, ProjectStatus::Active),
            ProjectStatus::Planned
        );
        assert_eq!(
            api.set_status("P003", ProjectStatus::Planned, ProjectStatus::Blocked),
            ProjectStatus::Active
        );
        // Clones (other sessions) see the same state.
        let other = api.clone();
        assert_eq!(
            other.status_of("P003", ProjectStatus::Planned),
            ProjectStatus::Blocked
        );
    }

    #[test]
    fn prompt_mentions_team_and_documents() {
        let result = api()
            .weekly_status_report("p002")
            .map(|r| serde_json::to_string(&r.messages).unwrap_or_default());
        let text = result.unwrap_or_default();
        assert!(text.contains("Aisha Okafor"), "{text}");
        assert!(text.contains("company://documents/D004"), "{text}");
        assert!(api().weekly_status_report("P404").is_err());
    }

    #[test]
    fn tools_have_schemas_and_annotations() {
        let tools = api().tool_router.list_all();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for tool in &tools {
            let annotations = tool.annotations.clone().unwrap_or_default();
            let read_only = tool.name != "update_project_status";
            assert_eq!(annotations.read_only_hint, Some(read_only), "{}", tool.name);
            assert_eq!(annotations.idempotent_hint, Some(true), "{}", tool.name);
        }
        let update = tools.iter().find(|t| t.name == "update_project_status");
        let schema = update.map(|t| serde_json::Value::Object((*t.input_schema).clone()));
        let schema = schema.unwrap_or_default();
        assert_eq!(
            schema["properties"]["status"]["enum"],
            json!(["planned", "active", "blocked", "completed"]),
            "{schema}"
        );
        assert_eq!(schema["required"], json!(["project_id", "status"]));
    }
}
