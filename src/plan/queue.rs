//! The simulation's event queue: a radix heap, the monotone priority queue that suits a
//! discrete-event simulation (no event is scheduled before the one being processed). Its buckets
//! go by the highest *byte* in which a key differs from the last popped key, and by that byte's
//! value (8 levels of 256), so an item moves at most 8 times between buckets (a key's bytes), where
//! the classic one-bucket-per-bit heap moved items up to 64 times; events carry their post
//! (72 bytes), so moves are what a burst spends its time on. Push is O(1); pop finds the first
//! non-empty bucket through one bitmap per level. Events with equal times come out in a fixed
//! (not FIFO) order, so runs stay deterministic.

const LEVELS: usize = 8;

/// A min-queue of `(time in ns, T)` whose pushes are never below the last popped time.
#[derive(Debug)]
pub struct RadixQueue<T> {
    last: u64,
    /// Items whose key equals `last`.
    current: Vec<(u64, T)>,
    /// `buckets[level * 256 + byte]`: items that first differ from `last` in byte `level`
    /// (counted from the least significant), where their byte is `byte`.
    buckets: Vec<Vec<(u64, T)>>,
    /// Which buckets of each level hold items.
    occupied: [[u64; 4]; LEVELS],
    len: usize,
}

impl<T> Default for RadixQueue<T> {
    fn default() -> Self {
        Self {
            last: 0,
            current: Vec::new(),
            buckets: (0..LEVELS * 256).map(|_| Vec::new()).collect(),
            occupied: [[0; 4]; LEVELS],
            len: 0,
        }
    }
}

impl<T> RadixQueue<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `item` at `key`, which must not be below the last popped key.
    pub fn push(&mut self, key: u64, item: T) {
        debug_assert!(key >= self.last, "a radix heap is monotone");
        let key = key.max(self.last);
        self.len += 1;
        self.place(key, item);
    }

    fn place(&mut self, key: u64, item: T) {
        let diff = key ^ self.last;
        if diff == 0 {
            self.current.push((key, item));
            return;
        }
        let level = (63 - diff.leading_zeros() as usize) / 8;
        let byte = ((key >> (level * 8)) & 0xff) as usize;
        self.buckets[level * 256 + byte].push((key, item));
        self.occupied[level][byte / 64] |= 1 << (byte % 64);
    }

    /// The first non-empty bucket: the lowest level, then the lowest byte.
    fn first_bucket(&self) -> Option<(usize, usize)> {
        for (level, words) in self.occupied.iter().enumerate() {
            for (w, bits) in words.iter().enumerate() {
                if *bits != 0 {
                    return Some((level, w * 64 + bits.trailing_zeros() as usize));
                }
            }
        }
        None
    }

    /// Removes an item with the smallest key.
    pub fn pop(&mut self) -> Option<(u64, T)> {
        if self.len == 0 {
            return None;
        }
        if self.current.is_empty() {
            let (level, byte) = self
                .first_bucket()
                .expect("len > 0 means a bucket holds an item");
            self.occupied[level][byte / 64] &= !(1 << (byte % 64));
            let i = level * 256 + byte;
            let mut items = std::mem::take(&mut self.buckets[i]);
            self.last = items.iter().map(|(k, _)| *k).min().expect("non-empty");
            // Every item now agrees with `last` down to byte `level`: it moves to a lower level
            // (or to `current`).
            for (k, v) in items.drain(..) {
                self.place(k, v);
            }
            // Keep the allocation for the next time this bucket fills.
            self.buckets[i] = items;
        }
        self.len -= 1;
        self.current.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_key_order_like_a_heap_under_monotone_pushes() {
        let mut q = RadixQueue::default();
        let mut heap = std::collections::BinaryHeap::new();
        let mut x = 7u64;
        let mut now = 0u64;
        for round in 0..20_000 {
            for _ in 0..(round % 3) {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                // Mostly near keys (a millisecond), some far (up to 2^50 ns): every level.
                let key = if round % 7 == 0 {
                    now + (x >> 14)
                } else {
                    now + (x >> 40) % 1_000_000
                };
                q.push(key, round);
                heap.push(std::cmp::Reverse(key));
            }
            if let Some((k, _)) = q.pop() {
                let std::cmp::Reverse(h) = heap.pop().unwrap();
                assert_eq!(k, h);
                assert!(k >= now);
                now = k;
            }
            assert_eq!(q.len(), heap.len());
            assert_eq!(q.is_empty(), heap.is_empty());
        }
        while let Some((k, _)) = q.pop() {
            assert_eq!(k, heap.pop().unwrap().0);
        }
        assert!(heap.is_empty() && q.is_empty());
    }
}
