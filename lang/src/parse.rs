//! Source text → [`ast::File`]: runs the pest grammar and builds the typed tree with spans.

use pest::Parser as _;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use crate::ast::*;
use crate::diag::{Diagnostic, Diagnostics};
use crate::span::{Ident, SourceId, Span, Spanned};

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct Grammar;

/// Parses one source text. A syntax error stops the parse (pest does not recover), so the
/// result carries at most one error; it names the place and what was expected there.
pub fn parse(source: SourceId, text: &str) -> Result<File, Diagnostics> {
    // Also after lossy UTF-8 decoding, which turns the first byte into U+FFFD.
    if text.as_bytes().starts_with(b"\x89HDF\r\n\x1a\n") || text.starts_with("\u{FFFD}HDF\r\n\u{1a}\n") {
        return Err(Diagnostic::error("E0100", "this is an HDF5 file, not reef source")
            .primary(Span::new(source, 0, 0), "HDF5 signature here")
            .help("NIR graphs and Lava-DL networks are stored as HDF5 (Lava-DL also uses `.net`); reef reads `.net` text files")
            .into());
    }
    let mut pairs = Grammar::parse(Rule::file, text).map_err(|error| syntax_error(source, text, error))?;
    let builder = Builder { source };
    let file = pairs.next().map(|pair| builder.file(pair)).unwrap_or(File { items: Vec::new() });
    Ok(file)
}

/// Parses a single expression (used by the CLI for `--loss` and `--bound`).
pub fn parse_expr(source: SourceId, text: &str) -> Result<Expr, Diagnostics> {
    let pairs = Grammar::parse(Rule::standalone_expr, text).map_err(|error| syntax_error(source, text, error))?;
    let builder = Builder { source };
    let expr = pairs
        .flatten()
        .find(|pair| pair.as_rule() == Rule::expr)
        .map(|pair| builder.expr(pair))
        .ok_or_else(|| Diagnostics::from(Diagnostic::error("E0101", "expected an expression")))?;
    Ok(expr)
}

fn syntax_error(source: SourceId, text: &str, error: pest::error::Error<Rule>) -> Diagnostics {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match error.location {
        InputLocation::Pos(pos) => (pos, pos),
        InputLocation::Span((start, end)) => (start, end),
    };
    // Point at the whole offending token, not just its first byte.
    let end = if end > start {
        end
    } else {
        let rest = text.get(start..).unwrap_or("");
        let token = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum::<usize>();
        start + token.max(rest.chars().next().map_or(0, char::len_utf8))
    };
    let found = match text.get(start..end) {
        Some("") | None => "end of input".to_string(),
        Some(token) => format!("`{token}`"),
    };
    let expected = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => describe_expected(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let mut diagnostic = Diagnostic::error("E0101", format!("syntax error: expected {expected}, found {found}"))
        .primary(Span::new(source, start, end), format!("expected {expected}"));
    if let Some(help) = syntax_hint(text, start) {
        diagnostic = diagnostic.help(help);
    }
    diagnostic.into()
}

/// Hints for the syntax mistakes people coming from Python or Rust make.
fn syntax_hint(text: &str, at: usize) -> Option<String> {
    let rest = text.get(at..).unwrap_or("");
    let before = text.get(..at).unwrap_or("").trim_end();
    if rest.starts_with('=') && !rest.starts_with("==") && before.ends_with('\'') {
        return None;
    }
    if rest.starts_with(';') {
        return Some("reef statements end at the end of the expression; remove the `;`".into());
    }
    if rest.starts_with("**") {
        return Some("powers are written `x ^ 2`".into());
    }
    if rest.starts_with('=') && !rest.starts_with("==") {
        return Some(
            "to update a state write `x <- value`; `x' = rate` is an ODE; `let x = value` names a value".into(),
        );
    }
    if rest.starts_with("def ") || rest.starts_with("class ") {
        return Some("define neuron models with `model Name(n: size) { ... }` and networks with `network`".into());
    }
    None
}

fn describe_expected(rules: &[Rule]) -> String {
    let mut names: Vec<&str> = rules.iter().map(|rule| rule_name(*rule)).collect();
    names.sort_unstable();
    names.dedup();
    match names.as_slice() {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What a grammar rule is called in an error message.
fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of input",
        Rule::item | Rule::model | Rule::network | Rule::function | Rule::train => {
            "an item (`model`, `fn`, `network` or `train`)"
        }
        Rule::ident | Rule::path_segment => "a name",
        Rule::path => "a parameter path",
        Rule::number | Rule::quantity => "a number",
        Rule::unit => "a unit (`s`, `ms`, `us`, `Hz`)",
        Rule::kind => "a kind (`size`, `bool`, `fn` or `number`)",
        Rule::expr | Rule::if_expr | Rule::call | Rule::boolean | Rule::string => "an expression",
        Rule::or | Rule::and | Rule::eq | Rule::ne | Rule::le | Rule::ge | Rule::lt | Rule::gt => "an operator",
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::matmul | Rule::pow => "an operator",
        Rule::neg | Rule::not | Rule::prefix | Rule::primary => "an expression",
        Rule::infix => "an operator",
        Rule::block_expr => "`{`",
        Rule::arg | Rule::named_arg | Rule::member_arg => "an argument",
        Rule::generic_param => "a generic parameter (`n: size`)",
        Rule::model_block => "`{`",
        Rule::model_stmt
        | Rule::param_decl
        | Rule::const_decl
        | Rule::state_decl
        | Rule::input_decl
        | Rule::let_stmt
        | Rule::output_stmt
        | Rule::if_stmt
        | Rule::ode
        | Rule::assign => "a statement",
        Rule::shape => "a shape `[n]`",
        Rule::bounds | Rule::bound => "a bound",
        Rule::bound_op => "`>=` or `<=`",
        Rule::condition => "`if`",
        Rule::settings => "settings `(dt = 1 ms)`",
        Rule::network_block => "`{`",
        Rule::network_stmt | Rule::network_input | Rule::node_decl | Rule::network_output | Rule::connection => {
            "a network statement (`input`, `node`, `a -> b` or `output`)"
        }
        Rule::train_stmt | Rule::train_bound | Rule::setting => "a train setting (`name = value` or `bound`)",
        Rule::grad_decl => "`grad(arg) = ...`",
        Rule::kw => "a keyword",
        Rule::keyword => "a keyword",
        Rule::doc => "a doc comment",
        Rule::file | Rule::standalone_expr => "a reef file",
        Rule::WHITESPACE | Rule::COMMENT | Rule::block_comment | Rule::line_comment | Rule::ident_char => "whitespace",
    }
}

/// Builds AST nodes from pest pairs of one source.
struct Builder {
    source: SourceId,
}

/// The children of a pair, without the `kw` tokens the grammar uses to match keywords whole.
fn children(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| p.as_rule() != Rule::kw)
}

fn pratt() -> PrattParser<Rule> {
    PrattParser::new()
        .op(Op::infix(Rule::or, Assoc::Left))
        .op(Op::infix(Rule::and, Assoc::Left))
        .op(Op::infix(Rule::eq, Assoc::Left)
            | Op::infix(Rule::ne, Assoc::Left)
            | Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left)
            | Op::infix(Rule::div, Assoc::Left)
            | Op::infix(Rule::matmul, Assoc::Left))
        .op(Op::prefix(Rule::neg) | Op::prefix(Rule::not))
        .op(Op::infix(Rule::pow, Assoc::Right))
}

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.source, s.start(), s.end())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Spanned::new(pair.as_str().to_string(), self.span(&pair))
    }

    fn file(&self, pair: Pair<'_, Rule>) -> File {
        let items = children(pair).filter(|p| p.as_rule() == Rule::item).map(|p| self.item(p)).collect();
        File { items }
    }

    /// Splits leading doc comments from the rest of a pair's children.
    fn docs_and_rest<'a>(&self, pair: Pair<'a, Rule>) -> (Vec<String>, Vec<Pair<'a, Rule>>) {
        let mut docs = Vec::new();
        let mut rest = Vec::new();
        for child in children(pair) {
            if child.as_rule() == Rule::doc {
                docs.push(doc_text(child.as_str()));
            } else {
                rest.push(child);
            }
        }
        (docs, rest)
    }

    fn item(&self, pair: Pair<'_, Rule>) -> Item {
        let (docs, rest) = self.docs_and_rest(pair);
        let inner = rest.into_iter().next().expect("grammar: item has a definition");
        let span = self.span(&inner);
        let kind = match inner.as_rule() {
            Rule::model => ItemKind::Model(self.model(inner)),
            Rule::function => ItemKind::Function(self.function(inner)),
            Rule::network => ItemKind::Network(self.network(inner)),
            Rule::train => ItemKind::Train(self.train(inner)),
            rule => unreachable!("grammar: item is {rule:?}"),
        };
        Item { docs, kind, span }
    }

    fn function(&self, pair: Pair<'_, Rule>) -> Function {
        let mut parts = children(pair).peekable();
        let name = self.ident(parts.next().expect("grammar: fn name"));
        let mut params = Vec::new();
        while parts.peek().is_some_and(|p| p.as_rule() == Rule::ident) {
            params.push(self.ident(parts.next().expect("peeked")));
        }
        let body = self.expr(parts.next().expect("grammar: fn body"));
        let grads = parts
            .map(|grad| {
                let mut g = children(grad);
                let param = self.ident(g.next().expect("grammar: grad arg"));
                let expr = self.expr(g.next().expect("grammar: grad expr"));
                GradDecl { param, expr }
            })
            .collect();
        Function { name, params, body, grads }
    }

    fn model(&self, pair: Pair<'_, Rule>) -> Model {
        let mut name = None;
        let mut generics = Vec::new();
        let mut body = Vec::new();
        for child in children(pair) {
            match child.as_rule() {
                Rule::ident => name = Some(self.ident(child)),
                Rule::generic_param => generics.push(self.generic_param(child)),
                Rule::model_block => body = self.model_block(child),
                rule => unreachable!("grammar: model has {rule:?}"),
            }
        }
        Model { name: name.expect("grammar: model name"), generics, body }
    }

    fn generic_param(&self, pair: Pair<'_, Rule>) -> GenericParam {
        let mut parts = children(pair);
        let name = self.ident(parts.next().expect("grammar: generic name"));
        let kind_pair = parts.next().expect("grammar: generic kind");
        let kind = match kind_pair.as_str() {
            "size" => GenericKind::Size,
            "bool" => GenericKind::Bool,
            "fn" => GenericKind::Fn,
            _ => GenericKind::Number,
        };
        let kind = Spanned::new(kind, self.span(&kind_pair));
        let default = parts.next().map(|p| self.expr(p));
        GenericParam { name, kind, default }
    }

    fn model_block(&self, pair: Pair<'_, Rule>) -> Vec<Stmt> {
        children(pair).map(|p| self.model_stmt(p)).collect()
    }

    fn model_stmt(&self, pair: Pair<'_, Rule>) -> Stmt {
        let (docs, rest) = self.docs_and_rest(pair);
        let inner = rest.into_iter().next().expect("grammar: statement");
        let span = self.span(&inner);
        let kind = self.model_stmt_kind(inner);
        Stmt { docs, kind, span }
    }

    fn model_stmt_kind(&self, inner: Pair<'_, Rule>) -> StmtKind {
        match inner.as_rule() {
            Rule::param_decl => StmtKind::Param(self.decl(inner)),
            Rule::const_decl => StmtKind::Const(self.decl(inner)),
            Rule::state_decl => StmtKind::State(self.decl(inner)),
            Rule::input_decl => {
                let mut parts = children(inner);
                let name = self.ident(parts.next().expect("grammar: input name"));
                let shape = parts.next().map(|p| self.shape(p));
                StmtKind::Input { name, shape }
            }
            Rule::let_stmt => {
                let (name, value) = self.name_and_expr(inner);
                StmtKind::Let { name, value }
            }
            Rule::assign => {
                let (target, value) = self.name_and_expr(inner);
                StmtKind::Assign { target, value }
            }
            Rule::ode => {
                let (target, rate) = self.name_and_expr(inner);
                StmtKind::Ode { target, rate }
            }
            Rule::output_stmt => StmtKind::Output(self.expr(children(inner).next().expect("grammar: output"))),
            Rule::if_stmt => self.if_stmt(inner),
            rule => unreachable!("grammar: model statement is {rule:?}"),
        }
    }

    fn if_stmt(&self, pair: Pair<'_, Rule>) -> StmtKind {
        let mut parts = children(pair);
        let cond = self.expr(parts.next().expect("grammar: if condition"));
        let then = self.model_block(parts.next().expect("grammar: if block"));
        let otherwise = parts.next().map(|p| match p.as_rule() {
            Rule::model_block => self.model_block(p),
            _ => {
                let span = self.span(&p);
                vec![Stmt { docs: Vec::new(), kind: self.if_stmt(p), span }]
            }
        });
        StmtKind::If { cond, then, otherwise }
    }

    fn name_and_expr(&self, pair: Pair<'_, Rule>) -> (Ident, Expr) {
        let mut parts = children(pair);
        let name = self.ident(parts.next().expect("grammar: name"));
        let value = self.expr(parts.next().expect("grammar: value"));
        (name, value)
    }

    fn decl(&self, pair: Pair<'_, Rule>) -> Decl {
        let mut parts = children(pair);
        let name = self.ident(parts.next().expect("grammar: declared name"));
        let mut shape = None;
        let mut init = None;
        let mut bounds = Vec::new();
        let mut condition = None;
        for part in parts {
            match part.as_rule() {
                Rule::shape => shape = Some(self.shape(part)),
                Rule::expr => init = Some(self.expr(part)),
                Rule::bounds => bounds = children(part).map(|b| self.bound(b)).collect(),
                Rule::condition => condition = children(part).next().map(|c| self.expr(c)),
                rule => unreachable!("grammar: declaration has {rule:?}"),
            }
        }
        Decl { name, shape, init: init.expect("grammar: declaration value"), bounds, condition }
    }

    fn shape(&self, pair: Pair<'_, Rule>) -> Vec<Expr> {
        children(pair).map(|p| self.expr(p)).collect()
    }

    fn bound(&self, pair: Pair<'_, Rule>) -> Bound {
        let span = self.span(&pair);
        let mut parts = children(pair);
        let target = self.ident(parts.next().expect("grammar: bound target"));
        let kind = bound_kind(parts.next().expect("grammar: bound op").as_str());
        let value = self.expr(parts.next().expect("grammar: bound value"));
        Bound { target, kind, value, span }
    }

    fn network(&self, pair: Pair<'_, Rule>) -> Network {
        let mut name = None;
        let mut settings = Vec::new();
        let mut body = None;
        for child in children(pair) {
            match child.as_rule() {
                Rule::ident => name = Some(self.ident(child)),
                Rule::settings => settings = children(child).map(|a| self.named_arg(a)).collect(),
                Rule::expr => body = Some(NetworkBody::Expr(self.expr(child))),
                Rule::network_block => {
                    body = Some(NetworkBody::Wiring(children(child).map(|s| self.network_stmt(s)).collect()))
                }
                rule => unreachable!("grammar: network has {rule:?}"),
            }
        }
        Network { name: name.expect("grammar: network name"), settings, body: body.expect("grammar: network body") }
    }

    fn network_stmt(&self, pair: Pair<'_, Rule>) -> NetworkStmt {
        let (docs, rest) = self.docs_and_rest(pair);
        let inner = rest.into_iter().next().expect("grammar: network statement");
        let span = self.span(&inner);
        let kind = match inner.as_rule() {
            Rule::network_input => {
                let mut parts = children(inner);
                let name = self.ident(parts.next().expect("grammar: input name"));
                let shape = self.shape(parts.next().expect("grammar: input shape"));
                NetworkStmtKind::Input { name, shape }
            }
            Rule::node_decl => {
                let (name, module) = self.name_and_expr(inner);
                NetworkStmtKind::Node { name, module }
            }
            Rule::network_output => {
                NetworkStmtKind::Output(self.ident(children(inner).next().expect("grammar: output name")))
            }
            Rule::connection => NetworkStmtKind::Connect(children(inner).map(|p| self.ident(p)).collect()),
            rule => unreachable!("grammar: network statement is {rule:?}"),
        };
        NetworkStmt { docs, kind, span }
    }

    fn train(&self, pair: Pair<'_, Rule>) -> Train {
        let mut parts = children(pair);
        let network = self.ident(parts.next().expect("grammar: train network"));
        let body = parts
            .map(|stmt| {
                let (docs, rest) = self.docs_and_rest(stmt);
                let inner = rest.into_iter().next().expect("grammar: train statement");
                let span = self.span(&inner);
                let kind = match inner.as_rule() {
                    Rule::setting => TrainStmtKind::Setting(self.named_arg(inner)),
                    Rule::train_bound => {
                        let mut b = children(inner);
                        let target = self.ident(b.next().expect("grammar: bound target"));
                        let kind = bound_kind(b.next().expect("grammar: bound op").as_str());
                        let value = self.expr(b.next().expect("grammar: bound value"));
                        TrainStmtKind::Bound(Bound { target, kind, value, span })
                    }
                    rule => unreachable!("grammar: train statement is {rule:?}"),
                };
                TrainStmt { docs, kind, span }
            })
            .collect();
        Train { network, body }
    }

    fn named_arg(&self, pair: Pair<'_, Rule>) -> NamedArg {
        let (name, value) = self.name_and_expr(pair);
        NamedArg { name, value }
    }

    /// Builds an expression from an `expr` pair with the Pratt parser.
    pub(crate) fn expr(&self, pair: Pair<'_, Rule>) -> Expr {
        pratt()
            .map_primary(|primary| self.primary(primary))
            .map_prefix(|op, operand| {
                let span = self.span(&op).to(operand.span);
                let op = if op.as_rule() == Rule::neg { UnaryOp::Neg } else { UnaryOp::Not };
                Expr { kind: ExprKind::Unary(op, Box::new(operand)), span }
            })
            .map_infix(|left, op, right| {
                let span = left.span.to(right.span);
                let op = match op.as_rule() {
                    Rule::or => BinaryOp::Or,
                    Rule::and => BinaryOp::And,
                    Rule::eq => BinaryOp::Eq,
                    Rule::ne => BinaryOp::Ne,
                    Rule::lt => BinaryOp::Lt,
                    Rule::le => BinaryOp::Le,
                    Rule::gt => BinaryOp::Gt,
                    Rule::ge => BinaryOp::Ge,
                    Rule::add => BinaryOp::Add,
                    Rule::sub => BinaryOp::Sub,
                    Rule::mul => BinaryOp::Mul,
                    Rule::div => BinaryOp::Div,
                    Rule::matmul => BinaryOp::MatMul,
                    Rule::pow => BinaryOp::Pow,
                    rule => unreachable!("grammar: infix {rule:?}"),
                };
                Expr { kind: ExprKind::Binary(op, Box::new(left), Box::new(right)), span }
            })
            .parse(pair.into_inner())
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::expr => ExprKind::Paren(Box::new(self.expr(pair))),
            Rule::quantity => ExprKind::Number(self.quantity(pair)),
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            Rule::string => {
                let text = pair.as_str();
                ExprKind::Str(text.get(1..text.len() - 1).unwrap_or("").to_string())
            }
            Rule::ident => ExprKind::Ident(pair.as_str().to_string()),
            Rule::path => ExprKind::Path(pair.into_inner().map(|s| s.as_str().to_string()).collect()),
            Rule::if_expr => {
                let mut parts = children(pair);
                let cond = self.expr(parts.next().expect("grammar: if condition"));
                let then = self.expr(parts.next().expect("grammar: then"));
                let otherwise = parts.next().expect("grammar: else");
                let otherwise =
                    if otherwise.as_rule() == Rule::if_expr { self.primary(otherwise) } else { self.expr(otherwise) };
                ExprKind::If(Box::new(cond), Box::new(then), Box::new(otherwise))
            }
            Rule::call => {
                let mut parts = children(pair);
                let callee = self.ident(parts.next().expect("grammar: callee"));
                let args = parts.map(|arg| self.arg(arg)).collect();
                ExprKind::Call { callee, args }
            }
            rule => unreachable!("grammar: primary is {rule:?}"),
        };
        Expr { kind, span }
    }

    fn arg(&self, pair: Pair<'_, Rule>) -> Arg {
        let (docs, rest) = self.docs_and_rest(pair);
        let inner = rest.into_iter().next().expect("grammar: argument");
        match inner.as_rule() {
            Rule::named_arg => {
                let (name, value) = self.name_and_expr(inner);
                Arg { docs, label: Some(ArgLabel::Named(name)), value }
            }
            Rule::member_arg => {
                let (name, value) = self.name_and_expr(inner);
                Arg { docs, label: Some(ArgLabel::Member(name)), value }
            }
            _ => Arg { docs, label: None, value: self.expr(inner) },
        }
    }

    fn quantity(&self, pair: Pair<'_, Rule>) -> Number {
        let mut parts = pair.into_inner();
        let digits = parts.next().expect("grammar: number").as_str();
        let unit = parts.next().map(|u| match u.as_str() {
            "s" => Unit::Second,
            "ms" => Unit::Millisecond,
            "us" => Unit::Microsecond,
            _ => Unit::Hertz,
        });
        // The grammar only admits valid float syntax; parse::<f64> accepts all of it.
        let value = digits.parse::<f64>().unwrap_or(f64::NAN);
        Number { text: digits.to_string(), value, unit }
    }
}

fn bound_kind(op: &str) -> BoundKind {
    if op == ">=" { BoundKind::Lower } else { BoundKind::Upper }
}

/// The text of a `///` line without the marker and one leading space.
fn doc_text(line: &str) -> String {
    let text = line.strip_prefix("///").unwrap_or(line);
    text.strip_prefix(' ').unwrap_or(text).trim_end().to_string()
}
