//! The platform ports in a Worker: the clock from `Date.now()` and randomness from
//! `crypto.getRandomValues`.

use alleato_core::Timestamp;
use alleato_core::ports::{Clock, Rng};
use wasm_bindgen::prelude::*;

/// The Worker's clock. In workerd `Date.now()` advances only across I/O (a Spectre
/// mitigation): timestamps within one CPU burst are equal, never out of order.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> Timestamp {
        // Milliseconds since the epoch fit an f64 exactly until the year 287396.
        Timestamp::from_millis(js_sys::Date::now() as i64)
    }
}

#[wasm_bindgen]
extern "C" {
    /// Web Crypto's CSPRNG, present in every Worker.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(dest: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// Web Crypto's `crypto.getRandomValues`, the Workers runtime's secure random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct CryptoRng;

/// `getRandomValues` fills at most 65 536 bytes per call.
const MAX_CHUNK: usize = 65_536;

impl Rng for CryptoRng {
    /// # Panics
    /// When Web Crypto refuses, which it does not in a Worker; ids and salts cannot be made
    /// without randomness.
    fn fill(&self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(MAX_CHUNK) {
            if let Err(e) = get_random_values(chunk) {
                panic!("crypto.getRandomValues failed: {e:?}");
            }
        }
    }
}
