//! Cost from token counts and a dated price table. `prompt_tokens` includes `cached_tokens`:
//! cached tokens are billed once, at the cached price (or the input price where the model has no
//! cached price), and only the rest at the input price.

use serde::{Deserialize, Serialize};

use crate::openai::catalog::Price;

/// Token counts of some calls.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Tokens {
    pub prompt: u64,
    pub cached: u64,
    pub completion: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }

    /// These tokens less `other`, field by field, never below zero.
    pub fn less(&self, other: Tokens) -> Tokens {
        Tokens {
            prompt: self.prompt.saturating_sub(other.prompt),
            cached: self.cached.saturating_sub(other.cached),
            completion: self.completion.saturating_sub(other.completion),
        }
    }

    /// Saturating: counts read from a result.json or a target are bounded, but a sum must not
    /// panic whatever they say.
    pub fn add(&mut self, other: Tokens) {
        self.prompt = self.prompt.saturating_add(other.prompt);
        self.cached = self.cached.saturating_add(other.cached);
        self.completion = self.completion.saturating_add(other.completion);
    }
}

/// USD for `tokens` at `price` (USD per 1M tokens).
pub fn cost_usd(price: &Price, tokens: Tokens) -> f64 {
    let cached = tokens.cached.min(tokens.prompt);
    let uncached = tokens.prompt - cached; // cached <= prompt (min above)
    let cached_price = price.cached_input.unwrap_or(price.input);
    (uncached as f64 * price.input
        + cached as f64 * cached_price
        + tokens.completion as f64 * price.output)
        / 1_000_000.0
}

/// The seed's monthly projection: users × posts per user per day × 30 days × $/post.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Monthly {
    pub users: u64,
    pub posts_per_user_per_day: u64,
    pub usd: f64,
}

pub const SEED_POSTS_PER_DAY: [u64; 3] = [1, 5, 20];
pub const DAYS_PER_MONTH: f64 = 30.0;

/// The one monthly-cost formula: users × posts per user per day × 30 days × $/post, multiplied
/// in that order (floating point is not associative: the reports' figures rely on the order).
pub fn monthly_usd(users: f64, posts_per_user_per_day: f64, usd_per_post: f64) -> f64 {
    users * posts_per_user_per_day * DAYS_PER_MONTH * usd_per_post
}

pub fn monthly(users: u64, usd_per_post: f64) -> Vec<Monthly> {
    SEED_POSTS_PER_DAY
        .iter()
        .map(|&ppd| Monthly {
            users,
            posts_per_user_per_day: ppd,
            usd: monthly_usd(users as f64, ppd as f64, usd_per_post),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPT4O: Price = Price {
        input: 2.50,
        cached_input: Some(1.25),
        output: 10.00,
    };

    #[test]
    fn the_seeds_per_post_figure_holds_for_2000_in_350_out() {
        // image prompt 800 in + 150 out = $0.0035, caption 1,200 in + 200 out = $0.0050
        let image = cost_usd(
            &GPT4O,
            Tokens {
                prompt: 800,
                cached: 0,
                completion: 150,
            },
        );
        let caption = cost_usd(
            &GPT4O,
            Tokens {
                prompt: 1_200,
                cached: 0,
                completion: 200,
            },
        );
        assert!((image - 0.0035).abs() < 1e-12);
        assert!((caption - 0.0050).abs() < 1e-12);
    }

    #[test]
    fn cached_tokens_are_billed_once_at_the_cached_price() {
        let t = Tokens {
            prompt: 2_048,
            cached: 1_024,
            completion: 0,
        };
        let want = (1_024.0 * 2.50 + 1_024.0 * 1.25) / 1e6;
        assert!((cost_usd(&GPT4O, t) - want).abs() < 1e-15);
        let no_cache_price = Price {
            input: 5.0,
            cached_input: None,
            output: 15.0,
        };
        assert!((cost_usd(&no_cache_price, t) - 2_048.0 * 5.0 / 1e6).abs() < 1e-15);
    }

    #[test]
    fn monthly_matches_the_seed_table_for_its_own_per_post_figure() {
        let m = monthly(50, 0.0085);
        let usd: Vec<f64> = m.iter().map(|m| (m.usd * 100.0).round() / 100.0).collect();
        assert_eq!(usd, [12.75, 63.75, 255.0]);
        let m = monthly(100, 0.0085);
        assert!((m[2].usd - 510.0).abs() < 1e-9);
    }

    #[test]
    fn monthly_usd_is_users_by_posts_a_day_by_30_days_by_the_post() {
        // 40 users × 2.5 posts/day = 100 posts/day; × 30 days = 3,000 posts; × $0.01 = $30.
        assert!((monthly_usd(40.0, 2.5, 0.01) - 30.0).abs() < 1e-12);
        // The multiplication order is the formula's: ((users × ppd) × 30) × $/post, bit for bit.
        let (u, p, usd) = (7.0, 3.0, 0.1);
        assert_eq!(
            monthly_usd(u, p, usd).to_bits(),
            (u * p * 30.0 * usd).to_bits()
        );
    }
}
