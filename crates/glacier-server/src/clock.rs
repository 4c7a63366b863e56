//! The service's one source of the time: the system clock, or — for tests of expiry, lock
//! windows and retrieval windows — a clock that moves only when told, so no test sleeps.

use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    Manual(Mutex<OffsetDateTime>),
}

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock that shows `start` until [`Clock::advance`] moves it.
    pub fn manual(start: OffsetDateTime) -> Clock {
        Clock(Arc::new(Source::Manual(Mutex::new(start))))
    }

    pub fn now(&self) -> OffsetDateTime {
        match &*self.0 {
            Source::System => OffsetDateTime::now_utc(),
            Source::Manual(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a manual clock forward (the system clock moves by itself: no effect).
    pub fn advance(&self, by: time::Duration) {
        if let Source::Manual(t) = &*self.0 {
            let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
            *t += by;
        }
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(_) => write!(f, "Clock::manual({})", self.now()),
        }
    }
}
