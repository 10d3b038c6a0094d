//! Under RULE_MATCH each set of matching members takes turns on its own, whatever the mix of
//! arrivals: round-robin by the set's own place, weighted by the set's own current weights.

use super::*;

proptest! {
    /// Under RULE_MATCH each set of matching members takes turns on its own: whatever the mix of
    /// grades arriving, every member of a set is within one lead of the others of that set.
    #[test]
    fn rule_match_sets_take_turns_whatever_the_arrival_mix(
        grades in proptest::collection::vec(prop_oneof![Just("A"), Just("B"), Just("C")], 1..60),
        batch in 1usize..7,
    ) {
        let grade = |i: usize, grades: &[&str]| Recipient {
            grades: grades.iter().map(|g| (*g).to_owned()).collect(),
            ..recipient(i, 1, 0, None)
        };
        let mut members = vec![grade(0, &["A"]), grade(1, &["A"]), grade(2, &["B", "C"])];
        let leads: Vec<Candidate> = grades
            .iter()
            .enumerate()
            .map(|(i, g)| Candidate { grade: (*g).to_owned(), ..lead(i) })
            .collect();
        let mut state = DistributionState::default();
        let mut given = BTreeMap::<String, usize>::new();
        for chunk in leads.chunks(batch) {
            let plan = plan(method(Strategy::RuleMatch), &mut state, &mut members, chunk, now());
            for a in plan.assignments {
                *given.entry(a.user_id).or_default() += 1;
            }
        }
        let seniors = [&members[0].user_id, &members[1].user_id]
            .map(|u| given.get(u).copied().unwrap_or_default());
        prop_assert!(seniors[0].abs_diff(seniors[1]) <= 1, "seniors got {seniors:?}");
    }

    /// Under RULE_MATCH with the WEIGHTED fallback each set of matching members runs smooth
    /// weighted round-robin on its own: after every lead of a set, each of its members is within
    /// the bound of its share of that set's leads, whatever leads of other sets came between.
    #[test]
    fn rule_match_weighted_keeps_each_set_near_its_shares_whatever_the_arrival_mix(
        members in proptest::collection::vec(
            (small_weight(), proptest::sample::subsequence(REGIONS.to_vec(), 0..=2)),
            1..8,
        ),
        regions in proptest::collection::vec(proptest::sample::select(REGIONS.to_vec()), 1..80),
        batch in 1usize..7,
    ) {
        let mut members: Vec<Recipient> = members
            .into_iter()
            .enumerate()
            .map(|(i, (weight, regions))| Recipient {
                regions: regions.into_iter().map(String::from).collect(),
                ..recipient(i, weight, 0, None)
            })
            .collect();
        let leads: Vec<Candidate> = regions
            .iter()
            .enumerate()
            .map(|(i, region)| Candidate { region: (*region).into(), ..lead(i) })
            .collect();
        let m = Method { fallback: Strategy::Weighted, ..method(Strategy::RuleMatch) };
        let mut state = DistributionState::default();
        // Per set of matching members (their indices), how many leads each has had.
        let mut given = BTreeMap::<Vec<usize>, Vec<u32>>::new();
        for chunk in leads.chunks(batch) {
            for a in plan(m, &mut state, &mut members, chunk, now()).assignments {
                let lead = leads.iter().find(|l| l.lead_id == a.lead_id).expect("lead");
                let set: Vec<usize> = (0..members.len())
                    .filter(|&i| rule_match::matches(&members[i], lead))
                    .collect();
                let counts = given.entry(set.clone()).or_insert_with(|| vec![0; set.len()]);
                let k = set.iter().position(|&i| members[i].user_id == a.user_id).expect("matches");
                counts[k] += 1;
                let weights: Vec<i32> = set.iter().map(|&i| members[i].weight).collect();
                prop_assert_eq!(stray(counts, &weights), None, "set {:?}: {:?}", set, counts);
            }
        }
    }
}

#[test]
fn alternating_grades_reach_both_seniors() {
    let grade = |i: usize, grades: &[&str]| Recipient {
        grades: grades.iter().map(|g| (*g).to_owned()).collect(),
        ..recipient(i, 1, 0, None)
    };
    let mut members = vec![grade(0, &["A"]), grade(1, &["A"]), grade(2, &["B"])];
    let leads: Vec<Candidate> = (0..8)
        .map(|i| Candidate {
            grade: if i % 2 == 0 { "A" } else { "B" }.to_owned(),
            ..lead(i)
        })
        .collect();
    let mut state = DistributionState::default();
    let order: Vec<String> = leads
        .chunks(1)
        .flat_map(|one| {
            plan(
                method(Strategy::RuleMatch),
                &mut state,
                &mut members,
                one,
                now(),
            )
            .assignments
        })
        .map(|a| a.user_id)
        .collect();
    assert_eq!(
        order,
        [
            "rep00", "rep02", "rep01", "rep02", "rep00", "rep02", "rep01", "rep02"
        ]
    );
}
