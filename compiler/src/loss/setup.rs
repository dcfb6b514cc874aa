//! The loss and bounds of a run: from the command line, else the network's `train` block,
//! else `mse(output, target)`; bounds from the models, the train block's `bound`s, then flags.

use reef_lang::Diagnostics;
use reef_lang::ast::{Expr, File, ItemKind, TrainStmtKind};

use super::{Bound, BoundOverride, Loss, Term, TermKind, bounds_with_overrides, parse_bound, parse_loss};
use crate::graph::NetworkGraph;

/// The loss and per-parameter bounds for training or differentiating `graph`.
pub fn loss_setup(
    file: &File,
    graph: &NetworkGraph,
    loss: Option<&Expr>,
    extra_bounds: &[BoundOverride],
) -> Result<(Loss, Vec<Bound>), Diagnostics> {
    let mut diagnostics = Diagnostics::new();
    let mut block_loss = None;
    let mut overrides = Vec::new();
    for item in &file.items {
        let ItemKind::Train(train) = &item.kind else { continue };
        if train.network.node != graph.name {
            continue;
        }
        for stmt in &train.body {
            match &stmt.kind {
                TrainStmtKind::Setting(setting) if setting.name.as_str() == "loss" => block_loss = Some(&setting.value),
                TrainStmtKind::Setting(_) => {}
                TrainStmtKind::Bound(bound) => {
                    let expr = reef_lang::ast::Expr {
                        kind: reef_lang::ast::ExprKind::Binary(
                            match bound.kind {
                                reef_lang::ast::BoundKind::Lower => reef_lang::ast::BinaryOp::Ge,
                                reef_lang::ast::BoundKind::Upper => reef_lang::ast::BinaryOp::Le,
                            },
                            Box::new(Expr {
                                kind: reef_lang::ast::ExprKind::Ident(bound.target.node.clone()),
                                span: bound.target.span,
                            }),
                            Box::new(bound.value.clone()),
                        ),
                        span: bound.span,
                    };
                    match parse_bound(&expr) {
                        Ok(parsed) => overrides.push(parsed),
                        Err(error) => diagnostics.push(error),
                    }
                }
            }
        }
    }
    overrides.extend(extra_bounds.iter().cloned());
    let loss = match loss.or(block_loss) {
        Some(expr) => match parse_loss(expr, graph) {
            Ok(loss) => Some(loss),
            Err(errors) => {
                diagnostics.extend(errors);
                None
            }
        },
        None => Some(Loss { terms: vec![Term { weight: 1.0, kind: TermKind::Mse, span: graph.span }] }),
    };
    let bounds = match bounds_with_overrides(graph, &overrides) {
        Ok(bounds) => Some(bounds),
        Err(errors) => {
            diagnostics.extend(errors);
            None
        }
    };
    match (loss, bounds) {
        (Some(loss), Some(bounds)) if !diagnostics.has_errors() => Ok((loss, bounds)),
        _ => Err(diagnostics),
    }
}
