//! ImportLeads and ImportLeadsStream: per-row outcomes, duplicates, invalid rows.

use leadpool::proto;
use proto::ImportOutcome as O;

use crate::caller::Services;
use crate::fixtures::{self, service};
use crate::harness::{TestApp, assert_error, bad_fields};
use crate::streams;

fn row(name: &str, phone: &str, email: &str, external_ref: &str) -> proto::NewLead {
    proto::NewLead {
        name: name.into(),
        phone: phone.into(),
        email: email.into(),
        external_ref: external_ref.into(),
        ..Default::default()
    }
}

async fn import(
    app: &TestApp,
    pool_id: &str,
    leads: Vec<proto::NewLead>,
    allow_duplicates: bool,
) -> Result<proto::ImportLeadsResponse, tonic::Status> {
    app.as_service()
        .try_import_leads(proto::ImportLeadsRequest {
            pool_id: pool_id.into(),
            leads,
            allow_duplicates,
            ..Default::default()
        })
        .await
}

#[tokio::test]
async fn mixed_rows_report_created_duplicate_and_invalid_each() {
    let (app, team) = fixtures::app_with_team(None).await;
    let mut existing_fields = row("Existing", "+86 138-0000-1234", "", "crm-1");
    existing_fields.company = "Old Co".into();
    let existing = app
        .as_service()
        .create_in(&team.pool.id, existing_fields)
        .await;
    let response = import(
        &app,
        &team.pool.id,
        vec![
            row("A", "13900000001", "a@example.com", "crm-2"),
            row("Dup of existing", "13800001234", "", ""),
            row("", "13900000003", "", ""),
            row("B", "13900000004", "", ""),
            row("Repeats A", "", "A@Example.com", ""),
            row("Taken ref", "13900000006", "", "crm-1"),
            row("Repeated ref", "13900000007", "", "crm-2"),
        ],
        false,
    )
    .await
    .expect("import");
    let outcomes: Vec<(i32, O, String)> = response
        .results
        .iter()
        .map(|r| (r.index, r.outcome(), r.field.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (0, O::Created, String::new()),
            (1, O::Duplicate, String::new()),
            (2, O::Invalid, "name".into()),
            (3, O::Created, String::new()),
            (4, O::Duplicate, String::new()),
            (5, O::Invalid, "external_ref".into()),
            (6, O::Invalid, "external_ref".into()),
        ]
    );
    assert_eq!(response.results[1].lead_id, existing.id);
    assert_eq!(
        response.results[4].lead_id, response.results[0].lead_id,
        "a repeat names the row it repeats"
    );
    assert!(!response.results[2].message.is_empty());
    assert_eq!(
        (response.created, response.duplicates, response.invalid),
        (2, 2, 3)
    );

    let (leads, created_events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM lead_events WHERE kind = 'CREATED')",
    )
    .fetch_one(&app.db)
    .await
    .expect("counts");
    assert_eq!((leads, created_events), (3, 3));
    let a = app
        .as_service()
        .get_lead(&response.results[0].lead_id)
        .await;
    assert_eq!((a.name.as_str(), a.external_ref.as_str()), ("A", "crm-2"));
    assert_eq!(a.state(), proto::LeadState::InPool);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn allow_duplicates_imports_them_as_known_duplicates() {
    let (app, team) = fixtures::app_with_team(None).await;
    let first = import(
        &app,
        &team.pool.id,
        vec![row("A", "13900000001", "", "")],
        false,
    )
    .await
    .expect("first");
    let second = import(
        &app,
        &team.pool.id,
        vec![row("A again", "+86 139 0000 0001", "", "")],
        true,
    )
    .await
    .expect("second");
    assert_eq!(second.results[0].outcome(), O::Created);
    let lead = app.as_service().get_lead(&second.results[0].lead_id).await;
    assert_eq!(lead.duplicate_of, first.results[0].lead_id);
}

#[tokio::test]
async fn import_refuses_bad_batches_and_callers() {
    let (app, team) = fixtures::app_with_team(None).await;
    let before = app.fingerprint().await;
    assert_eq!(
        bad_fields(import(&app, &team.pool.id, Vec::new(), false).await),
        ["leads"]
    );
    let too_many = (0..1_001)
        .map(|i| row(&format!("R{i}"), "", "", ""))
        .collect();
    assert_eq!(
        bad_fields(import(&app, "nope", too_many, false).await),
        ["pool_id", "leads"]
    );
    let by_member = app
        .as_member("alice")
        .try_import_leads(proto::ImportLeadsRequest {
            pool_id: team.pool.id.clone(),
            leads: vec![row("A", "", "", "")],
            ..Default::default()
        })
        .await;
    assert_error(by_member, "MANAGER_REQUIRED");
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn replayed_import_returns_the_same_results_and_creates_nothing_new() {
    let (app, team) = fixtures::app_with_team(None).await;
    let request = proto::ImportLeadsRequest {
        pool_id: team.pool.id.clone(),
        leads: vec![
            row("A", "13900000001", "", ""),
            row("B", "13900000002", "", ""),
        ],
        request_id: "0195f3a2-7c1e-7000-8000-0000000000aa".into(),
        ..Default::default()
    };
    let first = app.as_service().import_leads(request.clone()).await;
    let before = app.fingerprint().await;
    let again = app.as_service().import_leads(request).await;
    assert_eq!(again, first);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn streamed_import_commits_chunk_by_chunk_and_sums_up() {
    let (app, team) = fixtures::app_with_team(None).await;
    let rows = |from: usize, to: usize| -> Vec<proto::NewLead> {
        (from..to)
            .map(|i| {
                // Every 100th row repeats a phone of an earlier chunk; every 250th has no name.
                let phone = if i % 100 == 99 {
                    format!("1390{:07}", i - 99)
                } else {
                    format!("1390{i:07}")
                };
                let name = if i % 250 == 0 {
                    String::new()
                } else {
                    format!("Row {i}")
                };
                row(&name, &phone, "", "")
            })
            .collect()
    };
    let chunks = vec![
        proto::ImportLeadsStreamRequest {
            pool_id: team.pool.id.clone(),
            leads: rows(0, 1_000),
            ..Default::default()
        },
        proto::ImportLeadsStreamRequest {
            leads: rows(1_000, 1_900),
            ..Default::default()
        },
        proto::ImportLeadsStreamRequest {
            leads: rows(1_900, 2_400),
            ..Default::default()
        },
        proto::ImportLeadsStreamRequest {
            leads: rows(2_400, 2_500),
            ..Default::default()
        },
    ];
    let summary = app
        .leads()
        .import_leads_stream(service().req(tokio_stream::iter(chunks)))
        .await
        .expect("stream")
        .into_inner();
    // 10 rows without a name. 25 rows repeat the phone of row i - 99, but 5 of those earlier
    // rows (0, 500, 1000, 1500, 2000) were invalid and created nothing: 20 duplicates.
    assert_eq!(summary.invalid, 10);
    assert_eq!(summary.duplicates, 20);
    assert_eq!(summary.created, 2_500 - 30);
    assert_eq!(summary.problems.len(), 30);
    assert!(!summary.problems_truncated);
    assert_eq!(summary.problems[0].index, 0, "indexes count across chunks");
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(leads, summary.created);
}

#[tokio::test]
async fn streamed_import_needs_a_pool_first() {
    let app = TestApp::spawn().await;
    fixtures::team(&app, None).await;
    let chunks = vec![proto::ImportLeadsStreamRequest {
        leads: vec![row("A", "", "", "")],
        ..Default::default()
    }];
    let result = app
        .leads()
        .import_leads_stream(service().req(tokio_stream::iter(chunks)))
        .await;
    assert_eq!(bad_fields(result), ["pool_id"]);

    let chunks = vec![proto::ImportLeadsStreamRequest {
        request_id: "not-a-uuid".into(),
        leads: vec![row("A", "", "", "")],
        ..Default::default()
    }];
    let result = app
        .leads()
        .import_leads_stream(service().req(tokio_stream::iter(chunks)))
        .await;
    assert_eq!(bad_fields(result), ["pool_id", "request_id"]);
    assert_eq!(lead_count(&app).await, 0);
}

#[tokio::test]
async fn a_streamed_chunk_holds_at_most_a_thousand_rows() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let mut chunks = keyed_chunks(&team.pool.id, "", 1_001);
    chunks.truncate(1);
    let result = app
        .leads()
        .import_leads_stream(service().req(tokio_stream::iter(chunks)))
        .await;
    assert_eq!(bad_fields(result), ["leads"]);
    assert_eq!(lead_count(&app).await, 0);
    // Past the first message, the refusal says which message and that those before it count.
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut chunks = keyed_chunks(&team.pool.id, &request_id, 10);
    chunks[1].leads = keyed_chunks("", "", 1_001).remove(1).leads;
    let result = app
        .leads()
        .import_leads_stream(service().req(tokio_stream::iter(chunks)))
        .await;
    let refused = result.expect_err("a message too large");
    assert!(
        refused.message().contains("message 1 (0-based)"),
        "{refused:?}"
    );
    assert_eq!(lead_count(&app).await, 10, "the first message was imported");
}

/// Five chunks of `per_chunk` rows with distinct phones; the first names the pool and carries
/// the stream's `request_id`.
fn keyed_chunks(
    pool_id: &str,
    request_id: &str,
    per_chunk: usize,
) -> Vec<proto::ImportLeadsStreamRequest> {
    (0..5)
        .map(|chunk| proto::ImportLeadsStreamRequest {
            pool_id: if chunk == 0 {
                pool_id.into()
            } else {
                String::new()
            },
            request_id: if chunk == 0 {
                request_id.into()
            } else {
                String::new()
            },
            leads: (0..per_chunk)
                .map(|i| {
                    row(
                        &format!("王伟 {chunk}-{i}"),
                        &format!("1391{chunk:03}{i:04}"),
                        "",
                        "",
                    )
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

async fn lead_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&app.db)
        .await
        .expect("count")
}

/// A stream with a `request_id` cut off after 4 of 5 chunks, sent again from the start: the 4
/// committed chunks are skipped and reported, the fifth is written, and the summary counts every
/// row as if the stream had never been cut. Sent a third time it changes nothing; with other rows
/// under the same key it is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_stream_skips_the_chunks_it_committed() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let request_id = uuid::Uuid::now_v7().to_string();
    let chunks = keyed_chunks(&team.pool.id, &request_id, 40);

    // Followed from now on, so the test knows when the four chunks are committed.
    let mut created = streams::watch_from_now(&app.as_admin(), proto::EventKind::Created).await;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut leads = app.leads();
    let request = service().req(tokio_stream::wrappers::ReceiverStream::new(rx));
    let cut = tokio::spawn(async move { leads.import_leads_stream(request).await });
    for chunk in &chunks[..4] {
        tx.send(chunk.clone()).await.expect("the call is open");
    }
    // The fifth chunk never comes: once the four are committed, the caller gives up.
    for _ in 0..160 {
        streams::next_event(&mut created).await;
    }
    assert_eq!(lead_count(&app).await, 160, "four chunks committed");
    cut.abort();
    drop(tx);

    let send = |chunks: Vec<proto::ImportLeadsStreamRequest>| {
        let mut leads = app.leads();
        async move {
            leads
                .import_leads_stream(service().req(tokio_stream::iter(chunks)))
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let retried = send(chunks.clone()).await.expect("retry");
    assert_eq!(retried.replayed_chunks, [0, 1, 2, 3]);
    assert_eq!(
        (retried.created, retried.duplicates, retried.invalid),
        (200, 0, 0)
    );
    assert_eq!(lead_count(&app).await, 200, "nothing written twice");
    let created_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE kind = 'CREATED'")
            .fetch_one(&app.db)
            .await
            .expect("events");
    assert_eq!(created_events, 200);

    let before = app.fingerprint().await;
    let again = send(chunks.clone()).await.expect("third time");
    assert_eq!(again.replayed_chunks, [0, 1, 2, 3, 4]);
    assert_eq!(again.created, 200);
    let mut changed = chunks;
    changed[2].leads[0].name = "李娜".into();
    assert_error(send(changed).await, "REQUEST_ID_REUSED");
    assert_eq!(
        app.fingerprint().await,
        before,
        "replays and refusals change nothing"
    );
}

/// A stream whose caller's deadline passes after two of its messages were committed answers
/// `DEADLINE_EXCEEDED` saying so, not "nothing was changed": they stay imported, and the same
/// `request_id` then skips them.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_cut_off_by_its_deadline_says_which_messages_were_imported() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let request_id = uuid::Uuid::now_v7().to_string();
    let chunks = keyed_chunks(&team.pool.id, &request_id, 40);

    let mut created = streams::watch_from_now(&app.as_admin(), proto::EventKind::Created).await;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut request = service().req(tokio_stream::wrappers::ReceiverStream::new(rx));
    request.set_timeout(std::time::Duration::from_secs(1));
    let mut leads = app.leads();
    let call = tokio::spawn(async move { leads.import_leads_stream(request).await });
    for chunk in &chunks[..2] {
        tx.send(chunk.clone()).await.expect("the call is open");
    }
    for _ in 0..80 {
        streams::next_event(&mut created).await;
    }
    // The third message does not come before the deadline.
    let answered = call.await.expect("the call's task");
    let message = answered
        .as_ref()
        .map_or_else(|s| s.message().to_owned(), |_| String::new());
    let metadata = assert_error(answered, "DEADLINE_EXCEEDED");
    assert_eq!(metadata["imported_messages"], "2");
    assert!(
        message.contains("first 2 messages were imported"),
        "{message}"
    );
    assert!(!message.contains("nothing was changed"), "{message}");
    drop(tx);
    assert_eq!(lead_count(&app).await, 80, "what the answer says");

    let retried = app
        .leads()
        .import_leads_stream(service().req(tokio_stream::iter(chunks)))
        .await
        .expect("the stream again")
        .into_inner();
    assert_eq!(retried.replayed_chunks, [0, 1]);
    assert_eq!(retried.created, 200);
    assert_eq!(lead_count(&app).await, 200, "nothing imported twice");
}
