//! Property tests of the strategies: fair spread, no repeats while others wait, caps, cooldowns
//! and rule matching hold for any members, leads and persisted state.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::{Just, any, prop_assert, prop_assert_eq, prop_oneof, proptest};
use proptest::strategy::Strategy as _;
use uuid::Uuid;

use super::*;

mod matching_sets;

const REGIONS: [&str; 3] = ["east", "west", "north"];

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_442_000, 0).expect("valid")
}

fn recipient(i: usize, weight: i32, held: i32, cap: Option<i32>) -> Recipient {
    Recipient {
        user_id: format!("rep{i:02}"),
        joined_at: now() - Duration::days(30) + Duration::seconds(i as i64),
        weight,
        held,
        cap,
        regions: Vec::new(),
        industries: Vec::new(),
        grades: Vec::new(),
    }
}

fn lead(i: usize) -> Candidate {
    Candidate {
        lead_id: Uuid::from_u128(i as u128 + 1),
        region: String::new(),
        industry: String::new(),
        grade: String::new(),
        previous_owner_id: None,
        cooldown_until: None,
        chain: Vec::new(),
    }
}

fn method(strategy: Strategy) -> Method {
    Method {
        strategy,
        ..Method::default()
    }
}

fn any_strategy() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::RoundRobin),
        Just(Strategy::Weighted),
        Just(Strategy::LeastLoaded),
        Just(Strategy::RuleMatch),
    ]
}

fn any_fallback() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::RoundRobin),
        Just(Strategy::Weighted),
        Just(Strategy::LeastLoaded),
    ]
}

/// A weight of 1..=10, often 1 or 10: mixes of many light and a few heavy members are where
/// smooth weighted round-robin drifts furthest from the shares.
fn small_weight() -> impl proptest::strategy::Strategy<Value = i32> {
    prop_oneof![proptest::sample::select(vec![1, 10]), 1..=10_i32]
}

/// How far, in leads, a member's count may be from its share `N·wᵢ/W` after any N leads, for
/// weights of 1..=10 and up to 12 members. Not 1: nginx's rule drifts past one lead on mixes of
/// many light and a few heavy members (proptest found 1, 1, 10, 10, 1, 10 at 35/33 after 20 leads).
/// 31/24 is the most it drifts there, reached by eight 1s then four 10s (see
/// `weighted_drifts_at_most_31_24_of_a_lead_from_the_share`); an exhaustive search of every
/// multiset of weights (62 member orders each, every order of the two-weight mixes) found no more.
const SPREAD_BOUND: f64 = 31.0 / 24.0;

/// The first member whose count is further than [`SPREAD_BOUND`] from its share (by `weights`)
/// of all the counts.
fn stray(counts: &[u32], weights: &[i32]) -> Option<usize> {
    let n: u32 = counts.iter().sum();
    let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
    let share = |w: i32| f64::from(n) * f64::from(w) / total;
    (0..counts.len())
        .find(|&j| (f64::from(counts[j]) - share(weights[j])).abs() > SPREAD_BOUND + 1e-9)
}

/// Members with random weights, holdings, caps and regions.
fn any_recipients() -> impl proptest::strategy::Strategy<Value = Vec<Recipient>> {
    proptest::collection::vec(
        (
            1..=1000_i32,
            0..5_i32,
            proptest::option::of(0..8_i32),
            proptest::sample::subsequence(REGIONS.to_vec(), 0..=2),
        ),
        1..8,
    )
    .prop_map(|members| {
        members
            .into_iter()
            .enumerate()
            .map(|(i, (weight, held, cap, regions))| Recipient {
                regions: regions.into_iter().map(String::from).collect(),
                ..recipient(i, weight, held, cap)
            })
            .collect()
    })
}

/// Leads with random regions and, some, a previous owner still in cooldown.
fn any_leads(members: usize) -> impl proptest::strategy::Strategy<Value = Vec<Candidate>> {
    proptest::collection::vec(
        (
            proptest::sample::select(REGIONS.to_vec()),
            proptest::option::of((0..members, any::<bool>())),
        ),
        0..60,
    )
    .prop_map(|leads| {
        leads
            .into_iter()
            .enumerate()
            .map(|(i, (region, previous))| Candidate {
                region: region.into(),
                previous_owner_id: previous.map(|(m, _)| format!("rep{m:02}")),
                cooldown_until: previous
                    .map(|(_, active)| now() + Duration::hours(if active { 1 } else { -1 })),
                ..lead(i)
            })
            .collect()
    })
}

/// Members and leads whose previous owners are among them.
fn any_case() -> impl proptest::strategy::Strategy<Value = (Vec<Recipient>, Vec<Candidate>)> {
    any_recipients().prop_flat_map(|members| {
        let n = members.len();
        (Just(members), any_leads(n))
    })
}

/// Replays `plan` from the recipients' starting holdings: each assignment's member was eligible
/// for its lead at that moment. Returns, per assignment, the members eligible then.
fn replay(
    method: Method,
    start: &[Recipient],
    leads: &[Candidate],
    plan: &Plan,
) -> Vec<(usize, Vec<usize>)> {
    let mut members = start.to_vec();
    members.sort_by(|a, b| (a.joined_at, &a.user_id).cmp(&(b.joined_at, &b.user_id)));
    let mut steps = Vec::new();
    for a in &plan.assignments {
        let lead = leads
            .iter()
            .find(|l| l.lead_id == a.lead_id)
            .expect("planned lead");
        let eligible = eligibility::eligible(method, &members, lead, now()).unwrap_or_default();
        let chosen = members
            .iter()
            .position(|m| m.user_id == a.user_id)
            .expect("a recipient");
        assert!(
            eligible.contains(&chosen),
            "{} got {} without being eligible (cap, cooldown or match)",
            a.user_id,
            a.lead_id
        );
        members[chosen].held += 1;
        steps.push((chosen, eligible));
    }
    steps
}

proptest! {
    #[test]
    fn weighted_spread_stays_within_bound_of_the_share_after_any_n(
        weights in proptest::collection::vec(small_weight(), 1..=12),
        n in 1..1500_usize,
    ) {
        let mut members: Vec<Recipient> =
            weights.iter().enumerate().map(|(i, w)| recipient(i, *w, 0, None)).collect();
        let leads: Vec<Candidate> = (0..n).map(lead).collect();
        let mut state = DistributionState::default();
        let plan = plan(method(Strategy::Weighted), &mut state, &mut members, &leads, now());
        let mut counts = vec![0_u32; weights.len()];
        for a in &plan.assignments {
            let i = members.iter().position(|m| m.user_id == a.user_id).expect("member");
            counts[i] += 1;
            prop_assert_eq!(stray(&counts, &weights), None, "{:?} for weights {:?}", counts, weights);
        }
    }

    #[test]
    fn round_robin_never_gives_two_in_a_row_while_another_eligible_member_waits(
        (members, leads) in any_case(),
    ) {
        let m = method(Strategy::RoundRobin);
        let plan = plan(m, &mut DistributionState::default(), &mut members.clone(), &leads, now());
        let steps = replay(m, &members, &leads, &plan);
        for pair in steps.windows(2) {
            let ((before, _), (after, eligible)) = (&pair[0], &pair[1]);
            prop_assert!(
                before != after || eligible.len() == 1,
                "member {after} got two in a row while {eligible:?} were eligible"
            );
        }
    }

    #[test]
    fn every_strategy_keeps_caps_cooldowns_and_assigns_whatever_someone_can_take(
        (members, leads) in any_case(),
        strategy in any_strategy(),
        fallback in any_fallback(),
        assign_unmatched in any::<bool>(),
    ) {
        let m = Method { strategy, fallback, assign_unmatched };
        let mut after = members.clone();
        let plan = plan(m, &mut DistributionState::default(), &mut after, &leads, now());
        replay(m, &members, &leads, &plan);
        for r in &after {
            let start = members.iter().find(|s| s.user_id == r.user_id).expect("member").held;
            prop_assert!(r.cap.is_none_or(|cap| r.held <= cap.max(start)), "{} over its cap", r.user_id);
        }
        prop_assert_eq!(plan.assignments.len() + plan.undistributed.len(), leads.len());
        for skipped in &plan.undistributed {
            let Skip::NoEligibleMember(why) = skipped.skip else {
                panic!("only named leads can be unavailable");
            };
            prop_assert_eq!(why.not_matching + why.at_cap + why.in_cooldown, why.members);
        }
    }

    #[test]
    fn rule_match_never_assigns_a_non_matching_member_unless_the_rule_says_so(
        (members, leads) in any_case(),
        fallback in any_fallback(),
        assign_unmatched in any::<bool>(),
    ) {
        let m = Method { strategy: Strategy::RuleMatch, fallback, assign_unmatched };
        let plan = plan(m, &mut DistributionState::default(), &mut members.clone(), &leads, now());
        for a in &plan.assignments {
            let lead = leads.iter().find(|l| l.lead_id == a.lead_id).expect("lead");
            let member = members.iter().find(|r| r.user_id == a.user_id).expect("member");
            let nobody_matches = !members.iter().any(|r| rule_match::matches(r, lead));
            prop_assert!(
                rule_match::matches(member, lead) || (assign_unmatched && nobody_matches),
                "{} got a {} lead", member.user_id, lead.region
            );
        }
    }

    #[test]
    fn planning_in_batches_with_the_persisted_state_equals_planning_at_once(
        (members, leads) in any_case(),
        strategy in any_strategy(),
        fallback in any_fallback(),
        split in 0..60_usize,
    ) {
        let split = split.min(leads.len());
        let m = Method { strategy, fallback, ..Method::default() };
        let (mut whole_state, mut whole_members) = (DistributionState::default(), members.clone());
        let whole = plan(m, &mut whole_state, &mut whole_members, &leads, now());
        let (mut state, mut batched_members) = (DistributionState::default(), members.clone());
        let first = plan(m, &mut state, &mut batched_members, &leads[..split], now());
        let second = plan(m, &mut state, &mut batched_members, &leads[split..], now());
        let batched: Vec<_> = first.assignments.into_iter().chain(second.assignments).collect();
        prop_assert_eq!(batched, whole.assignments);
        prop_assert_eq!(state, whole_state);
    }
}

#[test]
fn round_robin_continues_after_the_cursor_and_wraps() {
    let mut members: Vec<Recipient> = (0..3).map(|i| recipient(i, 1, 0, None)).collect();
    let mut state = DistributionState {
        cursor: Some(members[1].place()),
        ..DistributionState::default()
    };
    let order = planned_order(Strategy::RoundRobin, &mut state, &mut members, 4);
    assert_eq!(order, ["rep02", "rep00", "rep01", "rep02"]);
    assert_eq!(state.cursor, Some(members[2].place()));
}

/// Who gets each of `n` leads under `strategy`, in order; `state` advances as it would.
fn planned_order(
    strategy: Strategy,
    state: &mut DistributionState,
    members: &mut [Recipient],
    n: usize,
) -> Vec<String> {
    let leads: Vec<Candidate> = (0..n).map(lead).collect();
    let plan = plan(method(strategy), state, members, &leads, now());
    plan.assignments.into_iter().map(|a| a.user_id).collect()
}

/// The members each lead goes to under `WEIGHTED`, with a fresh state, for `weights` in order.
fn weighted_sequence(weights: &[i32], n: usize) -> (Vec<String>, DistributionState) {
    let mut members: Vec<Recipient> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| recipient(i, *w, 0, None))
        .collect();
    let mut state = DistributionState::default();
    let order = planned_order(Strategy::Weighted, &mut state, &mut members, n);
    (order, state)
}

#[test]
fn weighted_gives_nginxs_sequence_and_its_current_weights_return_to_zero_after_a_cycle() {
    // a=5, b=1, c=1, W = 7; current weights (a, b, c) after adding each weight, then the choice:
    // (5,1,1) a → (-2,1,1); (3,2,2) a → (-4,2,2); (1,3,3) b, the earlier → (1,-4,3);
    // (6,-3,4) a → (-1,-3,4); (4,-2,5) c → (4,-2,-2); (9,-1,-1) a → (2,-1,-1);
    // (7,0,0) a → (0,0,0).
    let (order, state) = weighted_sequence(&[5, 1, 1], 7);
    assert_eq!(
        order,
        [
            "rep00", "rep00", "rep01", "rep00", "rep02", "rep00", "rep00"
        ]
    );
    assert!(
        state.current_weights.is_empty(),
        "all current weights are back to zero (zero ones are not kept): {:?}",
        state.current_weights
    );
}

#[test]
fn weighted_three_to_one_gives_a_a_b_a() {
    // W = 4: (3,1) a → (-1,1); (2,2) a, the earlier of the tie → (-2,2); (1,3) b → (1,-1);
    // (4,0) a → (0,0).
    let (order, state) = weighted_sequence(&[3, 1], 4);
    assert_eq!(order, ["rep00", "rep00", "rep01", "rep00"]);
    assert!(state.current_weights.is_empty());
}

#[test]
fn weighted_drifts_at_most_31_24_of_a_lead_from_the_share() {
    // Eight members of weight 1, then four of 10 (W = 48): the light ones have all had their one
    // lead of the cycle by lead 32, ahead of their shares, so the heavy ones fall behind theirs;
    // after 35 leads the last heavy member has 6 for a share of 35·10/48 = 7 7/24.
    let weights = [1, 1, 1, 1, 1, 1, 1, 1, 10, 10, 10, 10];
    let (order, _) = weighted_sequence(&weights, 35);
    let last = order.iter().filter(|who| *who == "rep11").count();
    assert_eq!(last, 6);
    assert!((7.0 + 7.0 / 24.0 - last as f64 - SPREAD_BOUND).abs() < 1e-9);
}

#[test]
fn least_loaded_compares_held_over_cap_and_breaks_ties_after_the_cursor() {
    // rep00: 2 of 4 (0.5), rep01: 1 of 4 (0.25), rep02: 1 of 4 (0.25), rep03 uncapped with 3.
    let mut members = vec![
        recipient(0, 1, 2, Some(4)),
        recipient(1, 1, 1, Some(4)),
        recipient(2, 1, 1, Some(4)),
        recipient(3, 1, 3, None),
    ];
    let mut state = DistributionState {
        cursor: Some(members[1].place()),
        ..DistributionState::default()
    };
    let order = planned_order(Strategy::LeastLoaded, &mut state, &mut members, 3);
    // rep01 and rep02 tie at 1/4: rep02 is after the cursor. Then rep01 alone at 1/4. Then
    // rep00, rep01 and rep02 tie at 2/4 (rep03 counts as 3 of the widest cap, 4): after rep01.
    assert_eq!(order, ["rep02", "rep01", "rep02"]);
}

#[test]
fn nobody_eligible_leaves_the_lead_with_counts_of_why() {
    let mut members = vec![recipient(0, 1, 3, Some(3)), recipient(1, 1, 0, None)];
    members[1].regions = vec!["west".into()];
    let mut east = lead(0);
    east.region = "east".into();
    let m = Method {
        strategy: Strategy::RuleMatch,
        ..Method::default()
    };
    let plan = plan(
        m,
        &mut DistributionState::default(),
        &mut members,
        &[east],
        now(),
    );
    assert!(plan.assignments.is_empty());
    assert_eq!(
        plan.undistributed[0].skip,
        Skip::NoEligibleMember(Exclusions {
            members: 2,
            not_matching: 1,
            at_cap: 1,
            in_cooldown: 0,
            had_it: 0,
        })
    );
}
