//! Faults on demand (`glacier serve --faults`): a share of requests answered as the real
//! service answers when it throttles, fails, times out, drops the connection or sends slowly,
//! so that client code is tested for what it will meet. Each fault is decided once the request
//! is authenticated, and changes nothing it should not:
//!
//! - `throttle` (400 `ThrottlingException`), `internal` (500 `ServiceUnavailableException`),
//!   `timeout` (408 `RequestTimeoutException`) and `reset` (the connection closed without an
//!   answer) are decided **before the request takes effect**: the handler never runs, so
//!   nothing is written, and a refused write is never kept.
//! - `slow` is decided **after the request fully committed**: the answer is the real one, sent
//!   slowly ([`SLOW_START`], then [`SLOW_RATE`]), so an acknowledged write is kept whether or
//!   not the client waits for all of it.

use crate::error::ApiError;
use axum::body::Body;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use glacier_core::{ErrorCode, Operation};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::HashMap;
use std::time::Duration;

/// How long a slow answer waits before its head.
pub(crate) const SLOW_START: Duration = Duration::from_millis(500);
/// How fast a slow answer's body is sent, in bytes a second.
pub(crate) const SLOW_RATE: usize = 256 * 1024;
/// The pieces a slow body is sent in.
const SLOW_PIECE: usize = 16 * 1024;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Throttle,
    Internal,
    Timeout,
    Reset,
    Slow,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::Throttle,
        Fault::Internal,
        Fault::Timeout,
        Fault::Reset,
        Fault::Slow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::Internal => "internal",
            Fault::Timeout => "timeout",
            Fault::Reset => "reset",
            Fault::Slow => "slow",
        }
    }
}

/// The share of requests each fault is injected into: for every operation, and per operation
/// (a rate given for an operation replaces that fault's rate for it). Written
/// `throttle=0.05,internal=0.02,UploadMultipartPart:reset=0.2`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultRates {
    every: HashMap<Fault, f64>,
    by_operation: HashMap<Operation, HashMap<Fault, f64>>,
}

impl std::str::FromStr for FaultRates {
    type Err = String;

    fn from_str(s: &str) -> Result<FaultRates, String> {
        let mut rates = FaultRates::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (target, rate) = item.split_once('=').ok_or_else(|| {
                format!("{item:?}: expected FAULT=SHARE or OPERATION:FAULT=SHARE")
            })?;
            let (operation, fault) = match target.split_once(':') {
                Some((op, fault)) => (Some(op.trim()), fault.trim()),
                None => (None, target.trim()),
            };
            let fault = Fault::ALL
                .into_iter()
                .find(|f| f.as_str() == fault)
                .ok_or_else(|| {
                    format!("{fault:?} is not a fault: throttle, internal, timeout, reset or slow")
                })?;
            let rate: f64 = rate
                .trim()
                .parse()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("{item:?}: the share must be a number from 0 to 1"))?;
            let slot = match operation {
                None => &mut rates.every,
                Some(op) => rates
                    .by_operation
                    .entry(op.parse::<Operation>().map_err(|e| e.to_string())?)
                    .or_default(),
            };
            slot.insert(fault, rate);
        }
        for (op, rates) in std::iter::once((None, &rates.every))
            .chain(rates.by_operation.iter().map(|(op, r)| (Some(op), r)))
        {
            if rates.values().sum::<f64>() > 1.0 {
                return Err(match op {
                    Some(op) => format!("the shares of {op}'s faults add up to more than 1"),
                    None => "the shares of the faults add up to more than 1".to_owned(),
                });
            }
        }
        Ok(rates)
    }
}

impl FaultRates {
    fn rate(&self, op: Operation, fault: Fault) -> f64 {
        self.by_operation
            .get(&op)
            .and_then(|r| r.get(&fault))
            .or_else(|| self.every.get(&fault))
            .copied()
            .unwrap_or(0.0)
    }
}

/// Decides which requests get which fault: with a seed, the same requests in the same order
/// get the same faults.
pub(crate) struct Injector {
    rates: FaultRates,
    rng: std::sync::Mutex<StdRng>,
}

impl Injector {
    pub(crate) fn new(rates: FaultRates, seed: Option<u64>) -> Injector {
        Injector {
            rates,
            rng: std::sync::Mutex::new(match seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_os_rng(),
            }),
        }
    }

    /// The fault this request of `op` gets, if any.
    pub(crate) fn decide(&self, op: Operation) -> Option<Fault> {
        let draw: f64 = match self.rng.lock() {
            Ok(mut rng) => rng.random(),
            Err(_) => rand::rng().random(),
        };
        let mut below = 0.0;
        Fault::ALL.into_iter().find(|f| {
            below += self.rates.rate(op, *f);
            draw < below
        })
    }
}

/// Marks a response whose connection is to be closed instead of answered (`reset`): the
/// connection loop drops it unanswered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reset;

/// The request answered with `fault`: refused before it takes effect, or answered slowly after.
pub(crate) async fn inject(fault: Fault, req: axum::extract::Request, next: Next) -> Response {
    let note = "(a fault injected by glacier serve --faults)";
    let error = |code, message: &str| ApiError::new(code, format!("{message} {note}"));
    match fault {
        Fault::Throttle => error(ErrorCode::ThrottlingException, "Rate exceeded").into_response(),
        Fault::Internal => error(
            ErrorCode::ServiceUnavailableException,
            "The service is unavailable; try again",
        )
        .into_response(),
        Fault::Timeout => error(
            ErrorCode::RequestTimeoutException,
            "The request timed out; try again",
        )
        .into_response(),
        Fault::Reset => {
            let mut resp = Response::new(Body::empty());
            resp.extensions_mut().insert(Reset);
            resp
        }
        Fault::Slow => slow(next.run(req).await).await,
    }
}

/// `response` sent slowly: its head after [`SLOW_START`], its body at [`SLOW_RATE`].
async fn slow(response: Response) -> Response {
    tokio::time::sleep(SLOW_START).await;
    let (parts, body) = response.into_parts();
    let pieces = body.into_data_stream().flat_map(|chunk| {
        let pieces: Vec<Result<Bytes, axum::Error>> = match chunk {
            Ok(mut b) => {
                let mut out = Vec::with_capacity(b.len() / SLOW_PIECE + 1);
                while b.len() > SLOW_PIECE {
                    out.push(Ok(b.split_to(SLOW_PIECE)));
                }
                out.push(Ok(b));
                out
            }
            Err(e) => vec![Err(e)],
        };
        futures_util::stream::iter(pieces)
    });
    let pause = Duration::from_secs_f64(SLOW_PIECE as f64 / SLOW_RATE as f64);
    let paced = pieces.then(move |piece| async move {
        if piece.as_ref().is_ok_and(|p| p.len() == SLOW_PIECE) {
            tokio::time::sleep(pause).await;
        }
        piece
    });
    Response::from_parts(parts, Body::from_stream(paced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_refuse_with_reasons() {
        let r: FaultRates = "throttle=0.05, internal=0.02,UploadMultipartPart:internal=0.2"
            .parse()
            .unwrap_or_default();
        assert_eq!(r.rate(Operation::DescribeVault, Fault::Internal), 0.02);
        assert_eq!(r.rate(Operation::UploadMultipartPart, Fault::Internal), 0.2);
        assert_eq!(
            r.rate(Operation::UploadMultipartPart, Fault::Throttle),
            0.05
        );
        assert_eq!(r.rate(Operation::DescribeVault, Fault::Reset), 0.0);
        for (bad, says) in [
            ("throttle", "expected FAULT=SHARE"),
            ("flood=0.1", "not a fault"),
            ("throttle=2", "from 0 to 1"),
            ("Nope:throttle=0.1", "Nope"),
            ("throttle=0.6,internal=0.6", "add up to more than 1"),
        ] {
            match bad.parse::<FaultRates>() {
                Err(e) => assert!(e.contains(says), "{bad}: {e}"),
                Ok(r) => panic!("{bad} was taken: {r:?}"),
            }
        }
    }

    #[test]
    fn decisions_follow_the_rates_and_repeat_with_a_seed() {
        let rates: FaultRates = "throttle=0.1,reset=0.05".parse().unwrap_or_default();
        let run = || {
            let injector = Injector::new(rates.clone(), Some(3));
            (0..20_000)
                .map(|_| injector.decide(Operation::ListVaults))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run(), "the same seed, the same faults");
        let share = |f| first.iter().filter(|d| **d == Some(f)).count() as f64 / 20_000.0;
        assert!(
            (share(Fault::Throttle) - 0.1).abs() < 0.01,
            "{}",
            share(Fault::Throttle)
        );
        assert!(
            (share(Fault::Reset) - 0.05).abs() < 0.01,
            "{}",
            share(Fault::Reset)
        );
        assert_eq!(share(Fault::Internal), 0.0);
    }
}
