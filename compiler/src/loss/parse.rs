//! Loss expressions and bound statements → [`Loss`] and per-parameter bounds, with located
//! errors for unknown terms and parameters.

use reef_lang::ast::{ArgLabel, BinaryOp, BoundKind, Expr, ExprKind, UnaryOp};
use reef_lang::{Diagnostic, Diagnostics, Span};

use super::{Bound, Loss, Normalise, Readout, Term, TermKind};
use crate::elaborate::did_you_mean;
use crate::graph::NetworkGraph;
use crate::step::ParamId;

const TERMS: [&str; 6] = ["mse", "sse", "l2sqr_norm", "l0_norm_approx", "bounds_cost", "cross_entropy"];

/// Parses a loss expression: a sum of terms, each optionally multiplied or divided by numbers.
pub fn parse_loss(expr: &Expr, graph: &NetworkGraph) -> Result<Loss, Diagnostics> {
    let mut terms = Vec::new();
    let mut diagnostics = Diagnostics::new();
    collect(expr, 1.0, graph, &mut terms, &mut diagnostics);
    diagnostics.into_result(Loss { terms })
}

fn collect(expr: &Expr, weight: f64, graph: &NetworkGraph, terms: &mut Vec<Term>, diagnostics: &mut Diagnostics) {
    match &expr.kind {
        ExprKind::Paren(inner) => collect(inner, weight, graph, terms, diagnostics),
        ExprKind::Unary(UnaryOp::Neg, inner) => collect(inner, -weight, graph, terms, diagnostics),
        ExprKind::Binary(BinaryOp::Add, a, b) => {
            collect(a, weight, graph, terms, diagnostics);
            collect(b, weight, graph, terms, diagnostics);
        }
        ExprKind::Binary(BinaryOp::Sub, a, b) => {
            collect(a, weight, graph, terms, diagnostics);
            collect(b, -weight, graph, terms, diagnostics);
        }
        ExprKind::Binary(BinaryOp::Mul, a, b) => match (number(a), number(b)) {
            (Some(x), _) => collect(b, weight * x, graph, terms, diagnostics),
            (_, Some(x)) => collect(a, weight * x, graph, terms, diagnostics),
            _ => diagnostics
                .push(not_a_loss(expr.span, "a product of two terms is not a loss; multiply terms by numbers")),
        },
        ExprKind::Binary(BinaryOp::Div, a, b) => match number(b) {
            Some(x) => collect(a, weight / x, graph, terms, diagnostics),
            None => diagnostics.push(not_a_loss(expr.span, "divide terms by numbers only")),
        },
        ExprKind::Ident(name) => term(name, &[], expr.span, weight, graph, terms, diagnostics),
        ExprKind::Call { callee, args } => term(&callee.node, args, expr.span, weight, graph, terms, diagnostics),
        _ => diagnostics.push(not_a_loss(expr.span, "expected a loss term such as `mse(output, target)`")),
    }
}

fn number(expr: &Expr) -> Option<f64> {
    match &expr.kind {
        ExprKind::Number(n) => Some(n.si_value()),
        ExprKind::Paren(inner) => number(inner),
        ExprKind::Unary(UnaryOp::Neg, inner) => number(inner).map(|x| -x),
        _ => None,
    }
}

fn not_a_loss(span: Span, why: &str) -> Diagnostic {
    Diagnostic::error("E0501", "not a loss expression").primary(span, why.to_string()).help(
        "a loss is a weighted sum of `mse`, `sse`, `l2sqr_norm(...)`, `l0_norm_approx(...)`, `bounds_cost` and `cross_entropy(...)`",
    )
}

#[allow(clippy::too_many_arguments)]
fn term(
    name: &str,
    args: &[reef_lang::ast::Arg],
    span: Span,
    weight: f64,
    graph: &NetworkGraph,
    terms: &mut Vec<Term>,
    diagnostics: &mut Diagnostics,
) {
    let mut params = Vec::new();
    let mut options: Vec<(&str, &Expr)> = Vec::new();
    for arg in args {
        match &arg.label {
            Some(ArgLabel::Named(label)) => options.push((label.as_str(), &arg.value)),
            _ => {
                if let ExprKind::Path(_) | ExprKind::Ident(_) = arg.value.kind
                    && matches!(name, "l2sqr_norm" | "l0_norm_approx")
                {
                    match param_of(&arg.value, graph) {
                        Ok(id) => params.push(id),
                        Err(error) => diagnostics.push(error),
                    }
                }
            }
        }
    }
    let option = |key: &str| options.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let kind = match name {
        "mse" => TermKind::Mse,
        "sse" => TermKind::Sse,
        "l2sqr_norm" => TermKind::L2SqrNorm(params),
        "l0_norm_approx" => TermKind::L0NormApprox(params, option("sigma").and_then(number).unwrap_or(1e-4)),
        "bounds_cost" => TermKind::BoundsCost,
        "cross_entropy" => {
            let readout = match option("readout").and_then(Expr::as_ident) {
                None | Some("mean") => Readout::Mean,
                Some("last") => Readout::Last,
                Some(other) => {
                    diagnostics.push(not_a_loss(span, &format!("readout `{other}` is not `mean` or `last`")));
                    return;
                }
            };
            let over = match option("over").and_then(Expr::as_ident) {
                None | Some("rows") => Normalise::Rows,
                Some("all") => Normalise::All,
                Some(other) => {
                    diagnostics.push(not_a_loss(span, &format!("`over = {other}` is not `rows` or `all`")));
                    return;
                }
            };
            TermKind::CrossEntropy { readout, over }
        }
        other => {
            let mut diagnostic =
                Diagnostic::error("E0502", format!("unknown loss term `{other}`")).primary(span, "not a loss term");
            if let Some(candidate) = did_you_mean(other, TERMS) {
                diagnostic = diagnostic.help(format!("did you mean `{candidate}`?"));
            }
            diagnostics.push(diagnostic);
            return;
        }
    };
    terms.push(Term { weight, kind, span });
}

/// Resolves a parameter path (reef or Rockpool names).
fn param_of(expr: &Expr, graph: &NetworkGraph) -> Result<ParamId, Diagnostic> {
    let written = match &expr.kind {
        ExprKind::Path(segments) => segments.join("."),
        ExprKind::Ident(name) => name.clone(),
        _ => String::new(),
    };
    find_param(&written, graph).ok_or_else(|| unknown_param(&written, expr.span, graph))
}

/// The parameter with this name, also accepting Rockpool's (`1_RateJax.tau`).
pub fn find_param(name: &str, graph: &NetworkGraph) -> Option<ParamId> {
    let reef = name
        .split('.')
        .map(|segment| {
            segment
                .replace("JaxResidual", "Residual")
                .replace("JaxSequential", "Sequential")
                .trim_end_matches("Jax")
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(".");
    graph.params.iter().position(|p| p.name == reef).map(|i| ParamId(i as u32))
}

fn unknown_param(name: &str, span: Span, graph: &NetworkGraph) -> Diagnostic {
    let mut diagnostic = Diagnostic::error("E0503", format!("network `{}` has no parameter `{name}`", graph.name))
        .primary(span, "unknown parameter");
    if let Some(candidate) = did_you_mean(name, graph.params.iter().map(|p| p.name.as_str())) {
        diagnostic = diagnostic.help(format!("did you mean `{candidate}`?"));
    }
    diagnostic
}

/// A `bound NAME >= VALUE` statement or `--bound` flag, as written.
#[derive(Clone, Debug)]
pub struct BoundOverride {
    /// The parameter path.
    pub name: String,
    /// Lower or upper.
    pub kind: BoundKind,
    /// The value in SI units.
    pub value: f64,
    /// Where it was written.
    pub span: Span,
}

/// Parses `NAME >= VALUE` or `NAME <= VALUE` (the text of `--bound`).
pub fn parse_bound(expr: &Expr) -> Result<BoundOverride, Diagnostic> {
    let bad = || {
        Diagnostic::error("E0504", "expected a bound such as `1_Rate.tau >= 11 ms`").primary(expr.span, "not a bound")
    };
    let ExprKind::Binary(op, target, value) = &expr.kind else { return Err(bad()) };
    let kind = match op {
        BinaryOp::Ge => BoundKind::Lower,
        BinaryOp::Le => BoundKind::Upper,
        _ => return Err(bad()),
    };
    let name = match &target.kind {
        ExprKind::Path(segments) => segments.join("."),
        ExprKind::Ident(name) => name.clone(),
        _ => return Err(bad()),
    };
    let value = number(value).ok_or_else(bad)?;
    Ok(BoundOverride { name, kind, value, span: expr.span })
}

/// Every parameter's bounds: the model's `where` bounds, then the overrides.
pub fn bounds_with_overrides(graph: &NetworkGraph, overrides: &[BoundOverride]) -> Result<Vec<Bound>, Diagnostics> {
    let mut bounds: Vec<Bound> = graph.params.iter().map(|p| (p.lower, p.upper)).collect();
    let mut diagnostics = Diagnostics::new();
    for bound in overrides {
        match find_param(&bound.name, graph) {
            Some(id) => {
                let slot = &mut bounds[id.0 as usize];
                match bound.kind {
                    BoundKind::Lower => slot.0 = Some(bound.value),
                    BoundKind::Upper => slot.1 = Some(bound.value),
                }
            }
            None => diagnostics.push(unknown_param(&bound.name, bound.span, graph)),
        }
    }
    diagnostics.into_result(bounds)
}
