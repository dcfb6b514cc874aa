//! Dimensions of quantities. reef tracks the power of seconds (`s`, `ms`, `us` and `Hz`
//! carry ±1); everything else is dimensionless.

use reef_lang::{Diagnostic, Span};

/// Names a power of seconds for people: "seconds", "a dimensionless value", "hertz".
pub fn describe(power: i32) -> String {
    match power {
        0 => "a dimensionless value".to_string(),
        1 => "a time (seconds)".to_string(),
        -1 => "a rate (1/seconds)".to_string(),
        power => format!("a quantity in s^{power}"),
    }
}

/// `a op b` needs equal dimensions and they differ.
pub fn mismatch(op: &str, left: i32, right: i32, left_span: Span, right_span: Span) -> Diagnostic {
    Diagnostic::error("E0401", format!("cannot use `{op}` on {} and {}", describe(left), describe(right)))
        .primary(left_span, describe(left))
        .secondary(right_span, describe(right))
        .help("both sides must have the same unit; divide a time by another time (e.g. `dt / tau`) to make it dimensionless")
}

/// A function that needs a dimensionless argument got a quantity with a unit.
pub fn needs_dimensionless(function: &str, power: i32, span: Span) -> Diagnostic {
    Diagnostic::error("E0402", format!("`{function}` of {}", describe(power)))
        .primary(span, format!("this is {}", describe(power)))
        .help(format!("`{function}` needs a dimensionless argument, e.g. `{function}(-dt / tau)`"))
}
