//! The company data set (employees, projects, documents) and its loading.
//!
//! The bundled `data/company.json` is compiled into the binary; `--data FILE`
//! loads another file with the same shape. Project statuses are the only
//! mutable state and live in memory for the life of the process.

use std::{collections::HashMap, fmt, path::Path};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The data set compiled into the binary.
pub const BUNDLED: &str = include_str!("../data/company.json");

/// Lifecycle status of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum ProjectStatus {
    Planned,
    Active,
    Blocked,
    Completed,
}

impl fmt::Display for ProjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Planned => "planned",
            Self::Active => "active",
            Self::Blocked => "blocked",
            Self::Completed => "completed",
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Employee {
    pub id: String,
    pub name: String,
    pub email: String,
    pub department: String,
    pub role: String,
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub department: String,
    pub lead: String,
    pub status: ProjectStatus,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub department: String,
    pub project_id: Option<String>,
    pub author: String,
    pub updated: String,
    pub body: String,
}

impl Document {
    /// The document's resource URI.
    pub fn uri(&self) -> String {
        format!("{DOCUMENT_URI_PREFIX}{}", self.id)
    }

    /// The document rendered as Markdown (what `resources/read` returns).
    pub fn markdown(&self, company: &Company) -> String {
        let author = company
            .employee(&self.author)
            .map_or(self.author.as_str(), |e| e.name.as_str());
        let project = self
            .project_id
            .as_deref()
            .and_then(|id| company.project(id))
            .map_or_else(|| "none".to_owned(), |p| format!("{} ({})", p.name, p.id));
        format!(
            "# {}\n\n- Department: {}\n- Project: {}\n- Author: {}\n- Updated: {}\n\n{}\n",
            self.title, self.department, project, author, self.updated, self.body
        )
    }
}

/// URI prefix of document resources; the template is `company://documents/{id}`.
pub const DOCUMENT_URI_PREFIX: &str = "company://documents/";

/// The whole, read-only data set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Company {
    pub company: String,
    pub employees: Vec<Employee>,
    pub projects: Vec<Project>,
    pub documents: Vec<Document>,
}

impl Company {
    /// Parse and check a data set: ids unique, references resolvable.
    pub fn parse(json: &str) -> anyhow::Result<Self> {
        let company: Company = serde_json::from_str(json)?;
        company.validate()?;
        Ok(company)
    }

    /// The bundled data set, or `path` when given.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => Self::parse(BUNDLED).context("bundled data/company.json is invalid"),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Self::parse(&text)
                    .with_context(|| format!("{} is not valid company data", path.display()))
            }
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        let mut seen = HashMap::new();
        let ids = self
            .employees
            .iter()
            .map(|e| &e.id)
            .chain(self.projects.iter().map(|p| &p.id))
            .chain(self.documents.iter().map(|d| &d.id));
        for id in ids {
            if seen.insert(id.as_str(), ()).is_some() {
                bail!("duplicate id {id}");
            }
        }
        for employee in &self.employees {
            for project in &employee.projects {
                if self.project(project).is_none() {
                    bail!("employee {} lists unknown project {project}", employee.id);
                }
            }
        }
        for project in &self.projects {
            if self.employee(&project.lead).is_none() {
                bail!("project {} has unknown lead {}", project.id, project.lead);
            }
        }
        for document in &self.documents {
            if self.employee(&document.author).is_none() {
                bail!(
                    "document {} has unknown author {}",
                    document.id,
                    document.author
                );
            }
            if let Some(project) = &document.project_id
                && self.project(project).is_none()
            {
                bail!(
                    "document {} refers to unknown project {project}",
                    document.id
                );
            }
        }
        Ok(())
    }

    pub fn employee(&self, id: &str) -> Option<&Employee> {
        self.employees
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(id))
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id.eq_ignore_ascii_case(id))
    }

    pub fn document(&self, id: &str) -> Option<&Document> {
        self.documents
            .iter()
            .find(|d| d.id.eq_ignore_ascii_case(id))
    }

    /// Employees working on project `id`.
    pub fn members(&self, project_id: &str) -> impl Iterator<Item = &Employee> {
        self.employees
            .iter()
            .filter(move |e| e.projects.iter().any(|p| p == project_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_data_is_valid_and_sized() {
        let company = Company::parse(BUNDLED).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(company.employees.len(), 8);
        assert_eq!(company.projects.len(), 5);
        assert_eq!(company.documents.len(), 10);
    }

    #[test]
    fn dangling_references_are_rejected() {
        let bad = BUNDLED.replacen(
            "\"projects\": [\"P001\", \"P002\"]",
            "\"projects\": [\"P999\"]",
            1,
        );
        let error = Company::parse(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("unknown project P999"), "{error}");
    }

    #[test]
    fn lookups_ignore_case() {
        let company = Company::parse(BUNDLED).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            company.employee("e002").map(|e| e.name.as_str()),
            Some("David Chen")
        );
        assert!(company.project("p404").is_none());
    }
}
