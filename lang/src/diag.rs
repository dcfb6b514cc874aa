//! Diagnostics: errors as values with a code, a message, labelled spans and a hint, rendered
//! rustc-style (file:line:col and a source snippet) only at the edge.

use std::fmt;

use crate::span::{SourceId, Span};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Stops compilation.
    Error,
    /// Worth reading; compilation goes on.
    Warning,
}

/// One labelled place in the source.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What is wrong or relevant there.
    pub message: String,
    /// The primary label is the place of the error; secondary ones give context.
    pub primary: bool,
}

/// A problem found in reef source, located and explained.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable code such as `E0201` (listed in `docs/errors.md`).
    pub code: &'static str,
    /// One line saying what is wrong.
    pub message: String,
    /// The places involved; the first primary label locates the error.
    pub labels: Vec<Label>,
    /// How to fix it, when we can tell.
    pub help: Option<String>,
    /// Further facts.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with a code and message, to be located with [`Diagnostic::primary`].
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    /// A warning with a code and message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// Adds the primary label: where the error is.
    pub fn primary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into(), primary: true });
        self
    }

    /// Adds a secondary label: a related place.
    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    /// Sets the hint.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The span of the first primary label, if any.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.iter().find(|label| label.primary).map(|label| label.span)
    }

    /// Whether this stops compilation.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Several diagnostics, collected so one run reports as many problems as it can.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No diagnostics yet.
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    /// Adds one.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Whether any of them is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// `Ok(value)` when there are no errors, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.has_errors() { Err(self) } else { Ok(value) }
    }

    /// Adds all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Diagnostics(vec![diagnostic])
    }
}

/// One named source text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Shown in diagnostics: a path, `<prelude>`, or `<network! macro>`.
    pub name: String,
    /// The text.
    pub text: String,
}

/// Every source text of a compilation, by [`SourceId`].
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// No sources yet.
    pub fn new() -> Self {
        Sources::default()
    }

    /// Adds a text and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> SourceId {
        self.files.push(SourceFile { name: name.into(), text: text.into() });
        SourceId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    /// The source with this id.
    pub fn get(&self, id: SourceId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// The text a span covers (empty if the span is out of range).
    pub fn snippet(&self, span: Span) -> &str {
        self.get(span.source).and_then(|file| file.text.get(span.range())).unwrap_or("")
    }

    /// `name:line:col` (1-based, columns in characters) of a span's start.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.source) {
            Some(file) => {
                let (line, col) = line_col(&file.text, span.start);
                format!("{}:{}:{}", file.name, line, col)
            }
            None => "<unknown>".to_string(),
        }
    }

    /// Renders diagnostics rustc-style; `color` for terminals, plain for tests and logs.
    pub fn render(&self, diagnostics: &Diagnostics, color: bool) -> String {
        let mut out = String::new();
        for diagnostic in &diagnostics.0 {
            out.push_str(&crate::render::render(self, diagnostic, color));
        }
        out
    }
}

/// 1-based line and character column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text.get(line_start..offset).map_or(1, |s| s.chars().count() + 1);
    (line, col)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{kind}[{}]: {}", self.code, self.message)
    }
}

/// The id of the prelude's source, by convention the first added by [`crate::prelude`].
pub const NO_SOURCE: SourceId = SourceId(u32::MAX);
