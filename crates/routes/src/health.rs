//! What a route has seen of each candidate: latency and success as exponentially weighted
//! moving averages (the `least_latency` and `adaptive` strategies read them), and a circuit
//! breaker — open after `failures` failures within `window`, for `cooldown`; then one call
//! probes, and its success closes the breaker (its failure opens it again).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use switchboard_config::BreakerConfig;

/// Weight of the newest observation in the moving averages.
const ALPHA: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaker {
    Closed,
    Open {
        until: Instant,
    },
    /// The cooldown is over; one call (the probe) is in flight.
    Probing,
}

#[derive(Debug)]
pub struct Health {
    /// Milliseconds; `None` until a call succeeded.
    pub latency_ms: Option<f64>,
    /// 0–1.
    pub success: f64,
    pub breaker: Breaker,
    failures: VecDeque<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            latency_ms: None,
            success: 1.0,
            breaker: Breaker::Closed,
            failures: VecDeque::new(),
        }
    }
}

/// Whether a call may go to the candidate now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Yes, as the breaker's probe.
    Probe,
    No,
}

impl Health {
    /// May a call go to this candidate now? Turns an open breaker whose cooldown is over into
    /// a probe (one at a time).
    pub fn admit(&mut self, now: Instant) -> Admit {
        match self.breaker {
            Breaker::Closed => Admit::Yes,
            Breaker::Open { until } if now >= until => {
                self.breaker = Breaker::Probing;
                Admit::Probe
            }
            Breaker::Open { .. } | Breaker::Probing => Admit::No,
        }
    }

    /// Whether the breaker lets every call through (no side effect, unlike [`Health::admit`]).
    pub fn is_closed(&self) -> bool {
        self.breaker == Breaker::Closed
    }

    /// A call answered (an `isError` result included: the candidate works).
    pub fn succeeded(&mut self, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        self.latency_ms = Some(match self.latency_ms {
            None => ms,
            Some(l) => l + ALPHA * (ms - l),
        });
        self.success += ALPHA * (1.0 - self.success);
        self.failures.clear();
        self.breaker = Breaker::Closed;
    }

    /// A call failed the candidate's way (unavailable, timed out, failed); true when this
    /// opened the breaker.
    pub fn failed(&mut self, now: Instant, rule: Option<&BreakerConfig>) -> bool {
        self.success -= ALPHA * self.success;
        let Some(rule) = rule else {
            return false;
        };
        if self.breaker == Breaker::Probing {
            self.breaker = Breaker::Open {
                until: now + rule.cooldown.0,
            };
            return true;
        }
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > rule.window.0)
        {
            self.failures.pop_front();
        }
        if self.failures.len() >= rule.failures as usize && self.breaker == Breaker::Closed {
            self.breaker = Breaker::Open {
                until: now + rule.cooldown.0,
            };
            self.failures.clear();
            return true;
        }
        false
    }

    /// A probe that ended neither way (the caller went away): let another probe through.
    pub fn probe_abandoned(&mut self) {
        if self.breaker == Breaker::Probing {
            self.breaker = Breaker::Open {
                until: Instant::now(),
            };
        }
    }

    /// The `adaptive` score: success squared over latency (unknown latency scores best, so a
    /// new or recovered candidate gets tried).
    pub fn score(&self) -> f64 {
        match self.latency_ms {
            None => f64::INFINITY,
            Some(l) => self.success * self.success / (l + 1.0),
        }
    }

    /// 0 closed, 1 probing, 2 open (the metric's value).
    pub fn breaker_gauge(&self) -> f64 {
        match self.breaker {
            Breaker::Closed => 0.0,
            Breaker::Probing => 1.0,
            Breaker::Open { .. } => 2.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_config::Dur;

    use super::*;

    #[test]
    fn the_breaker_opens_on_failures_in_the_window_probes_once_and_closes_on_success() {
        let rule = BreakerConfig {
            failures: 3,
            window: Dur::secs(10),
            cooldown: Dur::secs(5),
        };
        let mut h = Health::default();
        let t0 = Instant::now();
        assert!(!h.failed(t0, Some(&rule)));
        // An old failure falls out of the window.
        assert!(!h.failed(t0 + Duration::from_secs(11), Some(&rule)));
        assert!(!h.failed(t0 + Duration::from_secs(12), Some(&rule)));
        assert_eq!(h.admit(t0 + Duration::from_secs(12)), Admit::Yes);
        assert!(h.failed(t0 + Duration::from_secs(13), Some(&rule)));
        assert_eq!(h.admit(t0 + Duration::from_secs(14)), Admit::No);
        // After the cooldown: one probe, no second.
        assert_eq!(h.admit(t0 + Duration::from_secs(19)), Admit::Probe);
        assert_eq!(h.admit(t0 + Duration::from_secs(19)), Admit::No);
        // The probe fails: open again for a cooldown.
        assert!(h.failed(t0 + Duration::from_secs(19), Some(&rule)));
        assert_eq!(h.admit(t0 + Duration::from_secs(20)), Admit::No);
        assert_eq!(h.admit(t0 + Duration::from_secs(25)), Admit::Probe);
        h.succeeded(Duration::from_millis(10));
        assert_eq!(h.admit(t0 + Duration::from_secs(25)), Admit::Yes);
        assert_eq!(h.breaker_gauge(), 0.0);
    }

    #[test]
    fn scores_prefer_fast_successful_candidates_and_unknown_ones() {
        let (mut fast, mut slow, new) = (Health::default(), Health::default(), Health::default());
        for _ in 0..5 {
            fast.succeeded(Duration::from_millis(2));
            slow.succeeded(Duration::from_millis(50));
        }
        assert!(fast.score() > slow.score());
        assert!(new.score() > fast.score());
        let mut flaky = Health::default();
        flaky.succeeded(Duration::from_millis(2));
        for _ in 0..5 {
            flaky.failed(Instant::now(), None);
        }
        assert!(fast.score() > flaky.score());
    }
}
