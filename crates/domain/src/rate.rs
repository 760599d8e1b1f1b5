//! A token bucket: `per_second` events on average, bursts up to `burst`. Each socket has
//! one, so a flooding client is refused while every other client is served as usual.
//! Pure: time comes in as an argument.

use crate::Millis;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Millis,
}

impl TokenBucket {
    pub fn new(per_second: u32, burst: u32, now: Millis) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            per_second: f64::from(per_second),
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Millis) -> bool {
        let elapsed = (now - self.last).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.last = now.max(self.last);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_applies() {
        let mut b = TokenBucket::new(10, 5, 0);
        assert_eq!((0..8).filter(|_| b.try_take(0)).count(), 5);
        assert!(!b.try_take(50), "half a token after 50 ms");
        assert!(b.try_take(100), "one token after 100 ms");
        assert!(!b.try_take(100));
    }

    #[test]
    fn tokens_never_exceed_the_burst() {
        let mut b = TokenBucket::new(10, 3, 0);
        assert_eq!((0..10).filter(|_| b.try_take(60_000)).count(), 3);
    }

    #[test]
    fn a_clock_going_backwards_gives_no_tokens() {
        let mut b = TokenBucket::new(10, 1, 1_000);
        assert!(b.try_take(1_000));
        assert!(!b.try_take(0));
    }
}
