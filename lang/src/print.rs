//! [`ast::File`] → canonical source text (`reef fmt`). Printing then parsing gives the same tree.

use std::fmt::Write;

use crate::ast::*;

const INDENT: &str = "    ";

/// Formats a whole file in reef's canonical style.
pub fn print_file(file: &File) -> String {
    let mut out = String::new();
    for (index, item) in file.items.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        print_docs(&mut out, &item.docs, 0);
        match &item.kind {
            ItemKind::Model(model) => print_model(&mut out, model),
            ItemKind::Function(function) => print_function(&mut out, function),
            ItemKind::Network(network) => print_network(&mut out, network),
            ItemKind::Train(train) => print_train(&mut out, train),
        }
    }
    out
}

fn print_docs(out: &mut String, docs: &[String], depth: usize) {
    for line in docs {
        let _ = if line.is_empty() {
            writeln!(out, "{}///", INDENT.repeat(depth))
        } else {
            writeln!(out, "{}/// {line}", INDENT.repeat(depth))
        };
    }
}

fn print_function(out: &mut String, function: &Function) {
    let params: Vec<&str> = function.params.iter().map(|p| p.as_str()).collect();
    let _ = writeln!(out, "fn {}({}) = {}", function.name.node, params.join(", "), print_expr(&function.body));
    for grad in &function.grads {
        let _ = writeln!(out, "{INDENT}grad({}) = {}", grad.param.node, print_expr(&grad.expr));
    }
}

fn print_model(out: &mut String, model: &Model) {
    let generics: Vec<String> = model
        .generics
        .iter()
        .map(|g| match &g.default {
            Some(default) => format!("{}: {} = {}", g.name.node, g.kind.node.keyword(), print_expr(default)),
            None => format!("{}: {}", g.name.node, g.kind.node.keyword()),
        })
        .collect();
    let _ = writeln!(out, "model {}({}) {{", model.name.node, generics.join(", "));
    print_stmts(out, &model.body, 1);
    out.push_str("}\n");
}

fn print_stmts(out: &mut String, stmts: &[Stmt], depth: usize) {
    for stmt in stmts {
        print_docs(out, &stmt.docs, depth);
        out.push_str(&INDENT.repeat(depth));
        match &stmt.kind {
            StmtKind::Param(decl) => print_decl(out, "param", decl),
            StmtKind::Const(decl) => print_decl(out, "const", decl),
            StmtKind::State(decl) => print_decl(out, "state", decl),
            StmtKind::Input { name, shape } => {
                let _ = write!(out, "input {}{}", name.node, shape.as_deref().map(print_shape).unwrap_or_default());
            }
            StmtKind::Let { name, value } => {
                let _ = write!(out, "let {} = {}", name.node, print_expr(value));
            }
            StmtKind::Assign { target, value } => {
                let _ = write!(out, "{} <- {}", target.node, print_expr(value));
            }
            StmtKind::Ode { target, rate } => {
                let _ = write!(out, "{}' = {}", target.node, print_expr(rate));
            }
            StmtKind::Output(value) => {
                let _ = write!(out, "output {}", print_expr(value));
            }
            StmtKind::If { cond, then, otherwise } => print_if_stmt(out, cond, then, otherwise.as_deref(), depth),
        }
        out.push('\n');
    }
}

fn print_if_stmt(out: &mut String, cond: &Expr, then: &[Stmt], otherwise: Option<&[Stmt]>, depth: usize) {
    let _ = writeln!(out, "if {} {{", print_expr(cond));
    print_stmts(out, then, depth + 1);
    out.push_str(&INDENT.repeat(depth));
    out.push('}');
    if let Some(otherwise) = otherwise {
        // `else if` is stored as an else block holding exactly one `if` statement with no docs.
        if let [Stmt { docs, kind: StmtKind::If { cond, then, otherwise }, .. }] = otherwise
            && docs.is_empty()
        {
            out.push_str(" else ");
            print_if_stmt(out, cond, then, otherwise.as_deref(), depth);
        } else {
            out.push_str(" else {\n");
            print_stmts(out, otherwise, depth + 1);
            out.push_str(&INDENT.repeat(depth));
            out.push('}');
        }
    }
}

fn print_decl(out: &mut String, keyword: &str, decl: &Decl) {
    let _ = write!(
        out,
        "{keyword} {}{} = {}",
        decl.name.node,
        decl.shape.as_deref().map(print_shape).unwrap_or_default(),
        print_expr(&decl.init)
    );
    if !decl.bounds.is_empty() {
        let bounds: Vec<String> = decl.bounds.iter().map(print_bound).collect();
        let _ = write!(out, " where {}", bounds.join(", "));
    }
    if let Some(condition) = &decl.condition {
        let _ = write!(out, " if {}", print_expr(condition));
    }
}

fn print_bound(bound: &Bound) -> String {
    let op = match bound.kind {
        BoundKind::Lower => ">=",
        BoundKind::Upper => "<=",
    };
    format!("{} {op} {}", bound.target.node, print_expr(&bound.value))
}

fn print_shape(shape: &[Expr]) -> String {
    let dims: Vec<String> = shape.iter().map(print_expr).collect();
    format!("[{}]", dims.join(", "))
}

fn print_network(out: &mut String, network: &Network) {
    let _ = write!(out, "network {}", network.name.node);
    if !network.settings.is_empty() {
        let settings: Vec<String> = network.settings.iter().map(print_named).collect();
        let _ = write!(out, "({})", settings.join(", "));
    }
    match &network.body {
        NetworkBody::Expr(expr) => {
            let _ = writeln!(out, " = {}", print_module(expr, 0));
        }
        NetworkBody::Wiring(stmts) => {
            out.push_str(" {\n");
            for stmt in stmts {
                print_docs(out, &stmt.docs, 1);
                out.push_str(INDENT);
                match &stmt.kind {
                    NetworkStmtKind::Input { name, shape } => {
                        let _ = write!(out, "input {}{}", name.node, print_shape(shape));
                    }
                    NetworkStmtKind::Node { name, module } => {
                        let _ = write!(out, "node {} = {}", name.node, print_module(module, 1));
                    }
                    NetworkStmtKind::Connect(path) => {
                        let names: Vec<&str> = path.iter().map(|n| n.as_str()).collect();
                        out.push_str(&names.join(" -> "));
                    }
                    NetworkStmtKind::Output(name) => {
                        let _ = write!(out, "output {}", name.node);
                    }
                }
                out.push('\n');
            }
            out.push_str("}\n");
        }
    }
}

/// Prints a module expression; combinators with module arguments go one member per line.
fn print_module(expr: &Expr, depth: usize) -> String {
    let ExprKind::Call { callee, args } = &expr.kind else { return print_expr(expr) };
    let has_module_args = args.iter().any(|arg| {
        !arg.docs.is_empty()
            || (matches!(arg.label, None | Some(ArgLabel::Member(_)))
                && matches!(arg.value.kind, ExprKind::Call { .. }))
    });
    if !has_module_args {
        return print_expr(expr);
    }
    let mut out = format!("{}(\n", callee.node);
    for arg in args {
        print_docs(&mut out, &arg.docs, depth + 1);
        out.push_str(&INDENT.repeat(depth + 1));
        match &arg.label {
            Some(ArgLabel::Member(name)) => {
                let _ = write!(out, "{}: {}", name.node, print_module(&arg.value, depth + 1));
            }
            Some(ArgLabel::Named(name)) => {
                let _ = write!(out, "{} = {}", name.node, print_expr(&arg.value));
            }
            None => out.push_str(&print_module(&arg.value, depth + 1)),
        }
        out.push_str(",\n");
    }
    out.push_str(&INDENT.repeat(depth));
    out.push(')');
    out
}

fn print_train(out: &mut String, train: &Train) {
    let _ = writeln!(out, "train {} {{", train.network.node);
    for stmt in &train.body {
        print_docs(out, &stmt.docs, 1);
        out.push_str(INDENT);
        match &stmt.kind {
            TrainStmtKind::Setting(named) => out.push_str(&print_named(named)),
            TrainStmtKind::Bound(bound) => {
                let _ = write!(out, "bound {}", print_bound(bound));
            }
        }
        out.push('\n');
    }
    out.push_str("}\n");
}

fn print_named(named: &NamedArg) -> String {
    format!("{} = {}", named.name.node, print_expr(&named.value))
}

/// Prints an expression on one line, adding parentheses only where precedence needs them
/// (parentheses the programmer wrote are kept as `Paren` nodes).
pub fn print_expr(expr: &Expr) -> String {
    print_with_precedence(expr, 0)
}

fn print_with_precedence(expr: &Expr, context: u8) -> String {
    match &expr.kind {
        ExprKind::Number(number) => match number.unit {
            Some(unit) => format!("{} {}", number.text, unit.symbol()),
            None => number.text.clone(),
        },
        ExprKind::Bool(value) => value.to_string(),
        ExprKind::Str(text) => format!("\"{text}\""),
        ExprKind::Ident(name) => name.clone(),
        ExprKind::Path(segments) => segments.join("."),
        ExprKind::Paren(inner) => format!("({})", print_expr(inner)),
        ExprKind::Unary(op, operand) => {
            let symbol = match op {
                UnaryOp::Neg => "-",
                UnaryOp::Not => "!",
            };
            let text = format!("{symbol}{}", print_with_precedence(operand, PREFIX_PRECEDENCE));
            parenthesise(text, PREFIX_PRECEDENCE, context)
        }
        ExprKind::Binary(op, left, right) => {
            let precedence = op.precedence();
            // Left-associative operators need parentheses on the right at equal precedence;
            // `^` is right-associative.
            let (left_context, right_context) =
                if *op == BinaryOp::Pow { (precedence + 1, precedence) } else { (precedence, precedence + 1) };
            let text = format!(
                "{} {} {}",
                print_with_precedence(left, left_context),
                op.symbol(),
                print_with_precedence(right, right_context)
            );
            parenthesise(text, precedence, context)
        }
        ExprKind::Call { args, .. } if args.iter().any(|arg| !arg.docs.is_empty()) => {
            // Doc comments need lines of their own.
            print_module(expr, 0)
        }
        ExprKind::Call { callee, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|arg| match &arg.label {
                    Some(ArgLabel::Named(name)) => format!("{} = {}", name.node, print_expr(&arg.value)),
                    Some(ArgLabel::Member(name)) => format!("{}: {}", name.node, print_expr(&arg.value)),
                    None => print_expr(&arg.value),
                })
                .collect();
            format!("{}({})", callee.node, args.join(", "))
        }
        ExprKind::If(cond, then, otherwise) => {
            let otherwise_text = match &otherwise.kind {
                ExprKind::If(..) => print_expr(otherwise),
                _ => format!("{{ {} }}", print_expr(otherwise)),
            };
            let text = format!("if {} {{ {} }} else {otherwise_text}", print_expr(cond), print_expr(then));
            // An `if` swallows everything after it, so it needs parentheses inside operators.
            if context > 0 { format!("({text})") } else { text }
        }
    }
}

fn parenthesise(text: String, precedence: u8, context: u8) -> String {
    if precedence < context { format!("({text})") } else { text }
}

/// Counts `//` and `/* */` comments (not `///` docs), which the syntax tree does not keep.
pub fn count_plain_comments(text: &str) -> usize {
    let mut count = 0;
    let mut rest = text;
    while let Some(index) = rest.find('/') {
        let after = &rest[index..];
        if after.starts_with("////") || (after.starts_with("//") && !after.starts_with("///")) {
            count += 1;
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else if after.starts_with("///") {
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else if after.starts_with("/*") {
            count += 1;
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
        } else {
            rest = &after[1..];
        }
    }
    count
}
