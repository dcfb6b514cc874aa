//! Train blocks: what each setting becomes, and the located error of each kind of mistake.

use super::*;

const NETWORK: &str = "network Net(dt = 1 ms) = Sequential(Linear(1, 2))\n";

fn read(block: &str) -> Result<TrainBlock, Diagnostics> {
    let text = format!("{NETWORK}{block}");
    let file = reef_lang::parse(reef_lang::SourceId(0), &text)?;
    read_train_block(&file, "Net", &["Net"])
}

/// The code, primary label's text and help of every error.
fn errors(block: &str) -> Vec<(&'static str, String, Option<String>)> {
    let text = format!("{NETWORK}{block}");
    match read(block) {
        Ok(block) => unreachable!("expected errors, got {block:?}"),
        Err(errors) => errors
            .0
            .into_iter()
            .map(|error| {
                let span = error.primary_span().map(|span| text[span.range()].to_owned()).unwrap_or_default();
                (error.code, span, error.help)
            })
            .collect(),
    }
}

#[test]
fn settings_become_values_in_si_units() -> Result<(), Diagnostics> {
    let block = read(
        "train Net {
            data = pulse_chirp(pulse = 20 ms, chirp_freq = 5, padding = 0.5 s)
            loss = mse(output, target)
            optimizer = adam(lr = 1e-4, b2 = 0.99)
            epochs = 30
            batch = 4
            seed = 7
            project_bounds = true
        }",
    )?;
    let args = vec![("pulse".to_owned(), 0.02), ("chirp_freq".to_owned(), 5.0), ("padding".to_owned(), 0.5)];
    assert!(matches!(&block.data, Some(DataSpec::Task { task: "pulse_chirp", args: found, .. }) if *found == args));
    let adam = AdamConfig { b2: 0.99, ..AdamConfig::default() };
    assert_eq!(block.optimiser, Some(OptimiserKind::Adam(adam)));
    assert_eq!((block.learning_rate, block.epochs, block.batch, block.seed), (Some(1e-4), Some(30), Some(4), Some(7)));
    assert_eq!(block.project_bounds, Some(true));

    let block = read("train Net { data = \"runs/data.npz\" optimizer = sgd }")?;
    assert!(matches!(&block.data, Some(DataSpec::File { path, .. }) if path == std::path::Path::new("runs/data.npz")));
    assert_eq!((block.optimiser, block.learning_rate), (Some(OptimiserKind::Sgd), None));
    assert_eq!(read("")?, TrainBlock::default());
    Ok(())
}

#[test]
fn unknown_names_are_located_with_a_suggestion() {
    let help = |name: &str| Some(format!("did you mean `{name}`?"));
    assert_eq!(errors("train Net { epoch = 3 }"), [("E0510", "epoch".to_owned(), help("epochs"))]);
    assert_eq!(errors("train Nett { }"), [("E0515", "Nett".to_owned(), help("Net"))]);
    assert_eq!(errors("train Net { optimizer = addam(lr = 1) }"), [("E0514", "addam".to_owned(), help("adam"))]);
    assert_eq!(errors("train Net { optimizer = adam(rate = 1) }")[0].0, "E0514");
    assert_eq!(
        errors("train Net { data = pulse_chrip() }"),
        [("E0513", "pulse_chrip".to_owned(), help("pulse_chirp"))]
    );
    assert_eq!(errors("train Net { data = pulse_chirp(puls = 1 s) }"), [("E0513", "puls".to_owned(), help("pulse"))]);
}

#[test]
fn bad_values_are_located() {
    let located = |block: &str| errors(block).into_iter().map(|(code, span, _)| (code, span)).collect::<Vec<_>>();
    let bad = |span: &str| vec![("E0512", span.to_owned())];
    assert_eq!(located("train Net { epochs = 2.5 }"), bad("2.5"));
    assert_eq!(located("train Net { epochs = 0 }"), bad("0"));
    assert_eq!(located("train Net { batch = 3 ms }"), bad("3 ms"));
    assert_eq!(located("train Net { seed = -1 }"), bad("-1"));
    assert_eq!(located("train Net { optimizer = adam(lr = -1e-3) }"), bad("-1e-3"));
    assert_eq!(located("train Net { optimizer = adam(b1 = 1) }"), bad("1"));
    assert_eq!(located("train Net { data = 3 }"), bad("3"));
    assert_eq!(located("train Net { project_bounds = 1 }"), bad("1"));
    assert_eq!(located("train Net { data = pulse_chirp(pulse = 50) }"), bad("50"));
    assert_eq!(located("train Net { data = pulse_chirp(chirp_freq = 10 Hz) }"), bad("10 Hz"));
    assert_eq!(located("train Net { data = random_sin_mapping(classes = 1.5) }"), bad("1.5"));
    assert_eq!(located("train Net { data = pulse_chirp(50 ms) }"), bad("50 ms"));
    let twice = errors("train Net { epochs = 1 epochs = 2 }");
    assert_eq!(twice.iter().map(|(code, ..)| *code).collect::<Vec<_>>(), ["E0511"]);
    let every = located("train Net { epochs = 0 bacth = 2 data = pulse_chirp(pulse = 1 Hz) }");
    assert_eq!(every.iter().map(|(code, _)| *code).collect::<Vec<_>>(), ["E0512", "E0510", "E0512"]);
}
