//! UpdateLead (field mask + version), RecordFollowUp, ListFollowUps.

use chrono::Duration;
use leadpool::proto;
use prost_types::Timestamp;

use crate::caller::{Client, Services};
use crate::fixtures;
use crate::harness::{TestApp, assert_error, bad_fields};

async fn follow_up(
    app: &TestApp,
    who: &str,
    lead_id: &str,
    occurred_at: Option<Timestamp>,
) -> Result<proto::RecordFollowUpResponse, tonic::Status> {
    app.as_member(who)
        .try_record_follow_up(proto::RecordFollowUpRequest {
            lead_id: lead_id.into(),
            channel: proto::FollowUpChannel::Call.into(),
            note: "asked for a quote".into(),
            occurred_at,
            ..Default::default()
        })
        .await
}

#[tokio::test]
async fn update_changes_masked_fields_at_the_read_version() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let owned = app.as_member("alice").claim(&lead.id).await;
    let changed = app
        .as_member("alice")
        .update_lead(
            proto::Lead {
                company: "Hangzhou Tea Co".into(),
                tags: vec!["hot".into()],
                name: String::new(),    // not in the mask: ignored
                source: "web\0".into(), // not in the mask: neither checked nor written
                attributes: [("渠道\0".to_owned(), "\0".to_owned())].into(),
                ..owned.clone()
            },
            &["company", "tags"],
        )
        .await;
    assert_eq!(changed.company, "Hangzhou Tea Co");
    assert_eq!(changed.tags, ["hot"]);
    assert_eq!(changed.name, "Wang Wei");
    assert_eq!(
        (changed.source.as_str(), &changed.attributes),
        (owned.source.as_str(), &owned.attributes)
    );
    assert_eq!(changed.version, owned.version + 1);
    let note: Option<String> = sqlx::query_scalar(
        "SELECT note FROM lead_events WHERE kind = 'UPDATED' AND lead_id = $1::uuid",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("event");
    assert_eq!(note.as_deref(), Some("company, tags"));

    // The stale version is refused with the current one, and nothing changes.
    let md = app
        .assert_refused(
            app.as_member("mia").try_update_lead(
                proto::Lead {
                    grade: "A".into(),
                    ..owned
                },
                &["grade"],
            ),
            "VERSION_CONFLICT",
        )
        .await;
    assert_eq!(md["current_version"], changed.version.to_string());
    let managed = app
        .as_member("mia")
        .update_lead(
            proto::Lead {
                grade: "A".into(),
                ..changed
            },
            &["grade"],
        )
        .await;
    assert_eq!(managed.grade, "A");
}

#[tokio::test]
async fn update_refuses_bad_input_strangers_and_duplicates() {
    let (app, team) = fixtures::app_with_team(None).await;
    let first = fixtures::lead(&app, &team.pool.id, "First").await;
    let lead = fixtures::lead(&app, &team.pool.id, "Second").await;
    let before = app.fingerprint().await;
    let no_version = proto::Lead {
        version: 0,
        name: String::new(),
        ..lead.clone()
    };
    assert_eq!(
        bad_fields(
            app.as_service()
                .try_update_lead(no_version, &["name", "owner_id"])
                .await
        ),
        ["lead.name", "lead.version", "update_mask"]
    );
    let bad_tag = proto::Lead {
        tags: vec!["ok".into(), "\u{7}".into()],
        ..lead.clone()
    };
    assert_eq!(
        bad_fields(app.as_service().try_update_lead(bad_tag, &["tags"]).await),
        ["lead.tags[1]"]
    );
    assert_error(
        app.as_member("bob")
            .try_update_lead(lead.clone(), &["name"])
            .await,
        "NOT_LEAD_OWNER",
    );
    let same_phone = proto::Lead {
        phone: first.phone.replace(' ', ""),
        ..lead.clone()
    };
    let md = assert_error(
        app.as_admin().try_update_lead(same_phone, &["phone"]).await,
        "DUPLICATE_LEAD",
    );
    assert_eq!(md["existing_lead_id"], first.id);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn follow_up_resets_the_follow_up_deadline_but_not_the_close_deadline() {
    let (app, team) = fixtures::app_with_team(None).await;
    let rules = proto::Pool {
        id: team.pool.id.clone(),
        follow_up_timeout: Some(prost_types::Duration {
            seconds: 3 * 86_400,
            nanos: 0,
        }),
        close_timeout: Some(prost_types::Duration {
            seconds: 30 * 86_400,
            nanos: 0,
        }),
        ..Default::default()
    };
    app.as_admin()
        .update_pool(rules, &["follow_up_timeout", "close_timeout"])
        .await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let owned = app.as_member("alice").claim(&lead.id).await;
    let acquired = owned.acquired_at.expect("acquired").seconds;

    app.clock.advance(Duration::days(2));
    let recorded = follow_up(&app, "alice", &lead.id, None)
        .await
        .expect("follow up");
    let now = app.clock_now().timestamp();
    let after = recorded.lead.expect("lead");
    assert_eq!(fixtures::seconds(after.last_follow_up_at), Some(now));
    assert_eq!(
        fixtures::seconds(after.follow_up_deadline),
        Some(now + 3 * 86_400)
    );
    assert_eq!(
        after.close_deadline, owned.close_deadline,
        "close deadline unchanged"
    );
    assert_eq!(
        fixtures::seconds(after.close_deadline),
        Some(acquired + 30 * 86_400)
    );
    let entry = recorded.follow_up.expect("follow-up");
    assert_eq!(entry.author, "alice");
    assert_eq!(entry.channel(), proto::FollowUpChannel::Call);

    // A follow-up logged late, for an earlier time, does not pull the deadline back.
    let earlier = Timestamp {
        seconds: now - 3_600,
        nanos: 0,
    };
    let late = follow_up(&app, "alice", &lead.id, Some(earlier))
        .await
        .expect("late entry");
    assert_eq!(
        fixtures::seconds(late.lead.expect("lead").follow_up_deadline),
        Some(now + 3 * 86_400)
    );
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "CLAIMED", "FOLLOWED_UP", "FOLLOWED_UP"]
    );
    let (reason, note): (String, String) = sqlx::query_as(
        "SELECT reason, note FROM lead_events WHERE lead_id = $1::uuid AND kind = 'FOLLOWED_UP'
         ORDER BY seq LIMIT 1",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("FOLLOWED_UP event");
    assert_eq!(
        (reason.as_str(), note.as_str()),
        ("CALL", "asked for a quote")
    );

    let mia = app.as_member("mia");
    let listed = mia
        .leads()
        .list_follow_ups(mia.req(proto::ListFollowUpsRequest {
            lead_id: lead.id.clone(),
            page_size: 1,
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.follow_ups.len(), 1);
    assert_eq!(
        fixtures::seconds(listed.follow_ups[0].occurred_at),
        Some(now - 3_600)
    );
    assert!(!listed.next_page_token.is_empty());
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn only_the_owner_records_follow_ups_and_never_in_the_future() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let before = app.fingerprint().await;
    assert_error(
        follow_up(&app, "alice", &lead.id, None).await,
        "LEAD_NOT_OWNED",
    );
    app.as_member("alice").claim(&lead.id).await;
    let claimed = app.fingerprint().await;
    assert_ne!(before, claimed);
    assert_error(
        follow_up(&app, "bob", &lead.id, None).await,
        "NOT_LEAD_OWNER",
    );
    // Not even the manager records one for alice, and the refusal does not say otherwise.
    let by_manager = follow_up(&app, "mia", &lead.id, None).await;
    let message = by_manager.as_ref().map_err(|s| s.message().to_owned());
    assert!(
        message.is_err_and(|m| m.contains("Only the lead's owner records")),
        "{by_manager:?}"
    );
    assert_error(by_manager, "NOT_LEAD_OWNER");
    let tomorrow = Timestamp {
        seconds: app.clock_now().timestamp() + 86_400,
        nanos: 0,
    };
    assert_eq!(
        bad_fields(follow_up(&app, "alice", &lead.id, Some(tomorrow)).await),
        ["occurred_at"]
    );
    let no_channel = app
        .as_member("alice")
        .try_record_follow_up(proto::RecordFollowUpRequest {
            lead_id: lead.id.clone(),
            note: "n".repeat(2_001),
            ..Default::default()
        })
        .await;
    assert_eq!(bad_fields(no_channel), ["channel", "note"]);
    assert_eq!(app.fingerprint().await, claimed);
}

async fn history_kinds(reader: &Client, lead_id: &str) -> Vec<proto::EventKind> {
    let events = reader.history(lead_id).await;
    events.iter().map(|e| e.kind()).collect()
}

/// Notes and history: the owner, the pool's managers, admins and services read them always;
/// another member only while the lead is in the pool (so the next rep sees what came before),
/// never while a colleague owns it.
#[tokio::test]
async fn a_colleagues_notes_are_read_only_while_the_lead_is_in_the_pool() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let (alice, bob) = (app.as_member("alice"), app.as_member("bob"));
    alice.claim(&lead.id).await;
    follow_up(&app, "alice", &lead.id, None)
        .await
        .expect("note");
    let before = app.fingerprint().await;

    assert_error(bob.try_follow_ups(&lead.id).await, "NOT_LEAD_OWNER");
    assert_error(bob.try_history(&lead.id).await, "NOT_LEAD_OWNER");
    for reader in [
        &alice,
        &app.as_member("mia"),
        &app.as_admin(),
        &app.as_service(),
    ] {
        assert_eq!(reader.follow_ups(&lead.id).await.len(), 1);
        assert!(!reader.history(&lead.id).await.is_empty());
    }
    assert_eq!(app.fingerprint().await, before, "reads change nothing");

    alice.release(&lead.id, "NO_BUDGET").await;
    let notes = bob.follow_ups(&lead.id).await;
    assert_eq!(notes.len(), 1, "the next rep sees the note");
    assert_eq!(notes[0].note, "asked for a quote");
    let kinds = history_kinds(&bob, &lead.id).await;
    assert!(kinds.contains(&proto::EventKind::Released), "{kinds:?}");

    bob.claim(&lead.id).await;
    assert_error(alice.try_follow_ups(&lead.id).await, "NOT_LEAD_OWNER");
    assert_error(alice.try_history(&lead.id).await, "NOT_LEAD_OWNER");
    assert_eq!(bob.follow_ups(&lead.id).await.len(), 1);

    // Once bob converts it the lead has no owner: bob keeps reading the record of his work,
    // alice, who lost it before, still does not; the manager does.
    bob.convert(&lead.id).await;
    assert_eq!(bob.follow_ups(&lead.id).await.len(), 1);
    let kinds = history_kinds(&bob, &lead.id).await;
    assert!(kinds.contains(&proto::EventKind::Converted), "{kinds:?}");
    assert_error(alice.try_follow_ups(&lead.id).await, "NOT_LEAD_OWNER");
    assert_error(alice.try_history(&lead.id).await, "NOT_LEAD_OWNER");
    assert_eq!(app.as_member("mia").follow_ups(&lead.id).await.len(), 1);
}
