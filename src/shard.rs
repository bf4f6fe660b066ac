//! `--shard i/N`: one machine's share of a run split across N machines. Pure: which posts and
//! users shard i takes. The split is **strided**: shard i (1-based) takes the posts numbered
//! i − 1, i − 1 + N, i − 1 + 2N, ... (0-based post numbers, as the unsharded run numbers them:
//! a burst's users, a sustained load's or a trace's arrivals in order). Each post keeps its
//! number, and with it its seeds (its draw streams, its prompt variant, whether it brings its
//! own image prompt, a sustained load's send time), so the union of the N shards sends exactly
//! the posts one machine would. Strided, not contiguous: every shard then spans the whole
//! schedule (a trace's busy hour is shared by all, not one shard's alone).

use serde::{Deserialize, Serialize};

use crate::limits::MAX_SHARDS;

/// Shard `index` of `count` (1 ≤ index ≤ count ≤ [`MAX_SHARDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Parses `i/N`; the message says what a shard is (clap prefixes the flag's name).
    pub fn parse(text: &str) -> Result<Self, String> {
        let usage = format!(
            "`{text}`: give i/N, shard i of N machines, with 1 ≤ i ≤ N ≤ {MAX_SHARDS} (e.g. 2/3)"
        );
        let (i, n) = text.trim().split_once('/').ok_or_else(|| usage.clone())?;
        let whole = |s: &str| {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        match (whole(i), whole(n)) {
            (Some(index), Some(count)) if 1 <= index && index <= count && count <= MAX_SHARDS => {
                Ok(Self { index, count })
            }
            _ => Err(usage),
        }
    }

    /// Whether this shard sends post `post` (0-based, the unsharded run's number).
    pub fn takes(&self, post: u64) -> bool {
        post % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// The unsharded post number of this shard's `local`-th post (0-based).
    pub fn global(&self, local: u64) -> u64 {
        local
            .saturating_mul(u64::from(self.count))
            .saturating_add(u64::from(self.index - 1))
    }

    /// How many of a burst's `users` posts this shard sends: the posts i − 1, i − 1 + N, ...
    /// below `users`.
    pub fn users(&self, users: u32) -> u32 {
        let first = self.index - 1;
        if users <= first {
            0
        } else {
            (users - first - 1) / self.count + 1
        }
    }
}

/// A clap value parser for `--shard`.
pub fn arg(text: &str) -> Result<Shard, String> {
    Shard::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(index: u32, count: u32) -> Shard {
        Shard { index, count }
    }

    #[test]
    fn parse_takes_i_of_n_and_refuses_everything_else() {
        assert_eq!(Shard::parse("2/3"), Ok(shard(2, 3)));
        assert_eq!(Shard::parse("1/1"), Ok(shard(1, 1)));
        assert_eq!(
            Shard::parse(&format!("{MAX_SHARDS}/{MAX_SHARDS}")),
            Ok(shard(MAX_SHARDS, MAX_SHARDS))
        );
        for bad in [
            "",
            "3",
            "0/3",
            "4/3",
            "/3",
            "1/",
            "1/0",
            "-1/3",
            "+1/3",
            "1.0/3",
            "1/3/5",
            "a/b",
            "99999999999/99999999999",
            &format!("1/{}", MAX_SHARDS + 1),
        ] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(
                e.contains("give i/N") && e.contains(&MAX_SHARDS.to_string()),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_split_is_strided_and_the_shards_cover_every_post_once() {
        // 10 posts in 3 shards, by hand: 1/3 takes 0, 3, 6, 9; 2/3 takes 1, 4, 7; 3/3 takes
        // 2, 5, 8.
        let of = |s: Shard| (0..10).filter(|&p| s.takes(p)).collect::<Vec<u64>>();
        assert_eq!(of(shard(1, 3)), [0, 3, 6, 9]);
        assert_eq!(of(shard(2, 3)), [1, 4, 7]);
        assert_eq!(of(shard(3, 3)), [2, 5, 8]);
        // A burst's users count the same posts, numbered from each shard's local 0.
        for (s, want) in [
            (shard(1, 3), vec![0, 3, 6, 9]),
            (shard(2, 3), vec![1, 4, 7]),
            (shard(3, 3), vec![2, 5, 8]),
        ] {
            assert_eq!(s.users(10), want.len() as u32, "{s}");
            let got: Vec<u64> = (0..u64::from(s.users(10))).map(|j| s.global(j)).collect();
            assert_eq!(got, want, "{s}");
        }
        // One shard is the whole run.
        assert_eq!(shard(1, 1).users(7), 7);
        assert_eq!(shard(1, 1).global(5), 5);
        // Fewer users than shards: the last shards have none.
        assert_eq!((shard(2, 3).users(1), shard(1, 3).users(1)), (0, 1));
        assert_eq!(shard(3, 3).users(0), 0);
    }
}
