use super::*;

#[test]
fn empty_timezone_means_utc() {
    let mut v = Validator::new();
    let pool = NewPool::parse(&mut v, "East", "", &RulesDraft::default());
    assert!(v.finish(()).is_ok());
    assert_eq!(pool.timezone, "UTC");
    assert_eq!(pool.rules, PoolRules::default());
}

#[test]
fn rejects_unknown_timezone_empty_name_and_negative_cap_together() {
    let mut v = Validator::new();
    let rules = RulesDraft {
        max_held_per_member: Some(-3),
        ..Default::default()
    };
    NewPool::parse(&mut v, " ", "Mars/Olympus", &rules);
    let fields = v.rejected_fields();
    assert_eq!(fields, ["name", "timezone", "max_held_per_member"]);
}

#[test]
fn durations_must_be_whole_non_negative_seconds_and_timeouts_positive() {
    let mut v = Validator::new();
    let rules = RulesDraft {
        reclaim_cooldown: Some(RawDuration {
            seconds: 1,
            nanos: 5,
        }),
        warn_before: Some(RawDuration {
            seconds: -1,
            nanos: 0,
        }),
        follow_up_timeout: Some(RawDuration {
            seconds: 0,
            nanos: 0,
        }),
        close_timeout: Some(RawDuration {
            seconds: 86_400,
            nanos: 0,
        }),
        ..Default::default()
    };
    let parsed = PoolRules::parse(&mut v, &rules);
    assert_eq!(parsed.close_timeout_seconds, Some(86_400));
    let fields = v.rejected_fields();
    assert_eq!(
        fields,
        ["reclaim_cooldown", "follow_up_timeout", "warn_before"]
    );
}

#[test]
fn update_changes_only_masked_fields() {
    let mut v = Validator::new();
    let current = Pool {
        id: Uuid::nil(),
        name: "East".into(),
        timezone: "Asia/Shanghai".into(),
        rules: PoolRules {
            daily_claim_limit: Some(5),
            mask_contacts: true,
            ..Default::default()
        },
        archived_at: None,
        version: 3,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
    };
    let draft = RulesDraft {
        daily_claim_limit: Some(9),
        ..Default::default()
    };
    let patch = NewPool::parse(&mut v, "", "", &draft);
    let next = current.updated(patch, &["daily_claim_limit".to_owned()]);
    assert_eq!(next.rules.daily_claim_limit, Some(9));
    assert_eq!(next.name, "East");
    assert!(
        next.rules.mask_contacts,
        "unmasked fields keep their values"
    );
    assert!(in_mask(&["grade_overrides".into()], "grade_overrides[A]"));
    assert!(!in_mask(&["name".into()], "timezone"));
}

#[test]
fn empty_reason_list_allows_free_text() {
    let free = PoolRules::default();
    assert!(free.allows_reason("anything"));
    let coded = PoolRules {
        release_reasons: vec!["NO_BUDGET".into()],
        ..Default::default()
    };
    assert!(coded.allows_reason("NO_BUDGET"));
    assert!(!coded.allows_reason("BORED"));
}

#[test]
fn a_rule_length_of_zero_or_less_names_its_true_range() {
    for seconds in [0, -1] {
        let mut v = Validator::new();
        let rules = RulesDraft {
            new_lead_embargo: Some(RawDuration { seconds, nanos: 0 }),
            ..Default::default()
        };
        PoolRules::parse(&mut v, &rules);
        let Err(DomainError::ValidationFailed(violations)) = v.finish(()) else {
            panic!("{seconds} s is refused");
        };
        let described: Vec<_> = violations.iter().map(|f| &f.description).collect();
        assert_eq!(
            described,
            [&format!(
                "must be 1 to 2147483647 seconds, or unset for none, got {seconds}"
            )]
        );
    }
}
