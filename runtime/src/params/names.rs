//! Rockpool parameter names ↔ reef parameter names.
//!
//! Rockpool names a `Sequential`'s members `<i>_<Class>` and its JAX classes carry a `Jax`
//! suffix (`1_RateJax.w_rec`) or prefix (`1_JaxResidual.0_LinearJax.weight`); reef drops both
//! (`1_Rate.w_rec`, `1_Residual.0_Linear.weight`). Only module segments of the form
//! `<digits>_<Capitalised>` are rewritten; the last segment, the parameter itself, never is.
//! Both conversions leave names already in the target style unchanged.

/// Rockpool container classes whose `Jax` is a prefix, with their reef names.
const PREFIXED_CLASSES: [(&str, &str); 2] = [("JaxResidual", "Residual"), ("JaxSequential", "Sequential")];
/// The suffix of Rockpool's JAX module classes (`LinearJax`, `RateJax`, `LIFJax`, ...).
const JAX_SUFFIX: &str = "Jax";

/// Which naming a parameter file uses; reef reads both and writes either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameStyle {
    /// reef's names: `1_Rate.w_rec`.
    Reef,
    /// Rockpool's names: `1_RateJax.w_rec`, for files Rockpool loads (`--rockpool-names`).
    Rockpool,
}

impl NameStyle {
    /// Writes a reef parameter name in this style.
    pub fn from_reef(self, reef_name: &str) -> String {
        match self {
            NameStyle::Reef => reef_name.to_owned(),
            NameStyle::Rockpool => reef_to_rockpool(reef_name),
        }
    }
}

/// Turns a Rockpool name into a reef name: `1_JaxResidual.0_LinearJax.weight` →
/// `1_Residual.0_Linear.weight`. A reef name comes back unchanged.
pub fn rockpool_to_reef(name: &str) -> String {
    map_module_segments(name, |class| {
        if let Some((_, reef)) = PREFIXED_CLASSES.iter().find(|(rockpool, _)| *rockpool == class) {
            return (*reef).to_owned();
        }
        match class.strip_suffix(JAX_SUFFIX) {
            Some(model) if !model.is_empty() => model.to_owned(),
            _ => class.to_owned(),
        }
    })
}

/// Turns a reef name into a Rockpool name: `1_Residual.0_Linear.weight` →
/// `1_JaxResidual.0_LinearJax.weight`. A Rockpool name comes back unchanged.
pub fn reef_to_rockpool(name: &str) -> String {
    map_module_segments(name, |class| {
        if let Some((rockpool, _)) = PREFIXED_CLASSES.iter().find(|(_, reef)| *reef == class) {
            return (*rockpool).to_owned();
        }
        if class.ends_with(JAX_SUFFIX) || PREFIXED_CLASSES.iter().any(|(rockpool, _)| *rockpool == class) {
            return class.to_owned();
        }
        format!("{class}{JAX_SUFFIX}")
    })
}

/// Rewrites the class of every `<digits>_<Class>` segment before the last one with `rename`.
fn map_module_segments(name: &str, rename: impl Fn(&str) -> String) -> String {
    let segments: Vec<&str> = name.split('.').collect();
    let Some((parameter, modules)) = segments.split_last() else {
        return name.to_owned();
    };
    let mut renamed: Vec<String> = modules
        .iter()
        .map(|segment| match split_indexed(segment) {
            Some((index, class)) => format!("{index}_{}", rename(class)),
            None => (*segment).to_owned(),
        })
        .collect();
    renamed.push((*parameter).to_owned());
    renamed.join(".")
}

/// Splits `12_RateJax` into `("12", "RateJax")`; `None` unless the segment is digits, `_`, and a
/// class name starting with a capital letter.
fn split_indexed(segment: &str) -> Option<(&str, &str)> {
    let (index, class) = segment.split_once('_')?;
    let is_index = !index.is_empty() && index.bytes().all(|byte| byte.is_ascii_digit());
    let is_class = class.starts_with(|character: char| character.is_ascii_uppercase());
    (is_index && is_class).then_some((index, class))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (Rockpool name, reef name) pairs, each of which must map both ways.
    const PAIRS: [(&str, &str); 9] = [
        ("0_LinearJax.weight", "0_Linear.weight"),
        ("1_RateJax.w_rec", "1_Rate.w_rec"),
        ("1_LIFJax.tau_syn", "1_LIF.tau_syn"),
        ("2_ExpSynJax.tau", "2_ExpSyn.tau"),
        ("3_InstantJax.bias", "3_Instant.bias"),
        ("4_LIFODEJax.tau_mem", "4_LIFODE.tau_mem"),
        ("12_MyNeuronJax.gain", "12_MyNeuron.gain"),
        ("1_JaxResidual.0_LinearJax.weight", "1_Residual.0_Linear.weight"),
        ("0_JaxSequential.1_JaxResidual.2_RateJax.tau", "0_Sequential.1_Residual.2_Rate.tau"),
    ];

    #[test]
    fn maps_rockpool_names_to_reef_names_and_back() {
        for (rockpool, reef) in PAIRS {
            assert_eq!(rockpool_to_reef(rockpool), reef);
            assert_eq!(reef_to_rockpool(reef), rockpool);
            assert_eq!(NameStyle::Rockpool.from_reef(reef), rockpool);
            assert_eq!(NameStyle::Reef.from_reef(reef), reef);
        }
    }

    #[test]
    fn leaves_names_already_in_the_target_style_alone() {
        for (rockpool, reef) in PAIRS {
            assert_eq!(rockpool_to_reef(reef), reef);
            assert_eq!(reef_to_rockpool(rockpool), rockpool);
        }
    }

    #[test]
    fn rewrites_only_indexed_module_segments() {
        // The parameter itself, unindexed modules and lower-case segments are names, not classes.
        for name in ["lif.tau_mem", "weight", "0_linear.weight", "x_RateJax.tau", "1_Rate.3_BiasJax", "", "Jax.tau"] {
            assert_eq!(rockpool_to_reef(name), name);
        }
        assert_eq!(rockpool_to_reef("0_Jax.tau"), "0_Jax.tau");
        assert_eq!(reef_to_rockpool("lif.tau_mem"), "lif.tau_mem");
    }
}
