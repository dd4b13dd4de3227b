//! The two MCP tools, `roi` and `decision_matrix`: their definitions (input and output
//! schemas, annotations) and reading their arguments, with errors naming the argument.

use serde_json::{Map, Value, json};

use super::matrix::{self, Choice, MatrixInput, ROWS};
use super::roi::{self, InputError, RoiInput};

pub const ROI: &str = "roi";
pub const DECISION_MATRIX: &str = "decision_matrix";

/// The ROI tool's arguments: (name, description). All numbers, all required.
const ROI_ARGS: [(&str, &str); 6] = [
    (
        "development_hours",
        "Hours to build the MCP server (more than 0).",
    ),
    (
        "developer_hourly_rate",
        "Cost of one developer hour, e.g. 100 (more than 0). The value of saved time uses the same rate.",
    ),
    (
        "time_saved_per_use",
        "HOURS saved each time the tool is used: 0.25 for 15 minutes, 0.05 for 3 minutes.",
    ),
    (
        "uses_per_month",
        "How many times one person uses it in a month.",
    ),
    ("team_size", "How many people use it."),
    (
        "months_to_evaluate",
        "Length of the evaluation period in months, e.g. 12 (more than 0).",
    ),
];

fn annotations(title: &str) -> Value {
    json!({
        "title": title,
        "readOnlyHint": true,
        "idempotentHint": true,
        "destructiveHint": false,
        "openWorldHint": false
    })
}

/// `tools/list`'s tools.
pub fn definitions() -> Value {
    json!([roi_definition(), matrix_definition()])
}

fn roi_definition() -> Value {
    let mut props = Map::new();
    for (name, description) in ROI_ARGS {
        props.insert(
            name.into(),
            json!({"type": "number", "minimum": 0, "description": description}),
        );
    }
    let number = json!({"type": "number"});
    let inputs: Map<String, Value> = ROI_ARGS
        .iter()
        .map(|(n, _)| ((*n).to_owned(), number.clone()))
        .collect();
    json!({
        "name": ROI,
        "title": "ROI of a custom MCP server",
        "description": "Is a custom MCP server worth building? Runs the reference ROI formula: development_cost = development_hours × developer_hourly_rate; monthly_value = time_saved_per_use × uses_per_month × team_size × developer_hourly_rate; total_value = monthly_value × months_to_evaluate; roi_percentage = (total_value − development_cost) / development_cost × 100; break_even_months = development_cost / monthly_value (null, with break_even_note, when it saves nothing). The verdict applies the rule of thumb: build when the server is worth more than $50K a year and breaks even within the evaluation period.",
        "inputSchema": {
            "type": "object",
            "properties": props,
            "required": ROI_ARGS.map(|(n, _)| n),
            "additionalProperties": false
        },
        "outputSchema": {
            "type": "object",
            "properties": {
                "inputs": {"type": "object", "properties": inputs, "required": ROI_ARGS.map(|(n, _)| n)},
                "development_cost": number,
                "monthly_time_saved": {"type": "number", "description": "hours a month"},
                "monthly_value": number,
                "total_value": number,
                "roi_percentage": number,
                "break_even_months": {"type": ["number", "null"]},
                "break_even_note": {"type": ["string", "null"]},
                "annual_value": number,
                "verdict": {
                    "type": "object",
                    "properties": {
                        "decision": {"type": "string", "enum": ["worth_building", "marginal", "not_worth_building"]},
                        "summary": {"type": "string"},
                        "value_threshold_per_year": number,
                        "meets_value_threshold": {"type": "boolean"},
                        "breaks_even_in_period": {"type": "boolean"},
                        "reasons": {"type": "array", "items": {"type": "string"}}
                    },
                    "required": ["decision", "summary", "value_threshold_per_year", "meets_value_threshold", "breaks_even_in_period", "reasons"]
                }
            },
            "required": ["inputs", "development_cost", "monthly_time_saved", "monthly_value", "total_value", "roi_percentage", "break_even_months", "break_even_note", "annual_value", "verdict"]
        },
        "annotations": annotations("ROI of a custom MCP server")
    })
}

fn matrix_definition() -> Value {
    let mut props = Map::new();
    for r in &ROWS {
        let cells = r
            .cells
            .iter()
            .map(|c| {
                format!(
                    "`{}` ({}) points to {}",
                    c.value,
                    c.label,
                    c.choice.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        props.insert(
            r.key.into(),
            json!({
                "type": "string",
                "enum": r.cells.map(|c| c.value),
                "description": format!("{}: {} {cells}.", r.title, r.question)
            }),
        );
    }
    let choice = json!({"type": "string", "enum": Choice::ALL.map(Choice::as_str)});
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "name": DECISION_MATRIX,
        "title": "Build, use or adapt an MCP server",
        "description": "The reference decision matrix (Build vs Buy vs Adapt): answer its six factors and get build / use / adapt scored, a recommendation with the factors that pointed to each option, the expected development time (build 2-8 weeks, adapt 1-2 weeks, use 1 day) and maintenance model (full ownership, shared, community), warnings where the recommendation needs more time, maintenance or expertise than you have, and the matching ROI scenario. Ties go to the option that costs less to develop and maintain.",
        "inputSchema": {
            "type": "object",
            "properties": props,
            "required": ROWS.map(|r| r.key),
            "additionalProperties": false
        },
        "outputSchema": {
            "type": "object",
            "properties": {
                "recommendation": choice,
                "recommendation_label": string,
                "confidence": {"type": "string", "enum": ["strong", "moderate", "tie"]},
                "scores": {
                    "type": "object",
                    "properties": {"build": {"type": "integer"}, "use": {"type": "integer"}, "adapt": {"type": "integer"}},
                    "required": ["build", "use", "adapt"]
                },
                "development_time": string,
                "maintenance": string,
                "answers": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"factor": string, "title": string, "answer": string, "label": string, "points_to": choice},
                    "required": ["factor", "title", "answer", "label", "points_to"]
                }},
                "options": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"option": choice, "label": string, "score": {"type": "integer"}, "factors": strings, "development_time": string, "maintenance": string},
                    "required": ["option", "label", "score", "factors", "development_time", "maintenance"]
                }},
                "reasons": strings,
                "warnings": strings,
                "roi_scenario": string,
                "next_step": string
            },
            "required": ["recommendation", "recommendation_label", "confidence", "scores", "development_time", "maintenance", "answers", "options", "reasons", "warnings", "roi_scenario", "next_step"]
        },
        "annotations": annotations("Build, use or adapt an MCP server")
    })
}

fn reject_unknown(args: &Map<String, Value>, known: &[&str]) -> Result<(), InputError> {
    match args.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(InputError::new(
            k.as_str(),
            format!("unknown argument; the arguments are {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Read the `roi` tool's arguments.
pub fn roi_input(args: &Map<String, Value>) -> Result<RoiInput, InputError> {
    reject_unknown(args, &ROI_ARGS.map(|(n, _)| n))?;
    let num = |field: &'static str| -> Result<f64, InputError> {
        match args.get(field) {
            None | Some(Value::Null) => Err(InputError::new(
                field,
                format!(
                    "required: {}",
                    ROI_ARGS
                        .iter()
                        .find(|(n, _)| *n == field)
                        .map_or("", |(_, d)| d)
                ),
            )),
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| InputError::new(field, "must be a number")),
            Some(other) => Err(InputError::new(
                field,
                format!("must be a number, got {other}"),
            )),
        }
    };
    Ok(RoiInput {
        development_hours: num("development_hours")?,
        developer_hourly_rate: num("developer_hourly_rate")?,
        time_saved_per_use: num("time_saved_per_use")?,
        uses_per_month: num("uses_per_month")?,
        team_size: num("team_size")?,
        months_to_evaluate: num("months_to_evaluate")?,
    })
}

/// Read the `decision_matrix` tool's arguments.
pub fn matrix_input(args: &Map<String, Value>) -> Result<MatrixInput, InputError> {
    reject_unknown(args, &ROWS.map(|r| r.key))?;
    let mut answers = [Choice::Use; 6];
    for (slot, r) in answers.iter_mut().zip(ROWS.iter()) {
        *slot = match args.get(r.key) {
            None | Some(Value::Null) => {
                return Err(InputError::new(
                    r.key,
                    format!("required: one of {}", r.values()),
                ));
            }
            Some(Value::String(s)) => match r.parse(s) {
                Some(c) => c.choice,
                None => {
                    return Err(InputError::new(
                        r.key,
                        format!("`{s}` is not one of {}", r.values()),
                    ));
                }
            },
            Some(other) => {
                return Err(InputError::new(
                    r.key,
                    format!("must be a string, one of {}; got {other}", r.values()),
                ));
            }
        };
    }
    Ok(MatrixInput { answers })
}

/// A `tools/call` result: `Ok` with the text and structured content, or `Err` with the
/// message of an `isError` result. `None`: no such tool.
pub fn call(name: &str, args: &Map<String, Value>) -> Option<Result<(String, Value), String>> {
    let outcome = match name {
        ROI => roi_input(args)
            .and_then(roi::calculate)
            .map(|r| (super::render::roi(&r), serde_json::to_value(&r))),
        DECISION_MATRIX => matrix_input(args).map(|i| {
            let r = matrix::decide(i);
            (super::render::matrix(&r), serde_json::to_value(&r))
        }),
        _ => return None,
    };
    Some(match outcome {
        Ok((text, Ok(structured))) => Ok((text, structured)),
        Ok((_, Err(e))) => Err(format!("cannot encode the result: {e}")),
        Err(e) => Err(format!("Invalid argument {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn roi_arguments_and_errors() {
        let ok = args(json!({
            "development_hours": 120, "developer_hourly_rate": 100, "time_saved_per_use": 0.25,
            "uses_per_month": 20, "team_size": 10, "months_to_evaluate": 12
        }));
        let (text, v) = call(ROI, &ok).unwrap().unwrap();
        assert_eq!(v["roi_percentage"], 400.0);
        assert!(text.contains("$12,000.00"), "{text}");

        let mut bad = ok.clone();
        bad.insert("team_size".into(), json!("ten"));
        let e = call(ROI, &bad).unwrap().unwrap_err();
        assert!(e.contains("team_size") && e.contains("number"), "{e}");

        let mut bad = ok.clone();
        bad.remove("uses_per_month");
        let e = call(ROI, &bad).unwrap().unwrap_err();
        assert!(e.contains("uses_per_month: required"), "{e}");

        let mut bad = ok.clone();
        bad.insert("hourly_rate".into(), json!(5));
        let e = call(ROI, &bad).unwrap().unwrap_err();
        assert!(e.contains("hourly_rate: unknown argument"), "{e}");

        let mut bad = ok;
        bad.insert("development_hours".into(), json!(0));
        let e = call(ROI, &bad).unwrap().unwrap_err();
        assert!(e.contains("development_hours: must be more than 0"), "{e}");

        assert!(call("nope", &Map::new()).is_none());
    }

    #[test]
    fn matrix_arguments_and_errors() {
        let ok = args(json!({
            "tool_popularity": "proprietary", "business_logic": "complex",
            "development_time": "2-8-weeks", "maintenance": "full-ownership",
            "competitive_advantage": "high", "team_expertise": "high"
        }));
        let (_, v) = call(DECISION_MATRIX, &ok).unwrap().unwrap();
        assert_eq!(v["recommendation"], "build");
        assert_eq!(v["scores"]["build"], 6);

        let mut bad = ok.clone();
        bad.insert("maintenance".into(), json!("nobody"));
        let e = call(DECISION_MATRIX, &bad).unwrap().unwrap_err();
        assert!(
            e.contains("maintenance: `nobody` is not one of full-ownership, community, shared"),
            "{e}"
        );
        let mut bad = ok;
        bad.remove("team_expertise");
        let e = call(DECISION_MATRIX, &bad).unwrap().unwrap_err();
        assert!(e.contains("team_expertise: required"), "{e}");
    }

    #[test]
    fn schemas_name_every_argument_and_result_field() {
        let defs = definitions();
        let roi = &defs[0];
        assert_eq!(roi["name"], ROI);
        assert_eq!(roi["annotations"]["readOnlyHint"], true);
        assert_eq!(roi["annotations"]["idempotentHint"], true);
        assert_eq!(roi["inputSchema"]["required"].as_array().unwrap().len(), 6);
        let (_, out) = call(
            ROI,
            &args(json!({
                "development_hours": 1, "developer_hourly_rate": 1, "time_saved_per_use": 0,
                "uses_per_month": 0, "team_size": 0, "months_to_evaluate": 1
            })),
        )
        .unwrap()
        .unwrap();
        for f in roi["outputSchema"]["required"].as_array().unwrap() {
            assert!(out.get(f.as_str().unwrap()).is_some(), "missing {f}");
        }
        let m = &defs[1];
        assert_eq!(m["name"], DECISION_MATRIX);
        assert_eq!(
            m["inputSchema"]["properties"]["team_expertise"]["enum"],
            json!(["high", "any", "medium"])
        );
    }
}
