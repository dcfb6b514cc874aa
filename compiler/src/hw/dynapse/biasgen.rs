//! Bias generator: (coarse, fine) ↔ current, with Rockpool's SE1 approximation
//! `I = fine / 255 · COARSE_BASE_CURRENTS[coarse]`.
//!
//! Encoding picks the representable current nearest (relatively) to the request; ties (several
//! codes give the same current, e.g. coarse 0 fine 7k = coarse 1 fine k) go to the smallest coarse
//! value, which has the finest resolution. That makes the choice canonical: encoding the current
//! of a chosen code gives the code back, which the lift → lower round trip relies on.
//! Nonzero currents below the dark current and currents above the largest coarse value are out
//! of range; the nearest achievable code is still returned, flagged. Resolution: each coarse
//! step is about 8×, so above ≈ 1.5 pA a code is within 2 % of any request; between the dark
//! current and 1.5 pA coarse 0's 0.059 pA steps give up to 6 %.

use super::bias::BiasValue;
use super::board::{BIAS_TIE_TOLERANCE, COARSE_BASE_CURRENTS, DARK_CURRENT, MAX_BIAS_CURRENT, MAX_FINE};

/// The outcome of encoding one current.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Encoded {
    /// The chosen setting.
    pub value: BiasValue,
    /// The current it produces, in ampere.
    pub current: f64,
    /// Whether the request was representable (within range); if not, `value` is the nearest
    /// achievable setting.
    pub in_range: bool,
}

/// The current (ampere) a setting produces.
pub fn bias_current(value: BiasValue) -> f64 {
    let full_scale = COARSE_BASE_CURRENTS[usize::from(value.coarse())];
    f64::from(value.fine()) / f64::from(MAX_FINE) * full_scale
}

/// The setting whose current is nearest to `target` (ampere).
pub fn encode_current(target: f64) -> Encoded {
    if target == 0.0 {
        return Encoded { value: BiasValue::ZERO, current: 0.0, in_range: true };
    }
    if target.is_nan() || target < 0.0 {
        // Negative or NaN: a bias is a current source of one polarity; zero is the nearest.
        return Encoded { value: BiasValue::ZERO, current: 0.0, in_range: false };
    }
    let in_range = (DARK_CURRENT..=MAX_BIAS_CURRENT * (1.0 + BIAS_TIE_TOLERANCE)).contains(&target);
    let clamped = target.clamp(DARK_CURRENT, MAX_BIAS_CURRENT);
    let mut best: Option<(BiasValue, f64, f64)> = None;
    for (coarse, full_scale) in COARSE_BASE_CURRENTS.iter().enumerate() {
        let step = full_scale / f64::from(MAX_FINE);
        // The smallest fine value at or above the dark current, and the nearest to the request.
        let lowest = (DARK_CURRENT / step).ceil();
        let fine = (clamped / step).round().clamp(lowest, f64::from(MAX_FINE));
        if lowest > f64::from(MAX_FINE) {
            continue;
        }
        let Ok(value) = BiasValue::new(coarse as u8, fine as u8) else { continue };
        let current = bias_current(value);
        let error = ((current - clamped) / clamped).abs();
        let better = match best {
            None => true,
            Some((_, _, best_error)) => error < best_error - BIAS_TIE_TOLERANCE,
        };
        if better {
            best = Some((value, current, error));
        }
    }
    match best {
        Some((value, current, _)) => Encoded { value, current, in_range },
        None => Encoded { value: BiasValue::ZERO, current: 0.0, in_range: false },
    }
}
