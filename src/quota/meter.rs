//! Streams accounted as they go: for a team with `hard_cutoff`, each chunk's
//! text is counted and priced, and the stream is ended once it would spend
//! more than was reserved for it (the upstream ignoring `max_tokens`, or a
//! price that changed under it), so that no stream overshoots its hold.

use crate::catalog::Tokenizer;
use crate::cost::{NanoUsd, PriceTable, Usage};
use crate::tokens;

pub struct StreamMeter {
    price: PriceTable,
    tokenizer: Tokenizer,
    prompt_tokens: u64,
    completion_tokens: u64,
    reserved: NanoUsd,
}

impl StreamMeter {
    pub fn new(
        price: PriceTable,
        tokenizer: Tokenizer,
        prompt_tokens: u64,
        reserved: NanoUsd,
    ) -> Self {
        Self {
            price,
            tokenizer,
            prompt_tokens,
            completion_tokens: 0,
            reserved,
        }
    }

    /// Counts a piece of completion text; `false` once the stream has spent
    /// more than its reservation.
    pub fn add(&mut self, text: &str) -> bool {
        self.completion_tokens += tokens::count_text(self.tokenizer, text);
        self.spent() <= self.reserved
    }

    pub fn spent(&self) -> NanoUsd {
        self.price.cost(&Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_prompt_tokens: 0,
        })
    }

    pub fn reserved(&self) -> NanoUsd {
        self.reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_cut_once_it_passes_its_reservation() {
        // $1 per 1M tokens: 1000 nano-USD a token; 10 prompt tokens reserved
        // with room for 5 output tokens.
        let price = PriceTable::from_price(&crate::catalog::Price {
            input: 1.0,
            cached_input: None,
            output: Some(1.0),
        });
        let mut meter = StreamMeter::new(price, Tokenizer::Approx, 10, NanoUsd(15_000));
        // Approx counts a token per 4 bytes.
        assert!(meter.add("abcd"));
        assert!(meter.add("abcdabcdabcdabcd"));
        assert_eq!(meter.spent(), NanoUsd(15_000));
        assert!(!meter.add("a"));
    }
}
