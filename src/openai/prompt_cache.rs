//! OpenAI's prompt caching as a server meets it: which prefixes of a prompt it could have cached
//! (one key per 128-token boundary from 1,024 tokens, [`PrefixHasher`]) and a bounded memory of
//! the prefixes a model was sent ([`PrefixMemory`]). Whether a call hits, and how many tokens
//! that caches, are [`draw_prompt_cache_hit`](super::world::draw_prompt_cache_hit) and
//! [`cached_tokens`](super::world::cached_tokens), as the planner has them: the shared prefix they
//! take is the longest remembered prefix of the prompt.
//!
//! A prefix key stands for the prompt's first `b` tokens, laid out as
//! [`prompt_pieces`] orders them: two prompts get the same key at `b` when their first `b` tokens
//! are the same (up to a 64-bit hash collision), however their texts go on. Keys are chained
//! piece by piece from hashes of the texts, so a prompt seen before costs a hash of each text
//! and a lookup per boundary; only a text with a boundary inside it is tokenized (once per text
//! and offset, then remembered, bounded) to find the bytes its first tokens cover.

use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};
use serde_json::Value;

use super::tokens::{bpe, prompt_pieces, Piece, TokenCounter};
use super::world::mix;

/// The shortest prompt (and prefix) OpenAI caches.
pub const MIN_PREFIX: u32 = 1_024;
/// Cached prefixes grow in steps of this many tokens.
pub const STEP: u32 = 128;
/// The prefix keys a [`PrefixMemory`] holds at most: 65,536 (512 KiB).
pub const MEMORY_SLOTS: usize = 1 << 16;

/// Texts (at an offset) whose boundary hashes a [`PrefixHasher`] remembers, and the hashes it
/// holds in all (8 MiB): past either, it forgets them all and starts again.
const MAX_CUT_TEXTS: usize = 4_096;
const MAX_CUTS_HELD: usize = 1 << 20;

/// Sets marker hashes apart from text hashes.
const MARKER_SALT: u64 = 0x6d61_726b_6572;

/// A prefix of `k` tokens whose bytes (or marker) hash to `hash`.
fn part(hash: u64, k: u32) -> u64 {
    mix(hash ^ mix(u64::from(k)))
}

/// The prefix `chain` followed by `part`.
fn link(chain: u64, part: u64) -> u64 {
    mix(chain.rotate_left(23) ^ part)
}

fn bytes_hash(bytes: &[u8]) -> u64 {
    FxBuildHasher.hash_one(bytes)
}

/// The first boundary after `offset` tokens at which a prefix may be cached.
fn next_boundary(offset: u32) -> u32 {
    (offset / STEP + 1).saturating_mul(STEP).max(MIN_PREFIX)
}

/// Computes a prompt's prefix keys.
#[derive(Debug, Default)]
pub struct PrefixHasher {
    /// Per text (its bytes' hash and length) and offset modulo [`STEP`], the hashes of the bytes
    /// its first `k` tokens cover, for each `k` at which a boundary falls inside it.
    cuts: FxHashMap<(u64, usize, u32), Box<[u64]>>,
    held: usize,
}

impl PrefixHasher {
    /// The keys of the prompt `messages` at each 128-token boundary from 1,024 up to its length,
    /// shortest first, as (boundary, key). `counter` gives each text's tokens (from its cache).
    pub fn keys(&mut self, counter: &mut TokenCounter, messages: &[Value]) -> Vec<(u32, u64)> {
        let mut keys = Vec::new();
        let (mut chain, mut offset) = (0u64, 0u32);
        prompt_pieces(messages, |piece| {
            let n = counter.piece(piece);
            let end = offset.saturating_add(n);
            let whole = match piece {
                Piece::Text(t) => bytes_hash(t.as_bytes()),
                Piece::Marker { tag, .. } => marker_hash(tag),
            };
            let mut b = next_boundary(offset);
            while b <= end {
                let k = b - offset;
                let h = match piece {
                    Piece::Text(t) if k < n => self.cut(t, whole, offset, k),
                    _ => whole,
                };
                keys.push((b, link(chain, part(h, k))));
                b = b.saturating_add(STEP);
            }
            chain = link(chain, part(whole, n));
            offset = end;
        });
        keys
    }

    /// The hash of the bytes that the first `k` tokens of `text` (hashing to `hash`, at
    /// `offset` in its prompt) cover, `k` being a boundary inside it.
    fn cut(&mut self, text: &str, hash: u64, offset: u32, k: u32) -> u64 {
        let residue = offset % STEP;
        // The first boundary inside the text is this many tokens in; the others follow by STEP.
        let first = STEP - residue;
        let key = (hash, text.len(), residue);
        if !self.cuts.contains_key(&key) {
            let cuts = cuts_of(text, first);
            if self.cuts.len() >= MAX_CUT_TEXTS || self.held + cuts.len() > MAX_CUTS_HELD {
                self.cuts.clear();
                self.held = 0;
            }
            self.held += cuts.len();
            self.cuts.insert(key, cuts);
        }
        let j = ((k - first) / STEP) as usize;
        self.cuts[&key].get(j).copied().unwrap_or(hash)
    }
}

/// The hashes of the bytes covered by the first `first`, `first + STEP`, ... tokens of `text`
/// (short of all of them).
fn cuts_of(text: &str, first: u32) -> Box<[u64]> {
    let bpe = bpe();
    let tokens = bpe.encode_ordinary(text);
    let mut cuts = Vec::with_capacity(tokens.len() / STEP as usize + 1);
    let (mut len, mut next) = (0usize, first as usize);
    for (i, token) in tokens.iter().enumerate() {
        len += bpe.decode_bytes(&[*token]).map_or(0, |b| b.len());
        if i + 1 == next && next < tokens.len() {
            cuts.push(bytes_hash(&text.as_bytes()[..len.min(text.len())]));
            next += STEP as usize;
        }
    }
    cuts.into_boxed_slice()
}

/// The prefixes one model's cache holds: a direct-mapped table of keys, each new key taking its
/// slot from whatever held it, so it never holds more than its slots (allocated at the first
/// key) and an old prefix is forgotten when a new one lands on its slot.
#[derive(Debug, Clone)]
pub struct PrefixMemory {
    slots: Vec<u64>,
    capacity: usize,
}

impl Default for PrefixMemory {
    fn default() -> Self {
        Self::with_slots(MEMORY_SLOTS)
    }
}

impl PrefixMemory {
    /// A memory of `slots` keys (rounded up to a power of two).
    pub fn with_slots(slots: usize) -> Self {
        Self {
            slots: Vec::new(),
            capacity: slots.max(1).next_power_of_two(),
        }
    }

    /// 0 marks an empty slot.
    fn stored(key: u64) -> u64 {
        key.max(1)
    }

    fn slot(&self, key: u64) -> usize {
        key as usize & (self.capacity - 1)
    }

    /// The longest boundary of `keys` (as [`PrefixHasher::keys`] gives them) whose prefix is
    /// held, or 0.
    pub fn longest(&self, keys: &[(u32, u64)]) -> u32 {
        keys.iter()
            .rev()
            .find(|(_, k)| self.slots.get(self.slot(*k)) == Some(&Self::stored(*k)))
            .map_or(0, |(b, _)| *b)
    }

    /// Holds every prefix of `keys` from now on (until others take their slots).
    pub fn remember(&mut self, keys: &[(u32, u64)]) {
        if keys.is_empty() {
            return;
        }
        if self.slots.is_empty() {
            self.slots = vec![0; self.capacity];
        }
        for (_, k) in keys {
            let slot = self.slot(*k);
            self.slots[slot] = Self::stored(*k);
        }
    }

    /// Prefixes held.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|k| **k != 0).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most prefixes it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// A marker's (an image's) hash, apart from any text's.
fn marker_hash(tag: u64) -> u64 {
    mix(tag ^ MARKER_SALT)
}

#[cfg(test)]
mod tests;
