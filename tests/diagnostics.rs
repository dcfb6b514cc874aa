//! One bad input per file in `tests/diagnostics/`: each must produce at least one located error
//! (asserted), and its rendering is snapshotted. Also: mutated and truncated examples never
//! make the front end panic.

use proptest::prelude::*;
use reef_lang::Sources;

fn diagnose(name: &str, text: &str) -> Option<String> {
    let mut sources = Sources::with_prelude();
    let id = sources.add(name, text);
    match reef_compiler::compile_source(&sources, id) {
        Ok(_) => None,
        Err(diagnostics) => {
            for diagnostic in &diagnostics.0 {
                assert!(diagnostic.primary_span().is_some(), "{name}: error without a place: {diagnostic}");
                assert!(diagnostic.code.starts_with('E'), "{name}: error without a code");
            }
            Some(sources.render(&diagnostics, false))
        }
    }
}

#[test]
fn every_bad_input_is_reported_with_its_place() {
    insta::glob!("diagnostics", "err_*.net", |path| {
        let bytes = std::fs::read(path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let name = format!("tests/diagnostics/{}", path.file_name().unwrap().to_string_lossy());
        let rendered = diagnose(&name, &text).unwrap_or_else(|| panic!("{name} compiled without error"));
        insta::assert_snapshot!(rendered);
    });
}

fn examples() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "net"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    texts.sort();
    texts
}

proptest! {
    // A fixed seed keeps CI reproducible; change it locally to explore other cases.
    #![proptest_config(ProptestConfig { cases: 300, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eef), failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn mutated_examples_never_panic(example in 0usize..9, cut in 0usize..2000, at in 0usize..2000, byte in prop::sample::select(b"(){}[],=:-<>'@^*/+ \n0123456789abcxyz_.\"!".to_vec())) {
        let texts = examples();
        let text = &texts[example % texts.len()];
        let mut bytes = text.as_bytes().to_vec();
        let cut = cut % (bytes.len() + 1);
        let at = at % (bytes.len() + 1);
        if at < bytes.len() { bytes[at] = byte; }
        for variant in [bytes.clone(), bytes[..cut].to_vec()] {
            let text = String::from_utf8_lossy(&variant);
            let _ = diagnose("mutated.net", &text);
        }
    }
}
