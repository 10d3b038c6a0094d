//! Input hygiene and clean failures (api.md "Errors"): no input reaches INTERNAL, errors quote a
//! bounded part of the input, tonic's own failures come in the contract's terms, and the
//! caller's deadline bounds the database work so a call that timed out changed nothing.

use std::time::Duration;

use leadpool::proto;
use tonic::Request;
use tonic::codegen::http::uri::PathAndQuery;

use crate::caller::Services;
use crate::fixtures::{self, TENANT};
use crate::harness::{Caller, TestApp, assert_error};
use crate::slow_link;
use leadpool::service::{Context, deadline};
use sqlx::Connection;

#[tokio::test]
async fn nul_and_control_characters_are_refused_in_every_text() {
    let (app, team) = fixtures::app_with_team(None).await;
    let service = app.as_service();
    let named = |name: &str| proto::NewLead {
        name: name.into(),
        ..fixtures::new_lead("x")
    };
    for (lead, field) in [
        (named("王\0伟"), "lead.name"),
        (named("bell\u{7}"), "lead.name"),
        (
            proto::NewLead {
                region: "east\nwest".into(),
                ..fixtures::new_lead("y")
            },
            "lead.region",
        ),
    ] {
        let fields = app
            .invalid_fields(service.try_create_in(&team.pool.id, lead))
            .await;
        assert_eq!(fields, [field]);
    }
    // Names keep their line breaks and tabs.
    let kept = service
        .create_in(&team.pool.id, named("王伟\n\t销售部"))
        .await;
    assert_eq!(kept.name, "王伟\n\t销售部");
}

#[tokio::test]
async fn times_outside_years_0001_to_9999_are_refused() {
    let (app, team) = fixtures::app_with_team(None).await;
    for seconds in [-1_000_000_000_000, 400_000_000_000] {
        let request = proto::ListLeadsRequest {
            created_after: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        };
        let fields = app
            .invalid_fields(app.as_admin().try_list_leads(request))
            .await;
        assert_eq!(fields, ["created_after"], "{seconds}");
        let upcoming = proto::ListUpcomingRecyclesRequest {
            pool_id: team.pool.id.clone(),
            until: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        };
        let mut recycle = app.recycles();
        let listed = recycle.list_upcoming_recycles(fixtures::admin().req(upcoming));
        assert_eq!(app.invalid_fields(listed).await, ["until"], "{seconds}");
    }
}

#[tokio::test]
async fn errors_quote_at_most_64_characters_of_the_input() {
    let (app, _team) = fixtures::app_with_team(None).await;
    let huge = "x".repeat(10_000);
    let status = app
        .as_member("alice")
        .try_claim(&huge)
        .await
        .expect_err("not a UUID");
    assert!(status.message().len() < 300, "{}", status.message().len());
    assert!(status.details().len() < 1_000, "{}", status.details().len());
    assert_error(Err::<(), _>(status), "VALIDATION_FAILED");
}

#[tokio::test]
async fn identities_that_cannot_be_ids_are_invalid_not_missing() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    let long = "a".repeat(129);
    // Beyond HTTP/2's usual 16 KiB of headers, still a status with the header named.
    let huge = "a".repeat(20_000);
    for caller in [
        Caller::new(TENANT, &long, ""),
        Caller::new(TENANT, &huge, ""),
        Caller::new("ac me", "alice", ""),
    ] {
        let fields = app
            .invalid_fields(app.as_caller(caller).try_claim(&lead.id))
            .await;
        assert_eq!(fields.len(), 1, "{fields:?}");
        assert!(fields[0].starts_with("x-"), "{fields:?}");
    }
    assert_eq!(fixtures::held_count(&app, &team.pool.id, "alice").await, 0);
}

#[tokio::test]
async fn requests_over_the_4_mib_limit_are_resource_exhausted_with_the_limit() {
    let (app, team) = fixtures::app_with_team(None).await;
    let before = app.fingerprint().await;
    let lead = proto::NewLead {
        name: "长".repeat(1_500_000),
        ..fixtures::new_lead("x")
    };
    let created = app.as_service().try_create_in(&team.pool.id, lead).await;
    let metadata = assert_error(created, "MESSAGE_TOO_LARGE");
    assert_eq!(metadata["limit_bytes"], "4194304");
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn an_import_of_1000_rows_with_chinese_attributes_fits_the_limit() {
    let (app, team) = fixtures::app_with_team(None).await;
    let rows: Vec<proto::NewLead> = (0..1_000)
        .map(|i| proto::NewLead {
            company: format!("杭州云栖网络科技有限公司第{i}分公司"),
            attributes: (0..11)
                .map(|k| (format!("字段{k}"), "客户备注".repeat(25)))
                .collect(),
            ..fixtures::new_lead(&format!("客户 {i}"))
        })
        .collect();
    let request = proto::ImportLeadsRequest {
        pool_id: team.pool.id.clone(),
        leads: rows,
        ..Default::default()
    };
    assert!(
        (3_000_000..4 * 1024 * 1024).contains(&prost::Message::encoded_len(&request)),
        "a request of 3 to 4 MiB"
    );
    let imported = app.as_service().import_leads(request).await;
    assert_eq!(imported.results.len(), 1_000);
    assert!(
        imported
            .results
            .iter()
            .all(|r| r.outcome() == proto::ImportOutcome::Created)
    );
}

/// `ClaimLeadRequest` as a careless client might encode it: `lead_id` (a string, tag 1) sent
/// as a number, which no protobuf decoder accepts.
#[derive(Clone, PartialEq, prost::Message)]
struct MistypedClaim {
    #[prost(uint64, tag = "1")]
    lead_id: u64,
}

#[tokio::test]
async fn an_undecodable_body_is_invalid_argument_not_internal() {
    let (app, _team, _lead) = fixtures::app_with_lead(None).await;
    let mut grpc = tonic::client::Grpc::new(app.channel());
    grpc.ready().await.expect("ready");
    let codec = tonic_prost::ProstCodec::<MistypedClaim, proto::ClaimLeadResponse>::default();
    let path = PathAndQuery::from_static("/leadpool.v1.LeadService/ClaimLead");
    let request = fixtures::user("alice").req(MistypedClaim { lead_id: 7 });
    let before = app.fingerprint().await;
    let answered = grpc.unary(request, path, codec).await;
    assert_error(answered, "VALIDATION_FAILED");
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_deadline_passes_while_it_waits_commits_nothing() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    // Another transaction holds the lead's row for longer than the caller waits.
    let holder = app
        .holding(
            "SELECT 1 FROM leads WHERE id = $1::uuid FOR UPDATE",
            &lead.id,
        )
        .await;
    let before = app.fingerprint().await;
    let mut request: Request<_> = fixtures::user("alice").req(proto::ClaimLeadRequest {
        lead_id: lead.id.clone(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(300));
    let claimed = app.leads().claim_lead(request).await;
    assert_error(claimed, "DEADLINE_EXCEEDED");
    holder.rollback().await.expect("release the row");
    // A claim statement still waiting for the row would be granted it before this read.
    let mut check = app.db.begin().await.expect("begin");
    let state: String =
        sqlx::query_scalar("SELECT state FROM leads WHERE id = $1::uuid FOR UPDATE")
            .bind(&lead.id)
            .fetch_one(&mut *check)
            .await
            .expect("state");
    check.rollback().await.expect("rollback");
    assert_eq!(state, "IN_POOL");
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(fixtures::held_count(&app, &team.pool.id, "alice").await, 0);
}

/// A phone must hold 5 to 20 digits; an e-mail must be one address (a cell with two would be
/// masked and de-duplicated as the first alone).
#[tokio::test]
async fn a_phone_must_hold_5_to_20_digits_and_an_email_be_one_address() {
    let (app, team) = fixtures::app_with_team(None).await;
    let contact = |phone: &str, email: &str| proto::NewLead {
        phone: phone.into(),
        email: email.into(),
        ..fixtures::new_lead("x")
    };
    let bad = [
        ("not-a-phone", "", "lead.phone"),
        ("+86 12", "", "lead.phone"),
        ("1234567890123456789012", "", "lead.phone"),
        ("", "not-an-email", "lead.email"),
        ("", "john@gmail.com; jane.secret@corp.cn", "lead.email"),
        ("", "王伟 <wang@example.com>", "lead.email"),
    ];
    for (phone, email, field) in bad {
        let service = app.as_service();
        let created = service.try_create_in(&team.pool.id, contact(phone, email));
        assert_eq!(app.invalid_fields(created).await, [field], "{phone}{email}");
    }
    let imported = app
        .as_service()
        .import_leads(proto::ImportLeadsRequest {
            pool_id: team.pool.id.clone(),
            leads: vec![
                contact("not-a-phone", ""),
                contact("", "wang@hangzhou-tea.cn,li@hangzhou-tea.cn"),
                contact("+86 139 0000 0001", "Wang.Wei@hangzhou-tea.cn"),
            ],
            ..Default::default()
        })
        .await;
    let outcomes: Vec<_> = imported
        .results
        .iter()
        .map(|r| (r.outcome(), r.field.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (proto::ImportOutcome::Invalid, "phone"),
            (proto::ImportOutcome::Invalid, "email"),
            (proto::ImportOutcome::Created, ""),
        ]
    );
}

/// A commit sent before the deadline may take effect after it. The call is then not answered
/// `DEADLINE_EXCEEDED` "nothing was changed": it runs on to its own answer, which the caller
/// gets if it comes in time (else transport's own timeout ends the call, saying nothing of
/// what it did), and a retry with the same `request_id` gets what it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_commit_outlasts_the_deadline_never_says_nothing_changed() {
    let (app, _team, lead) = fixtures::app_with_lead(None).await;
    // The claim's statement takes 300 ms; its commit then waits for a lock this test holds.
    sqlx::raw_sql(
        r#"CREATE FUNCTION test_slow_statement() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;
           CREATE TRIGGER test_slow_statement AFTER INSERT ON lead_events
               FOR EACH STATEMENT EXECUTE FUNCTION test_slow_statement();
           CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_advisory_xact_lock_shared(7244); RETURN NULL; END $$;
           CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON lead_events
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit();"#,
    )
    .execute(&app.db)
    .await
    .expect("slow triggers");
    let mut holder = app.db.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock(7244)")
        .execute(&mut *holder)
        .await
        .expect("hold the commit");
    let claim = proto::ClaimLeadRequest {
        lead_id: lead.id.clone(),
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let mut request: Request<_> = fixtures::user("alice").req(claim.clone());
    // Our deadline is 950 ms away: the commit is sent at about 300 ms and waits past the
    // caller's own (1 s), until the lock is let go at 1.1 s.
    request.set_timeout(Duration::from_millis(1000));
    let mut leads = app.leads();
    let call = tokio::spawn(async move { leads.claim_lead(request).await });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sqlx::query("SELECT pg_advisory_unlock(7244)")
        .execute(&mut *holder)
        .await
        .expect("let the commit finish");
    if let Err(status) = call.await.expect("joined") {
        assert!(
            !status.message().contains("nothing was changed"),
            "a committed claim was denied: {status:?}"
        );
    }
    let retried = app
        .leads()
        .claim_lead(fixtures::user("alice").req(claim))
        .await;
    let owner = retried.expect("the stored answer").into_inner().lead;
    assert_eq!(owner.map(|l| l.owner_id).as_deref(), Some("alice"));
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn with_the_database_unreachable_a_call_is_unavailable_within_its_deadline() {
    let (channel, _server) = crate::harness::spawn_without_database().await;
    let mut leads = leadpool::proto::lead_service_client::LeadServiceClient::new(channel);
    // Connected first, so the deadline measures the call, not the connection's set-up.
    let anonymous = leads.get_lead(proto::GetLeadRequest::default()).await;
    assert_error(anonymous, "MISSING_IDENTITY");
    let mut request: Request<_> = fixtures::user("alice").req(proto::ClaimLeadRequest {
        lead_id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(800));
    let started = std::time::Instant::now();
    let claimed = leads.claim_lead(request).await;
    assert_error(claimed, "DATABASE_UNAVAILABLE");
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "answered after {:?}",
        started.elapsed()
    );
}

/// A `BEGIN` cut off by the caller's deadline before its answer came must not leave its
/// transaction open on the pooled connection: the next call on that connection would run inside
/// it, and a statement meant to commit on its own would never commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_cut_off_as_it_begins_is_not_left_open() {
    let app = TestApp::spawn().await;
    // Every answer of the server arrives 100 ms late, so a 20 ms deadline always passes while
    // the BEGIN is on the wire.
    let slow = slow_link::pool_behind(&app.db, Duration::from_millis(100)).await;
    let ctx = Context::new(slow.clone(), app.clock.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
    let begun = deadline::within(Some(deadline), ctx.begin()).await;
    assert!(begun.is_err(), "the deadline passed during the BEGIN");

    // The pool's one connection, once back, commits a statement sent on its own.
    sqlx::query("CREATE TABLE after_the_cut_off (id int)")
        .execute(&slow)
        .await
        .expect("a statement of its own");
    let mut watcher = sqlx::PgConnection::connect_with(&app.db.connect_options())
        .await
        .expect("connect");
    let (committed, open): (bool, i64) = sqlx::query_as(
        "SELECT to_regclass('after_the_cut_off') IS NOT NULL,
                (SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%')",
    )
    .fetch_one(&mut watcher)
    .await
    .expect("look");
    assert!(
        committed,
        "the statement ran inside the cut-off transaction"
    );
    assert_eq!(open, 0, "connections left inside a transaction");
}
