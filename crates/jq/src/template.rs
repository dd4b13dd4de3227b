//! `${{ … }}` templates in config strings. The delimiters are those of CI workflow files, so
//! they never clash with the load-time `${VAR}` environment references (which leave them
//! alone). An expression ends at the first `}}` outside its own braces and string literals,
//! so `${{ {a: {b: 1}} }}` is one expression.

/// A piece of a template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// An expression's code (trimmed), and the byte offset of its `${{` in the string.
    Expr {
        code: &'a str,
        offset: usize,
    },
}

/// A template that cannot be read: what is wrong and where (a byte offset in the string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub offset: usize,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at position {})", self.message, self.offset)
    }
}

const OPEN: &str = "${{";

/// Whether `s` holds an expression at all.
pub fn has_expression(s: &str) -> bool {
    s.contains(OPEN)
}

/// The end of the expression whose code starts at `from`: (end of the code, just after its
/// closing `}}`), or `None` when it is not closed.
pub fn close(s: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let (mut depth, mut i, mut in_string) = (0usize, from, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' if bytes.get(i + 1) == Some(&b'}') => return Some((i, i + 2)),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Split `s` into text and expressions. An empty expression or one never closed is an error.
pub fn split(s: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest_from = 0;
    while let Some(found) = s[rest_from..].find(OPEN) {
        let open = rest_from + found;
        if open > rest_from {
            out.push(Piece::Text(&s[rest_from..open]));
        }
        let code_from = open + OPEN.len();
        let (code_end, after) = close(s, code_from).ok_or_else(|| TemplateError {
            message: "`${{` is not closed by `}}`".into(),
            offset: open,
        })?;
        let code = s[code_from..code_end].trim();
        if code.is_empty() {
            return Err(TemplateError {
                message: "`${{ }}` holds no expression".into(),
                offset: open,
            });
        }
        out.push(Piece::Expr { code, offset: open });
        rest_from = after;
    }
    if rest_from < s.len() {
        out.push(Piece::Text(&s[rest_from..]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_expressions_with_nested_braces_and_strings() {
        assert_eq!(split("plain").unwrap(), vec![Piece::Text("plain")]);
        assert_eq!(
            split("${{ .inputs.period }}").unwrap(),
            vec![Piece::Expr {
                code: ".inputs.period",
                offset: 0
            }]
        );
        assert_eq!(
            split("Revenue: ${{ .r }} USD").unwrap(),
            vec![
                Piece::Text("Revenue: "),
                Piece::Expr {
                    code: ".r",
                    offset: 9
                },
                Piece::Text(" USD")
            ]
        );
        let nested = "${{ {a: {b: 1}, c: \"}}\"} }}";
        assert_eq!(
            split(nested).unwrap(),
            vec![Piece::Expr {
                code: "{a: {b: 1}, c: \"}}\"}",
                offset: 0
            }]
        );
        assert_eq!(split("${{.a}}${{.b}}").unwrap().len(), 2);
    }

    #[test]
    fn unclosed_and_empty_expressions_say_where() {
        let e = split("x ${{ .a ").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.message.contains("not closed"), "{e}");
        let e = split("${{  }}").unwrap_err();
        assert!(e.message.contains("no expression"), "{e}");
        assert!(!has_expression("${VAR}"));
        assert!(has_expression("a ${{ .b }}"));
    }
}
