//! ListLeads filters and orders: each filter selects exactly the matching leads, each order walks
//! every page in order, and tokens are bound to the filter and order they were issued for.

use std::cmp::Ordering;

use leadpool::proto;
use prost_types::Timestamp;

use crate::caller::Client;
use crate::fixtures::{self, Team, new_lead};
use crate::harness::{TestApp, assert_error, bad_fields};

/// (name, company, grade, region, industry, tags) of a lead every test lists.
type Fields = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const LEADS: &[Fields] = &[
    ("Wang Wei", "ACME Trading", "A", "east", "retail", &["vip"]),
    ("Li Na", "Big Acme Group", "B", "east", "tech", &[]),
    (
        "Zhang Min",
        "Orient 50% Off",
        "B",
        "west",
        "tech",
        &["vip", "expo"],
    ),
    ("Chen Jie", "Northwind", "C", "west", "finance", &["expo"]),
    ("Liu Yang", "Acme South", "A", "south", "retail", &[]),
    ("Zhao Lei", "Harbor Foods", "", "east", "retail", &["vip"]),
    ("Sun Li", "Harbor Tech", "C", "east", "tech", &[]),
    ("Zhou Xun", "Delta Works", "B", "north", "finance", &[]),
];

/// A listing world: the team's pool with follow-up and close deadlines, the leads above created
/// a minute apart, alice owning four of them (claimed an hour apart, so their deadlines differ)
/// and one released back later (so its pool entry time is its own).
async fn world(app: &TestApp) -> (Team, Vec<proto::Lead>) {
    let team = fixtures::team(app, None).await;
    app.as_admin()
        .update_pool(
            proto::Pool {
                id: team.pool.id.clone(),
                follow_up_timeout: Some(prost_types::Duration {
                    seconds: 86_400,
                    nanos: 0,
                }),
                close_timeout: Some(prost_types::Duration {
                    seconds: 10 * 86_400,
                    nanos: 0,
                }),
                ..Default::default()
            },
            &["follow_up_timeout", "close_timeout"],
        )
        .await;
    let mut ids = Vec::new();
    for (name, company, grade, region, industry, tags) in LEADS {
        let fields = proto::NewLead {
            company: (*company).into(),
            grade: (*grade).into(),
            region: (*region).into(),
            industry: (*industry).into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..new_lead(name)
        };
        let lead = app.as_service().create_in(&team.pool.id, fields).await;
        ids.push(lead.id);
        app.clock.advance(chrono::Duration::minutes(1));
    }
    for i in [6, 1, 3, 4] {
        app.as_member("alice").claim(&ids[i]).await;
        app.clock.advance(chrono::Duration::hours(1));
    }
    app.as_member("alice").release(&ids[4], "not now").await;
    let all = walk(&app.as_member("mia"), base(&team), 100).await;
    assert_eq!(all.len(), LEADS.len());
    (team, all)
}

fn base(team: &Team) -> proto::ListLeadsRequest {
    fixtures::scoped(&team.pool.id)
}

/// Every page of a listing, `page_size` at a time, following the tokens.
async fn walk(who: &Client, request: proto::ListLeadsRequest, page_size: i32) -> Vec<proto::Lead> {
    let request = proto::ListLeadsRequest {
        page_size,
        ..request
    };
    fixtures::list_all_leads(who, request).await
}

fn names(leads: &[proto::Lead]) -> Vec<&str> {
    leads.iter().map(|l| l.name.as_str()).collect()
}

/// Names of the leads `keep` selects, in creation order.
fn expected(all: &[proto::Lead], keep: impl Fn(&proto::Lead) -> bool) -> Vec<&str> {
    all.iter()
        .filter(|l| keep(l))
        .map(|l| l.name.as_str())
        .collect()
}

fn seconds(at: Option<&Timestamp>) -> Option<(i64, i32)> {
    at.map(|t| (t.seconds, t.nanos))
}

/// Compares by an optional time with unset times last, as the service orders them.
fn by_time(a: Option<&Timestamp>, b: Option<&Timestamp>) -> Ordering {
    match (seconds(a), seconds(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (a, b) => b.is_some().cmp(&a.is_some()),
    }
}

#[tokio::test]
async fn every_order_walks_all_pages_in_order_both_ways() {
    let app = TestApp::spawn().await;
    let (team, all) = world(&app).await;
    type Key = fn(&proto::Lead, &proto::Lead) -> Ordering;
    let orders: [(&str, Key); 4] = [
        ("created_at", |a, b| {
            by_time(a.created_at.as_ref(), b.created_at.as_ref())
        }),
        ("pool_entered_at", |a, b| {
            by_time(a.pool_entered_at.as_ref(), b.pool_entered_at.as_ref())
        }),
        ("follow_up_deadline", |a, b| {
            by_time(a.follow_up_deadline.as_ref(), b.follow_up_deadline.as_ref())
        }),
        ("grade", |a, b| a.grade.cmp(&b.grade)),
    ];
    for (key, cmp) in orders {
        for descending in [false, true] {
            let order_by = format!("{key} {}", if descending { "desc" } else { "asc" });
            let mut want = all.clone();
            want.sort_by(|a, b| cmp(a, b).then_with(|| a.id.cmp(&b.id)));
            if descending {
                want.reverse();
            }
            let request = proto::ListLeadsRequest {
                order_by: order_by.clone(),
                ..base(&team)
            };
            let got = walk(&app.as_member("mia"), request, 3).await;
            assert_eq!(names(&got), names(&want), "order_by {order_by}");
        }
    }
}

#[tokio::test]
async fn each_filter_selects_exactly_the_matching_leads() {
    let app = TestApp::spawn().await;
    let (team, all) = world(&app).await;
    let (from, until) = (all[2].created_at, all[5].created_at);
    let deadline = all
        .iter()
        .filter_map(|l| l.follow_up_deadline)
        .max_by_key(|t| t.seconds)
        .expect("owned leads have deadlines");
    type Case = (
        &'static str,
        proto::ListLeadsRequest,
        Box<dyn Fn(&proto::Lead) -> bool>,
    );
    let cases: Vec<Case> = vec![
        (
            "grade",
            proto::ListLeadsRequest {
                grade: "B".into(),
                ..base(&team)
            },
            Box::new(|l| l.grade == "B"),
        ),
        (
            "grade + region",
            proto::ListLeadsRequest {
                grade: "B".into(),
                region: "west".into(),
                ..base(&team)
            },
            Box::new(|l| l.grade == "B" && l.region == "west"),
        ),
        (
            "industry",
            proto::ListLeadsRequest {
                industry: "retail".into(),
                ..base(&team)
            },
            Box::new(|l| l.industry == "retail"),
        ),
        (
            "tag",
            proto::ListLeadsRequest {
                tag: "vip".into(),
                ..base(&team)
            },
            Box::new(|l| l.tags.iter().any(|t| t == "vip")),
        ),
        (
            "query on company, any case",
            proto::ListLeadsRequest {
                query: "acme".into(),
                ..base(&team)
            },
            Box::new(|l| l.company.to_lowercase().contains("acme")),
        ),
        (
            "query on name, as a prefix",
            proto::ListLeadsRequest {
                query: "zha".into(),
                ..base(&team)
            },
            Box::new(|l| l.name.to_lowercase().contains("zha")),
        ),
        (
            "query with a wildcard taken literally",
            proto::ListLeadsRequest {
                query: "50%".into(),
                ..base(&team)
            },
            Box::new(|l| l.company.contains("50%")),
        ),
        (
            "deadline before",
            proto::ListLeadsRequest {
                deadline_before: Some(deadline),
                ..base(&team)
            },
            Box::new(move |l| {
                !l.owner_id.is_empty()
                    && by_time(l.follow_up_deadline.as_ref(), Some(&deadline)) == Ordering::Less
            }),
        ),
        (
            "created range",
            proto::ListLeadsRequest {
                created_after: from,
                created_before: until,
                ..base(&team)
            },
            Box::new(move |l| {
                by_time(l.created_at.as_ref(), from.as_ref()) != Ordering::Less
                    && by_time(l.created_at.as_ref(), until.as_ref()) == Ordering::Less
            }),
        ),
        (
            "owned by me",
            proto::ListLeadsRequest {
                owner_id: "me".into(),
                ..base(&team)
            },
            Box::new(|l| l.owner_id == "alice"),
        ),
        (
            "state and tag",
            proto::ListLeadsRequest {
                state: proto::LeadState::InPool.into(),
                tag: "expo".into(),
                ..base(&team)
            },
            Box::new(|l| l.state() == proto::LeadState::InPool && l.tags.contains(&"expo".into())),
        ),
    ];
    for (name, request, keep) in cases {
        let want = expected(&all, keep);
        assert!(
            !want.is_empty() && want.len() < all.len(),
            "{name} must discriminate"
        );
        let who = if request.owner_id == "me" {
            app.as_member("alice")
        } else {
            app.as_member("mia")
        };
        let got = walk(&who, request, 2).await;
        assert_eq!(names(&got), want, "{name}");
    }
}

/// PostgreSQL keeps microseconds, and a bound sent with nanoseconds was cut to its microsecond:
/// a lead created at T was listed for `created_after` T + 1 ns and missing for `created_before`
/// T + 999 ns, and a deadline D missing for `deadline_before` D + 999 ns (audit leaddata,
/// repro 01). Each bound keeps its meaning to the nanosecond.
#[tokio::test]
async fn time_bounds_between_two_microseconds_keep_their_meaning() {
    let app = TestApp::spawn().await;
    let (team, all) = world(&app).await;
    let plus = |at: Option<Timestamp>, nanos: i32| {
        at.map(|t| Timestamp {
            nanos: t.nanos + nanos,
            ..t
        })
    };
    let created = all[2].created_at;
    let deadline = all
        .iter()
        .filter_map(|l| l.follow_up_deadline)
        .max_by_key(|t| t.seconds);
    let mut wrong = Vec::new();
    for nanos in [1, 999] {
        let (after, before) = (plus(created, nanos), plus(deadline, nanos));
        let cases = [
            (
                proto::ListLeadsRequest {
                    created_after: after,
                    ..base(&team)
                },
                expected(&all, |l| {
                    by_time(l.created_at.as_ref(), after.as_ref()) != Ordering::Less
                }),
            ),
            (
                proto::ListLeadsRequest {
                    created_before: after,
                    ..base(&team)
                },
                expected(&all, |l| {
                    by_time(l.created_at.as_ref(), after.as_ref()) == Ordering::Less
                }),
            ),
            (
                proto::ListLeadsRequest {
                    deadline_before: before,
                    ..base(&team)
                },
                expected(&all, |l| {
                    !l.owner_id.is_empty()
                        && by_time(l.follow_up_deadline.as_ref(), before.as_ref()) == Ordering::Less
                }),
            ),
        ];
        for (request, want) in cases {
            let got = walk(&app.as_member("mia"), request.clone(), 100).await;
            if names(&got) != want {
                wrong.push(format!("{request:?}: got {:?}, want {want:?}", names(&got)));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn filters_keep_masking_for_members() {
    let app = TestApp::spawn().await;
    let (team, _) = world(&app).await;
    app.as_admin()
        .update_pool(
            proto::Pool {
                id: team.pool.id.clone(),
                mask_contacts: true,
                ..Default::default()
            },
            &["mask_contacts"],
        )
        .await;
    let request = proto::ListLeadsRequest {
        query: "harbor".into(),
        ..base(&team)
    };
    let seen = walk(&app.as_member("bob"), request, 10).await;
    assert_eq!(names(&seen), ["Zhao Lei", "Sun Li"]);
    for lead in &seen {
        let owned_by_bob = lead.owner_id == "bob";
        assert_eq!(lead.contact_masked, !owned_by_bob, "{}", lead.name);
        assert!(lead.phone.contains('*'), "{}", lead.phone);
    }
}

#[tokio::test]
async fn a_token_is_refused_with_another_filter_or_order() {
    let app = TestApp::spawn().await;
    let (team, _) = world(&app).await;
    let request = proto::ListLeadsRequest {
        grade: "B".into(),
        order_by: "grade desc".into(),
        page_size: 1,
        ..base(&team)
    };
    let mia = app.as_member("mia");
    let token = mia.list_leads(request.clone()).await.next_page_token;
    assert!(!token.is_empty());
    for other in [
        proto::ListLeadsRequest {
            order_by: "grade asc".into(),
            ..request.clone()
        },
        proto::ListLeadsRequest {
            grade: "A".into(),
            ..request.clone()
        },
        proto::ListLeadsRequest {
            query: "acme".into(),
            ..request.clone()
        },
    ] {
        let result = mia
            .try_list_leads(proto::ListLeadsRequest {
                page_token: token.clone(),
                ..other
            })
            .await;
        assert_error(result, "BAD_PAGE_TOKEN");
    }
    // Tokens edited by hand to hold what no lead can: a time for the grade order, a NUL, a
    // text for a time order, a time PostgreSQL cannot hold.
    let by_creation = proto::ListLeadsRequest {
        order_by: "created_at".into(),
        ..request.clone()
    };
    let creation_token = mia.list_leads(by_creation.clone()).await.next_page_token;
    for (listing, token, forged_after) in [
        (
            &request,
            &token,
            serde_json::json!({"Time": "2020-01-01T00:00:00Z"}),
        ),
        (&request, &token, serde_json::json!({"Text": "B\0"})),
        (
            &by_creation,
            &creation_token,
            serde_json::json!({"Text": "zzz"}),
        ),
        (
            &by_creation,
            &creation_token,
            serde_json::json!({"Time": "-4714-01-01T00:00:00Z"}),
        ),
    ] {
        let result = mia
            .try_list_leads(proto::ListLeadsRequest {
                page_token: with_position(token, forged_after),
                ..listing.clone()
            })
            .await;
        assert_error(result, "BAD_PAGE_TOKEN");
    }
}

/// `token` with its sort value replaced, as a caller who decoded it might forge one.
fn with_position(token: &str, sort_value: serde_json::Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = URL_SAFE_NO_PAD.decode(token).expect("base64");
    let mut decoded: serde_json::Value = serde_json::from_slice(&json).expect("json");
    decoded["after"][0] = sort_value;
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&decoded).expect("json"))
}

#[tokio::test]
async fn bad_listing_requests_name_every_bad_field() {
    let app = TestApp::spawn().await;
    let (team, _) = world(&app).await;
    let now = Timestamp {
        seconds: 1_772_442_000,
        nanos: 0,
    };
    let result = app
        .as_member("mia")
        .try_list_leads(proto::ListLeadsRequest {
            order_by: "name".into(),
            query: "x".repeat(201),
            tag: "t".repeat(51),
            created_after: Some(now),
            created_before: Some(now),
            deadline_before: Some(Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            page_size: -1,
            ..base(&team)
        })
        .await;
    let mut fields = bad_fields(result);
    fields.sort();
    assert_eq!(
        fields,
        [
            "created_before",
            "deadline_before",
            "order_by",
            "page_size",
            "query",
            "tag"
        ]
    );
}
