use serde_json::json;

use super::*;

/// `words` o200k tokens: "hello" then " hello" again and again, one token each.
fn hellos(words: usize) -> String {
    let mut s = "hello".to_string();
    s.push_str(&" hello".repeat(words.saturating_sub(1)));
    s
}

fn keys_of(messages: &[Value]) -> Vec<(u32, u64)> {
    PrefixHasher::default().keys(&mut TokenCounter::default(), messages)
}

#[test]
fn hellos_are_one_token_each() {
    assert_eq!(bpe().count_ordinary(&hellos(1_293)), 1_293);
}

#[test]
fn a_prompt_has_a_key_at_each_128_token_boundary_from_1024() {
    // 3 opening tokens + "user" (1) + 1,293 content tokens + 3 priming = 1,300 tokens:
    // boundaries 1,024, 1,152 and 1,280.
    let prompt = [json!({"role": "user", "content": hellos(1_293)})];
    assert_eq!(TokenCounter::default().prompt(&prompt), 1_300);
    let keys = keys_of(&prompt);
    let at: Vec<u32> = keys.iter().map(|k| k.0).collect();
    assert_eq!(at, [1_024, 1_152, 1_280]);
    // The same prompt, the same keys; under 1,024 tokens, none.
    assert_eq!(keys_of(&prompt), keys);
    assert!(keys_of(&[json!({"role": "user", "content": hellos(1_000)})]).is_empty());
}

#[test]
fn prompts_share_keys_up_to_where_their_tokens_part() {
    // One text: 1,200 shared tokens, then different endings. Token 1,024 (offset 4 + 1,020
    // into the text) and 1,152 lie in the shared part; 1,280 does not.
    let a = [json!({"role": "user", "content": format!("{} apple pie", hellos(1_200))})];
    let b = [json!({"role": "user", "content": format!("{} cherry tart and more", hellos(1_300))})];
    let (ka, kb) = (keys_of(&a), keys_of(&b));
    assert_eq!(ka[..2], kb[..2]);
    assert_ne!(ka.last(), kb.last());
    // A shared system message then different user messages: shared up to the second message.
    let system = json!({"role": "system", "content": hellos(1_100)});
    let c = [
        system.clone(),
        json!({"role": "user", "content": hellos(300)}),
    ];
    let d = [
        system,
        json!({"role": "user", "content": "a short question"}),
    ];
    let (kc, kd) = (keys_of(&c), keys_of(&d));
    // 3 + "system" (1) + 1,100 = 1,104 shared tokens: the key at 1,024 matches.
    assert_eq!(kc[0], kd[0]);
    assert_eq!(kc[0].0, 1_024);
    assert_ne!(kc[1], *kd.get(1).unwrap_or(&(0, 0)));
    // A different first token: no key matches.
    let e = [json!({"role": "user", "content": format!("bye {}", hellos(1_300))})];
    let ke = keys_of(&e);
    assert!(ke.iter().all(|k| !ka.contains(k)));
}

#[test]
fn an_image_is_told_apart_by_its_url() {
    let with = |url: &str| {
        [json!({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": hellos(1_100)}
        ]})]
    };
    assert_eq!(keys_of(&with("a.png")), keys_of(&with("a.png")));
    assert_ne!(keys_of(&with("a.png"))[0], keys_of(&with("b.png"))[0]);
}

#[test]
fn the_memory_gives_the_longest_prefix_it_holds() {
    let prompt = [json!({"role": "user", "content": hellos(1_293)})];
    let keys = keys_of(&prompt);
    let mut memory = PrefixMemory::default();
    assert_eq!(memory.longest(&keys), 0);
    memory.remember(&keys[..2]);
    assert_eq!(memory.longest(&keys), 1_152);
    memory.remember(&keys);
    assert_eq!(memory.longest(&keys), 1_280);
    assert_eq!(memory.len(), 3);
}

#[test]
fn the_memory_never_holds_more_than_its_slots() {
    let mut memory = PrefixMemory::with_slots(64);
    assert_eq!(memory.capacity(), 64);
    for i in 0..10_000u64 {
        memory.remember(&[(1_024, mix(i))]);
        assert!(memory.len() <= 64);
    }
    // It is full, and the last prefix is held.
    assert!(memory.len() > 32);
    assert_eq!(memory.longest(&[(1_024, mix(9_999))]), 1_024);
}

#[test]
fn remembered_cuts_are_bounded() {
    // Fill the remembered cuts to their limit with planted texts; the next new text clears
    // them first and is then the only one.
    let mut hasher = PrefixHasher::default();
    for i in 0..MAX_CUT_TEXTS {
        hasher.cuts.insert((i as u64, 0, 0), Box::new([0]));
    }
    hasher.held = MAX_CUT_TEXTS;
    let prompt = [json!({"role": "user", "content": hellos(1_100)})];
    let keys = hasher.keys(&mut TokenCounter::default(), &prompt);
    assert_eq!(hasher.cuts.len(), 1);
    // Remembered or not, the keys are the same.
    assert_eq!(keys, keys_of(&prompt));
}

/// A prefix key is splitmix64 (`world::mix`) chained: `part(h, k) = mix(h ^ mix(k))` and
/// `link(c, p) = mix(rotl(c, 23) ^ p)`. Or-ing or and-ing instead of xor-ing would drop bits
/// of the text's hash, so more prefixes would share a key; the values are from a Python
/// splitmix64 (wrapping arithmetic on 64 bits).
#[test]
fn prefix_keys_chain_splitmix_hashes() {
    assert_eq!(part(0x1234_5678_9abc_def0, 1_024), 0x5a63_cdca_0f5d_f865);
    assert_eq!(
        link(0x0fed_cba9_8765_4321, 0x1111_2222_3333_4444),
        0xd57e_f32d_f960_4672
    );
}

/// Two texts with a boundary inside them are both remembered (under both caps), each with the
/// hashes of its cuts: "hello" × 1,100 at offset 4 has its first boundary 124 tokens in and
/// then one every 128, short of its 1,100 tokens: 124, 252, ..., 1,020 = 124 + 7 × 128, 8 cuts.
#[test]
fn two_texts_cuts_are_both_remembered() {
    let mut hasher = PrefixHasher::default();
    let mut counter = TokenCounter::default();
    hasher.keys(
        &mut counter,
        &[json!({"role": "user", "content": hellos(1_100)})],
    );
    assert_eq!((hasher.cuts.len(), hasher.held), (1, 8));
    hasher.keys(
        &mut counter,
        &[json!({"role": "user", "content": format!("bye {}", hellos(1_100))})],
    );
    assert_eq!(hasher.cuts.len(), 2);
    assert_eq!(
        hasher.held,
        hasher.cuts.values().map(|c| c.len()).sum::<usize>()
    );
}

/// A marker's hash is `mix(tag ^ MARKER_SALT)` (Python's splitmix64: 7 gives
/// 0xb4f8_b805_04bd_cb98), so every bit of the tag counts: tags apart only in a bit the salt
/// lacks (2^60) or has (2) hash apart.
#[test]
fn every_bit_of_a_markers_tag_counts() {
    assert_eq!(marker_hash(7), 0xb4f8_b805_04bd_cb98);
    assert_ne!(marker_hash(1 << 60), marker_hash(0));
    assert_ne!(marker_hash(2), marker_hash(0));
}

/// A boundary inside a text that starts far into the prompt is cut at its own token: a
/// 200-token system message puts the user's text at offset 208 (3 + "system" + 200, then 3 +
/// "user"), so the 1,024 boundary is 816 tokens into it. Two prompts whose user texts part
/// after their first 900 tokens share the key at 1,024 (cutting at 1,024 + 208 tokens in, past
/// the text's cuts, would take the whole text's hash and tell them apart).
#[test]
fn a_boundary_deep_in_the_prompt_is_cut_at_its_own_token() {
    let with = |ending: &str| {
        [
            json!({"role": "system", "content": hellos(200)}),
            json!({"role": "user", "content": format!("{} {ending}", hellos(900))}),
        ]
    };
    let (a, b) = (
        keys_of(&with("apple pie")),
        keys_of(&with("cherry tart and more")),
    );
    assert_eq!(a[0].0, 1_024);
    assert_eq!(a[0], b[0]);
}

/// The cap on hashes held is reached when a new text's cuts would take the count past
/// MAX_CUTS_HELD, not at it: with 8 cuts from "hello" × 1,100, a count 8 below the cap ends
/// exactly at it (both texts kept), 4 below goes past it (the old ones forgotten first).
#[test]
fn the_hashes_held_are_capped_past_their_limit_not_at_it() {
    let prompt = [json!({"role": "user", "content": hellos(1_100)})];
    for (below, texts_after, held_after) in [(8, 2, MAX_CUTS_HELD), (4, 1, 8)] {
        let mut hasher = PrefixHasher::default();
        hasher.cuts.insert((1, 0, 0), Box::new([0]));
        hasher.held = MAX_CUTS_HELD - below;
        hasher.keys(&mut TokenCounter::default(), &prompt);
        assert_eq!(
            (hasher.cuts.len(), hasher.held),
            (texts_after, held_after),
            "{below}"
        );
    }
}

/// Prompts whose tokens part before a boundary do not share its key: the texts (at offset
/// 4) agree on their first 950 tokens and then differ, so the key at 1,024 (the first 1,020
/// tokens of the text) must differ; cutting at an earlier token inside the shared part (the
/// first cut taken as 128 / 4 = 32 tokens in, or the cut index taken modulo 128) would make
/// them share it.
#[test]
fn prompts_parting_before_a_boundary_do_not_share_its_key() {
    let with = |word: &str| {
        [json!({"role": "user", "content": format!("{} {word}{}", hellos(950), hellos(200))})]
    };
    let (a, b) = (keys_of(&with("apple")), keys_of(&with("cherry")));
    assert_eq!((a[0].0, b[0].0), (1_024, 1_024));
    assert_ne!(a[0], b[0]);
}

/// A memory of one slot holds one prefix: a second key takes the slot, and the first is then
/// not held (its slot holds another key, not an empty mark). Empty until the first key.
#[test]
fn a_slot_taken_by_another_prefix_does_not_hold_this_one() {
    let mut memory = PrefixMemory::with_slots(1);
    assert!(memory.is_empty());
    memory.remember(&[]);
    assert!(memory.is_empty());
    memory.remember(&[(1_024, 5)]);
    assert!(!memory.is_empty());
    assert_eq!(memory.longest(&[(1_024, 6)]), 0);
    memory.remember(&[(1_024, 6)]);
    assert_eq!(
        (memory.longest(&[(1_024, 5)]), memory.longest(&[(1_024, 6)])),
        (0, 1_024)
    );
    assert_eq!(memory.len(), 1);
}

/// The key at a boundary covers exactly the tokens before it: texts (at offset 4) agreeing on
/// their first 1,020 tokens and parting at the 1,021st share the key at 1,024 (a cut one token
/// late would take the parting token in and tell them apart).
#[test]
fn prompts_parting_just_after_a_boundary_share_its_key() {
    let with = |word: &str| {
        [json!({"role": "user", "content": format!("{} {word}{}", hellos(1_020), hellos(200))})]
    };
    let (a, b) = (keys_of(&with("apple")), keys_of(&with("cherry")));
    assert_eq!(a[0].0, 1_024);
    assert_eq!(a[0], b[0]);
    assert_ne!(a[1], b[1]);
}
