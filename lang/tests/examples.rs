//! Every example and the prelude parse, print canonically, and print→parse gives the same tree.

use reef_lang::{Sources, parse, print_file, prelude};

fn check_round_trip(name: &str, text: &str) -> String {
    let mut sources = Sources::with_prelude();
    let id = sources.add(name, text);
    let file = match parse(id, text) {
        Ok(file) => file,
        Err(diagnostics) => panic!("{name} does not parse:\n{}", sources.render(&diagnostics, false)),
    };
    assert!(!file.items.is_empty(), "{name} has no items");
    let printed = print_file(&file);
    let reparsed_id = sources.add("printed", printed.as_str());
    let reparsed = match parse(reparsed_id, &printed) {
        Ok(file) => file,
        Err(diagnostics) => panic!("printed {name} does not parse:\n{}\n{printed}", sources.render(&diagnostics, false)),
    };
    assert_eq!(reparsed, file, "print -> parse changed the tree of {name}");
    assert_eq!(print_file(&reparsed), printed, "printing {name} is not idempotent");
    printed
}

#[test]
fn examples_round_trip() {
    insta::glob!("../../examples", "*.net", |path| {
        let text = std::fs::read_to_string(path).expect("example is readable");
        let printed = check_round_trip(&path.display().to_string(), &text);
        insta::assert_snapshot!(printed);
    });
}

#[test]
fn prelude_round_trips() {
    let printed = check_round_trip(prelude::PRELUDE_NAME, prelude::PRELUDE_SOURCE);
    insta::assert_snapshot!(printed);
}
