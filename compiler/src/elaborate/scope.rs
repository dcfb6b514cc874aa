//! The items visible to a compilation: the prelude's, shadowed by the user's.

use std::collections::HashMap;

use reef_lang::ast::{File, Function, ItemKind, Model, Network, Train};
use reef_lang::{Diagnostic, Diagnostics, Span};

/// Models, functions, networks and train blocks by name.
#[derive(Default)]
pub struct Scope<'a> {
    /// Models by name.
    pub models: HashMap<&'a str, &'a Model>,
    /// Functions by name.
    pub functions: HashMap<&'a str, &'a Function>,
    /// Networks by name (user file only).
    pub networks: Vec<&'a Network>,
    /// Train blocks (user file only).
    pub trains: Vec<&'a Train>,
}

impl<'a> Scope<'a> {
    /// Collects the prelude's items, then the user's, which shadow the prelude's. A name defined
    /// twice in the user's file is an error.
    pub fn collect(prelude: &'a File, user: &'a File, diagnostics: &mut Diagnostics) -> Scope<'a> {
        let mut scope = Scope::default();
        for item in &prelude.items {
            match &item.kind {
                ItemKind::Model(model) => {
                    scope.models.insert(&model.name.node, model);
                }
                ItemKind::Function(function) => {
                    scope.functions.insert(&function.name.node, function);
                }
                ItemKind::Network(_) | ItemKind::Train(_) => {}
            }
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for item in &user.items {
            let name = item.name();
            if !matches!(item.kind, ItemKind::Train(_)) {
                if let Some(first) = seen.get(name.as_str()) {
                    diagnostics.push(
                        Diagnostic::error("E0202", format!("`{}` is defined twice", name.node))
                            .primary(name.span, "defined again here")
                            .secondary(*first, "first defined here")
                            .help("give one of them another name"),
                    );
                    continue;
                }
                seen.insert(name.as_str(), name.span);
            }
            match &item.kind {
                ItemKind::Model(model) => {
                    scope.models.insert(&model.name.node, model);
                }
                ItemKind::Function(function) => {
                    scope.functions.insert(&function.name.node, function);
                }
                ItemKind::Network(network) => scope.networks.push(network),
                ItemKind::Train(train) => scope.trains.push(train),
            }
        }
        scope
    }
}

/// The closest of `candidates` to `name`, if close enough to be a likely typo.
pub fn did_you_mean<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&name.to_lowercase(), &candidate.to_lowercase()), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, candidate)| (*distance, *candidate))
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// "help: did you mean `x`?" if a candidate is close.
pub fn suggestion<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    did_you_mean(name, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
}
