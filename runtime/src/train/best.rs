//! The best epoch so far: the lowest finite epoch loss and the parameters it was measured at.

use crate::params::ParamSet;

/// The epoch with the lowest finite loss, and the parameters that loss belongs to.
///
/// An epoch's loss is measured at the parameters *before* its updates (exactly so with one
/// batch per epoch; with minibatches it is the mean over the epoch's steps, and `params` are
/// those the epoch started from). Kept because a loss that jumps between epochs makes the final
/// parameters a matter of where training stopped; these are the ones worth keeping.
#[derive(Clone, Debug, PartialEq)]
pub struct BestEpoch {
    /// The epoch whose start parameters these are, counting from 1 (one past the last epoch:
    /// the final parameters, when `reef train` finds them better than every epoch's).
    pub epoch: usize,
    /// Its loss (as in the history and `loss.csv`).
    pub loss: f64,
    /// The parameters the epoch started from.
    pub params: ParamSet,
}

impl BestEpoch {
    /// Whether an epoch with `loss` would replace `current`: its loss is finite and strictly
    /// lower (a tie keeps the earlier epoch).
    pub fn improves(current: Option<&BestEpoch>, loss: f64) -> bool {
        loss.is_finite() && current.is_none_or(|best| loss < best.loss)
    }

    /// Records epoch `epoch`, started from `params`, in `current` if its `loss` improves on it.
    pub fn offer(current: &mut Option<BestEpoch>, epoch: usize, loss: f64, params: ParamSet) {
        if Self::improves(current.as_ref(), loss) {
            *current = Some(BestEpoch { epoch, loss, params });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_lowest_finite_loss() {
        let mut best = None;
        for (epoch, loss) in [(1, 0.5), (2, f64::NAN), (3, 0.25), (4, 0.25), (5, f64::NEG_INFINITY), (6, 0.3)] {
            BestEpoch::offer(&mut best, epoch, loss, ParamSet::new());
        }
        assert_eq!(best.map(|best| (best.epoch, best.loss)), Some((3, 0.25)));
        let mut none = None;
        BestEpoch::offer(&mut none, 1, f64::INFINITY, ParamSet::new());
        assert!(none.is_none());
    }
}
