//! Choosing at run time between two ways of computing the same result, by timing them.
//!
//! On the kind of machine reef is measured on (two vCPUs of a VM), whether work handed to a
//! second thread pays depends on where the host places the vCPUs, and the host moves them
//! over time: A's backward pass with its weight-gradient products on a second thread ("beside
//! the loop") took 1.30 ms against 1.45 ms on one thread in one hour, and 1.82 ms against
//! 1.31 ms in another (the rows the loop hands over then cross between distant cores). Both
//! ways give the same bits, so a [`Choice`] may switch between them freely: it tries each a few
//! times, then takes the faster, and keeps trying the slower one now and then.

use std::sync::Mutex;
use std::time::Duration;

/// Times kept per way: the estimate is their median (robust to one call slowed, or made lucky,
/// by something else: a minimum let one fast call of the way that hands work to the other
/// core win over a steadier way; and it forgets a placement within a few tries).
const KEPT: usize = 4;

/// Tries of each way before the faster one is taken.
const FIRST_TRIES: usize = 3;

/// Calls between tries of the slower way, at first and after a try that was faster.
const PROBE_EVERY: u64 = 16;

/// The most calls between tries of the slower way: each try it loses doubles the interval up
/// to this (a placement that made flushing beside A's loop 60% slower cost 4% of every call
/// at a try per 16 calls, under 0.3% at one per 256).
const PROBE_AT_MOST: u64 = 256;

/// The timing state of a choice between two ways (`false` and `true`).
#[derive(Debug, Default)]
pub struct Choice {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Calls so far.
    calls: u64,
    /// The last [`KEPT`] times of each way, newest last.
    times: [Vec<Duration>; 2],
    /// Calls between tries of the slower way (0 until the first tries are done).
    interval: u64,
    /// The call at which the slower way is tried next.
    next_probe: u64,
    /// The way being tried as the slower one, until its time is recorded.
    probing: Option<bool>,
}

impl State {
    /// The estimate of a way: the median of its kept times (the mean of the middle two).
    fn estimate(&self, way: bool) -> Option<Duration> {
        let mut times = self.times[usize::from(way)].clone();
        times.sort();
        let n = times.len();
        (n > 0).then(|| (times[(n - 1) / 2] + times[n / 2]) / 2)
    }
}

impl Choice {
    /// Which way to take for the next call.
    pub fn pick(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.calls += 1;
        let tries = [state.times[0].len(), state.times[1].len()];
        if tries.iter().any(|t| *t < FIRST_TRIES) {
            // The way tried less (the first on a tie).
            return tries[1] < tries[0];
        }
        let faster = state.estimate(true) < state.estimate(false);
        if state.interval == 0 {
            state.interval = PROBE_EVERY;
            state.next_probe = state.calls + PROBE_EVERY;
        }
        if state.calls >= state.next_probe && state.probing.is_none() {
            state.probing = Some(!faster);
            return !faster;
        }
        faster
    }

    /// Records how long a call that took `way` ran.
    pub fn record(&self, way: bool, time: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.probing == Some(way) {
            // A try of the slower way: if it lost again, wait twice as long for the next one.
            let other = state.estimate(!way);
            state.interval = if other.is_some_and(|other| other < time) {
                (2 * state.interval).min(PROBE_AT_MOST)
            } else {
                PROBE_EVERY
            };
            state.next_probe = state.calls + state.interval;
            state.probing = None;
        }
        let times = &mut state.times[usize::from(way)];
        if times.len() == KEPT {
            times.remove(0);
        }
        times.push(time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `calls` calls where way `false` takes `a(call)` ms and `true` takes `b(call)`;
    /// returns the ways taken.
    fn run(calls: u64, a: impl Fn(u64) -> u64, b: impl Fn(u64) -> u64) -> Vec<bool> {
        let choice = Choice::default();
        (0..calls)
            .map(|call| {
                let way = choice.pick();
                let ms = if way { b(call) } else { a(call) };
                choice.record(way, Duration::from_millis(ms));
                way
            })
            .collect()
    }

    #[test]
    fn tries_both_then_takes_the_faster_and_probes_the_other_now_and_then() {
        let ways = run(64, |_| 18, |_| 13);
        assert_eq!(&ways[..6], &[false, true, false, true, false, true]);
        let slower = ways[6..].iter().filter(|w| !**w).count();
        assert!((1..=4).contains(&slower), "{slower} tries of the slower way in 58 calls");
        // And the other way round.
        let ways = run(64, |_| 13, |_| 18);
        assert!(ways[6..].iter().filter(|w| !**w).count() >= 54);
    }

    #[test]
    fn tries_a_way_that_keeps_losing_less_and_less_often() {
        let ways = run(2000, |_| 10, |_| 16);
        let tries: Vec<usize> = (6..2000).filter(|call| ways[*call]).collect();
        // Intervals 16, 32, 64, 128, then 256: about ten tries in 2000 calls, not 124.
        assert!((8..=14).contains(&tries.len()), "{tries:?}");
        let gaps: Vec<usize> = tries.windows(2).map(|pair| pair[1] - pair[0]).collect();
        assert!(gaps.windows(2).all(|pair| pair[1] >= pair[0]), "{gaps:?}");
        assert_eq!(*gaps.last().unwrap(), PROBE_AT_MOST as usize);
    }

    #[test]
    fn follows_a_change_of_the_faster_way() {
        // `true` is faster for 100 calls, then 50% slower than `false`.
        let ways = run(200, |_| 13, |call| if call < 100 { 10 } else { 20 });
        assert!(ways[10..100].iter().filter(|w| **w).count() >= 80);
        assert!(ways[150..].iter().filter(|w| !**w).count() >= 45, "still takes the slower way");
    }

    #[test]
    fn one_lucky_call_does_not_decide() {
        // `true` is usually slower (18) but its first call was fast (9).
        let ways = run(40, |_| 12, |call| if call == 1 { 9 } else { 18 });
        // Right after the first tries, and from then on but for the probes.
        assert_eq!(&ways[6..9], &[false, false, false]);
        assert!(ways[6..].iter().filter(|w| !**w).count() >= 32);
    }

    #[test]
    fn one_slow_call_does_not_decide() {
        // The first call of `false` is slow (a cold start); `false` is the faster way after.
        let ways = run(40, |call| if call == 0 { 100 } else { 10 }, |_| 15);
        assert!(ways[6..].iter().filter(|w| !**w).count() >= 30);
    }
}
