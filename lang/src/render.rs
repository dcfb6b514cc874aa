//! rustc-style rendering of a [`Diagnostic`]: header, ` --> file:line:col`, the source lines
//! with `^^^` under the primary place and `---` under related ones, then help and notes.

use std::fmt::Write;

use crate::diag::{Diagnostic, Label, Severity, Sources, line_col};

/// ANSI styles, or nothing when colour is off.
struct Palette {
    color: bool,
}

impl Palette {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
    fn header(&self, severity: Severity, text: &str) -> String {
        match severity {
            Severity::Error => self.paint("1;31", text),
            Severity::Warning => self.paint("1;33", text),
        }
    }
    fn gutter(&self, text: &str) -> String {
        self.paint("1;34", text)
    }
    fn underline(&self, severity: Severity, primary: bool, text: &str) -> String {
        if primary { self.header(severity, text) } else { self.gutter(text) }
    }
}

/// Renders one diagnostic, ending with a blank line.
pub fn render(sources: &Sources, diagnostic: &Diagnostic, color: bool) -> String {
    let palette = Palette { color };
    let mut out = String::new();
    let kind = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let head = palette.header(diagnostic.severity, &format!("{kind}[{}]", diagnostic.code));
    let _ = writeln!(out, "{head}: {}", palette.paint("1", &diagnostic.message));

    // Labels grouped by source, the primary label's source first, each group in line order.
    let mut labels: Vec<&Label> = diagnostic.labels.iter().collect();
    let first_source = diagnostic.primary_span().map(|span| span.source);
    labels.sort_by_key(|label| (Some(label.span.source) != first_source, label.span.source, label.span.start));
    let width = labels
        .iter()
        .filter_map(|label| sources.get(label.span.source).map(|f| line_col(&f.text, label.span.start).0))
        .max()
        .unwrap_or(1)
        .to_string()
        .len();
    let pad = " ".repeat(width);

    let mut index = 0;
    let mut first_group = true;
    while index < labels.len() {
        let source_id = labels[index].span.source;
        let group_end =
            labels[index..].iter().position(|l| l.span.source != source_id).map_or(labels.len(), |p| index + p);
        let group = &labels[index..group_end];
        index = group_end;
        let Some(file) = sources.get(source_id) else { continue };
        let arrow = if first_group { "-->" } else { ":::" };
        first_group = false;
        let located = group.iter().find(|l| l.primary).map_or(group[0].span, |l| l.span);
        let _ = writeln!(out, "{pad}{} {}", palette.gutter(arrow), sources.location(located));
        let _ = writeln!(out, "{pad} {}", palette.gutter("|"));
        let mut previous_line: Option<usize> = None;
        for label in group {
            let (line, col) = line_col(&file.text, label.span.start);
            let line_text = file.text.lines().nth(line - 1).unwrap_or("");
            if previous_line != Some(line) {
                if previous_line.is_some_and(|p| line > p + 1) {
                    let _ = writeln!(out, "{}", palette.gutter("..."));
                }
                let number = format!("{line:>width$}");
                let _ = writeln!(out, "{} {} {}", palette.gutter(&number), palette.gutter("|"), line_text);
            }
            previous_line = Some(line);
            // Underline to the span's end, or to the end of the line for multi-line spans.
            let (end_line, end_col) = line_col(&file.text, label.span.end);
            let last_col = if end_line == line { end_col } else { line_text.chars().count() + 1 };
            let length = last_col.saturating_sub(col).max(1);
            let mark = if label.primary { "^" } else { "-" };
            let marks = palette.underline(diagnostic.severity, label.primary, &mark.repeat(length));
            let message = if label.message.is_empty() { String::new() } else { format!(" {}", label.message) };
            let message = palette.underline(diagnostic.severity, label.primary, &message);
            let _ = writeln!(out, "{pad} {} {}{marks}{message}", palette.gutter("|"), " ".repeat(col - 1));
        }
    }
    if !diagnostic.labels.is_empty() && (diagnostic.help.is_some() || !diagnostic.notes.is_empty()) {
        let _ = writeln!(out, "{pad} {}", palette.gutter("|"));
    }
    if let Some(help) = &diagnostic.help {
        let _ = writeln!(out, "{pad} {} {}: {help}", palette.gutter("="), palette.paint("1", "help"));
    }
    for note in &diagnostic.notes {
        let _ = writeln!(out, "{pad} {} {}: {note}", palette.gutter("="), palette.paint("1", "note"));
    }
    out.push('\n');
    out
}
