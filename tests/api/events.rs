//! ListEvents and WatchEvents: every event exactly once, in one stable order, from any cursor,
//! even when writers commit out of order; tenant scoping, access, heartbeats and shutdown.

use futures::future::join_all;
use leadpool::proto;
use leadpool::proto::watch_events_response::Item;

use crate::caller::{Client, Services};
use crate::fixtures;
use crate::harness::{Caller, TestApp, assert_error, bad_fields};
use crate::streams::{expect_heartbeat, next_event, next_item, watch, within};

/// Every readable event after `cursor`, page by page, and the cursor to continue from.
async fn list_all(who: &Client, cursor: &str, page_size: i32) -> (Vec<proto::LeadEvent>, String) {
    let request = proto::ListEventsRequest {
        cursor: cursor.to_owned(),
        page_size,
        ..Default::default()
    };
    list_pages(who, request).await
}

/// Every readable event `request` asks for, page by page until a page is not full, and the
/// cursor to continue from.
async fn list_pages(
    who: &Client,
    mut request: proto::ListEventsRequest,
) -> (Vec<proto::LeadEvent>, String) {
    let mut events = Vec::new();
    loop {
        let page = who.list_events(request.clone()).await;
        assert!(!page.next_cursor.is_empty(), "next_cursor is always set");
        request.cursor = page.next_cursor;
        let full = page.events.len() == request.page_size as usize;
        events.extend(page.events);
        if !full {
            return (events, request.cursor);
        }
    }
}

/// The tenant's event seqs in the stream's order, read straight from the table.
async fn table_order(app: &TestApp, tenant: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT seq FROM lead_events WHERE tenant_id = $1 ORDER BY xid, seq")
        .bind(tenant)
        .fetch_all(&app.db)
        .await
        .expect("events")
}

/// Waits until every event the tenant has written is readable: the horizon is cluster-wide,
/// so another test's open transaction can hold it back for a moment.
async fn wait_until_readable(app: &TestApp, tenant: &str) {
    let written = table_order(app, tenant).await.len();
    let mut stream = watch(&app.as_caller(Caller::service(tenant)), "").await;
    for _ in 0..written {
        next_event(&mut stream).await;
    }
}

fn seqs(events: &[proto::LeadEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn followers_never_pass_a_writer_that_commits_late_and_resume_exactly_from_any_cursor() {
    let (app, team) = fixtures::app_with_team(None).await;
    let mut leads = Vec::new();
    for name in ["Wang Wei", "Li Na", "Zhang Min"] {
        leads.push(fixtures::lead(&app, &team.pool.id, name).await);
    }
    let mut live = watch(&app.as_service(), "").await;
    let mut before = Vec::new();
    for _ in 0..3 {
        before.push(next_event(&mut live).await);
    }
    let cursor_before = before[2].cursor.clone();
    expect_heartbeat(&mut live).await;

    // A writer that starts first (lower xid and seq) and commits last.
    let mut held = app.db.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, actor, note, occurred_at)
         VALUES ('acme', $1::uuid, $2::uuid, 'UPDATED', 'slow-writer', 'held', now())",
    )
    .bind(&leads[0].id)
    .bind(&team.pool.id)
    .execute(&mut *held)
    .await
    .expect("insert the held event");
    for lead in &leads {
        app.as_member("alice").claim(&lead.id).await;
    }
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE kind = 'CLAIMED'")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(claims, 3, "the later claims have committed");

    // Neither call passes the open writer: the claims stay unread behind it.
    let blocked = app
        .as_service()
        .list_events(proto::ListEventsRequest {
            cursor: cursor_before.clone(),
            ..Default::default()
        })
        .await;
    assert!(blocked.events.is_empty(), "{:?}", blocked.events);
    expect_heartbeat(&mut live).await;
    expect_heartbeat(&mut live).await;

    held.commit().await.expect("commit");
    let mut delivered = Vec::new();
    for _ in 0..4 {
        delivered.push(next_event(&mut live).await);
    }
    use proto::EventKind as K;
    let kinds: Vec<_> = delivered.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, [K::Updated, K::Claimed, K::Claimed, K::Claimed]);
    assert!(
        delivered[1..].iter().all(|e| e.seq > delivered[0].seq),
        "the held event has the lowest seq yet committed last: a `seq > cursor` reader skips it"
    );
    expect_heartbeat(&mut live).await;
    let (listed, _) = list_all(&app.as_service(), &blocked.next_cursor, 3).await;
    assert_eq!(seqs(&listed), seqs(&delivered));

    // One stable order, and from every cursor exactly the events after it.
    let (all, _) = list_all(&app.as_service(), "", 1).await;
    assert_eq!(seqs(&all), table_order(&app, "acme").await);
    for (i, event) in all.iter().enumerate() {
        let (rest, _) = list_all(&app.as_service(), &event.cursor, 2).await;
        assert_eq!(seqs(&rest), seqs(&all[i + 1..]), "ListEvents after #{i}");
        let mut resumed = watch(&app.as_service(), &event.cursor).await;
        let mut watched = Vec::new();
        for _ in i + 1..all.len() {
            watched.push(next_event(&mut resumed).await);
        }
        expect_heartbeat(&mut resumed).await;
        assert_eq!(
            seqs(&watched),
            seqs(&all[i + 1..]),
            "WatchEvents after #{i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_that_keeps_reconnecting_sees_every_event_of_sixteen_writers_once() {
    let app = TestApp::spawn().await;
    let (members, leads) = fixtures::crowd(&app, Some(3), 16, 24).await;
    let writers = tokio::spawn(join_all(
        members
            .into_iter()
            .enumerate()
            .map(|(i, member)| fixtures::churn(member, i, leads.clone(), 10)),
    ));

    let mut seen: Vec<proto::LeadEvent> = Vec::new();
    let mut cursor = String::new();
    let mut connections = 0;
    'follow: loop {
        connections += 1;
        let mut stream = watch(&app.as_service(), &cursor).await;
        // Leave after a different number of events each time, as real followers do.
        let leave_after = 7 + connections * 5;
        let mut taken = 0;
        loop {
            let item = next_item(&mut stream).await;
            cursor = item.cursor;
            match item.item {
                Some(Item::Event(event)) => {
                    seen.push(event);
                    taken += 1;
                    if taken == leave_after {
                        break;
                    }
                }
                Some(Item::Heartbeat(_)) if writers.is_finished() => {
                    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_events")
                        .fetch_one(&app.db)
                        .await
                        .expect("count");
                    assert!(seen.len() as i64 <= written, "no more events than written");
                    if seen.len() as i64 == written {
                        break 'follow;
                    }
                }
                Some(Item::Heartbeat(_)) => {}
                None => panic!("an empty stream item"),
            }
        }
    }
    writers.await.expect("writers");
    assert!(
        connections > 3,
        "the follower reconnected {connections} times"
    );
    let order = table_order(&app, "acme").await;
    assert_eq!(
        seqs(&seen),
        order,
        "same events, same order, no gaps, no duplicates"
    );
    let claims = seen
        .iter()
        .filter(|e| e.kind() == proto::EventKind::Claimed)
        .count();
    assert!(claims > 16, "the writers really raced: {claims} claims");
}

#[tokio::test]
async fn followers_see_only_their_tenant_and_their_filters() {
    let (app, team) = fixtures::app_with_team(None).await;
    let west = fixtures::pool(&app, "West China", None).await;
    let east_lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let west_lead = fixtures::lead(&app, &west.id, "Li Na").await;
    app.as_member("alice").claim(&east_lead.id).await;
    let globex_pool = app
        .as_caller(Caller::admin("globex"))
        .create_pool(proto::CreatePoolRequest {
            name: "Globex".into(),
            ..Default::default()
        })
        .await;
    let globex_lead = app
        .as_caller(Caller::service("globex"))
        .create_in(&globex_pool.id, fixtures::new_lead("Hans Meier"))
        .await;

    wait_until_readable(&app, "acme").await;
    wait_until_readable(&app, "globex").await;
    let (acme, _) = list_all(&app.as_service(), "", 50).await;
    assert_eq!(seqs(&acme), table_order(&app, "acme").await);
    assert!(acme.iter().all(|e| e.lead_id != globex_lead.id));
    let (globex, _) = list_all(&app.as_caller(Caller::service("globex")), "", 50).await;
    assert_eq!(seqs(&globex), table_order(&app, "globex").await);
    assert_eq!(globex.len(), 1);

    let west_only = app
        .as_service()
        .list_events(fixtures::scoped(&west.id))
        .await;
    let leads: Vec<_> = west_only
        .events
        .iter()
        .map(|e| e.lead_id.as_str())
        .collect();
    assert_eq!(leads, [west_lead.id.as_str()]);
    let claims = app
        .as_service()
        .list_events(proto::ListEventsRequest {
            kinds: vec![
                proto::EventKind::Claimed.into(),
                proto::EventKind::Claimed.into(),
            ],
            ..Default::default()
        })
        .await;
    let summary: Vec<_> = claims
        .events
        .iter()
        .map(|e| (e.kind(), e.to_owner.as_str()))
        .collect();
    assert_eq!(summary, [(proto::EventKind::Claimed, "alice")]);
    // A filtered page's cursor moves past what did not match: nothing is read twice.
    let after = app
        .as_service()
        .list_events(proto::ListEventsRequest {
            cursor: claims.next_cursor,
            ..Default::default()
        })
        .await;
    assert!(after.events.is_empty(), "{:?}", after.events);

    let foreign_pool = app
        .as_service()
        .try_list_events(fixtures::scoped(&globex_pool.id))
        .await;
    assert_error(foreign_pool, "POOL_NOT_FOUND");

    // Live: globex's stream never carries acme's events.
    let mut globex_stream = app
        .as_caller(Caller::service("globex"))
        .watch(proto::WatchEventsRequest {
            from_now: true,
            ..Default::default()
        })
        .await;
    expect_heartbeat(&mut globex_stream).await;
    fixtures::lead(&app, &team.pool.id, "Zhao Lei").await;
    let second = app
        .as_caller(Caller::service("globex"))
        .create_in(&globex_pool.id, fixtures::new_lead("Eva Klein"))
        .await;
    let event = next_event(&mut globex_stream).await;
    assert_eq!(event.lead_id, second.id, "the first event is globex's own");
}

#[tokio::test]
async fn bad_cursors_and_filters_are_refused_with_the_fields_named() {
    let app = TestApp::spawn().await;
    let bad = app
        .as_service()
        .try_list_events(proto::ListEventsRequest {
            cursor: "not-a-cursor".into(),
            page_size: -1,
            kinds: vec![99],
            ..Default::default()
        })
        .await;
    let status = bad.as_ref().expect_err("refused").clone();
    assert!(status.message().contains("cursor"), "{}", status.message());
    assert_eq!(bad_fields(bad), ["cursor", "kinds", "page_size"]);

    let both = app
        .as_service()
        .try_watch(proto::WatchEventsRequest {
            cursor: "ZTEuMS4x".into(),
            from_now: true,
            ..Default::default()
        })
        .await;
    assert_eq!(bad_fields(both), ["cursor"]);
    let malformed = app
        .as_service()
        .try_watch(proto::WatchEventsRequest {
            cursor: "ZTEuMS4x!".into(),
            ..Default::default()
        })
        .await;
    assert_error(malformed, "VALIDATION_FAILED");
}

#[tokio::test]
async fn only_admins_services_and_pool_members_may_follow() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    let other = fixtures::pool(&app, "West China", None).await;
    fixtures::lead(&app, &other.id, "Li Na").await;
    wait_until_readable(&app, fixtures::TENANT).await;

    let outsider = app
        .as_member("zoe")
        .try_list_events(fixtures::scoped(&team.pool.id))
        .await;
    assert_error(outsider, "NOT_POOL_MEMBER");
    let outsider_stream = app
        .as_member("zoe")
        .try_watch(fixtures::scoped(&team.pool.id))
        .await;
    assert_error(outsider_stream, "NOT_POOL_MEMBER");
    let whole_tenant = app
        .as_member("alice")
        .try_list_events(proto::ListEventsRequest::default())
        .await;
    assert_eq!(bad_fields(whole_tenant), ["pool_id"]);
    let anonymous = app
        .events()
        .list_events(tonic::Request::new(proto::ListEventsRequest::default()))
        .await;
    assert_error(anonymous, "MISSING_IDENTITY");

    let own_pool = app
        .as_member("alice")
        .list_events(fixtures::scoped(&team.pool.id))
        .await;
    let leads: Vec<_> = own_pool.events.iter().map(|e| e.lead_id.as_str()).collect();
    assert_eq!(leads, [lead.id.as_str()]);
    let (everything, _) = list_all(&app.as_admin(), "", 50).await;
    assert_eq!(everything.len(), 2);
}

/// The lead and kind of each event, and the note of the notes that were there.
fn summary(events: &[proto::LeadEvent]) -> Vec<(&str, proto::EventKind, &str)> {
    events
        .iter()
        .map(|e| (e.lead_id.as_str(), e.kind(), e.note.as_str()))
        .collect()
}

/// A plain member follows a pool as GetLeadHistory lets them read it: not the events of a lead
/// a colleague holds (its notes least of all), which its owner, the pool's managers, admins and
/// services do read; its whole history once it is back in the pool. Events left out take no
/// room in a page (a full page stays full) and every cursor moves past them: a follower never
/// stalls on them and never gets one twice.
#[tokio::test]
async fn plain_members_follow_only_the_leads_whose_history_they_may_read() {
    let (app, team) = fixtures::app_with_team(None).await;
    let held = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let open = fixtures::lead(&app, &team.pool.id, "Li Na").await;
    let (alice, bob, mia) = (
        app.as_member("alice"),
        app.as_member("bob"),
        app.as_member("mia"),
    );
    alice.claim(&held.id).await;
    let note = "budget 2M, signs on Wednesday";
    alice
        .record_follow_up(proto::RecordFollowUpRequest {
            lead_id: held.id.clone(),
            channel: proto::FollowUpChannel::Call.into(),
            note: note.into(),
            ..Default::default()
        })
        .await;
    mia.lock(&held.id).await;
    let later = fixtures::lead(&app, &team.pool.id, "Zhang Min").await;
    wait_until_readable(&app, fixtures::TENANT).await;
    let of_pool = |page_size| proto::ListEventsRequest {
        page_size,
        ..fixtures::scoped(&team.pool.id)
    };
    use proto::EventKind as K;

    assert_error(bob.try_history(&held.id).await, "NOT_LEAD_OWNER");
    let readable = [
        (open.id.as_str(), K::Created, ""),
        (later.id.as_str(), K::Created, ""),
    ];
    for page_size in [1, 2, 50] {
        let (events, cursor) = list_pages(&bob, of_pool(page_size)).await;
        assert_eq!(summary(&events), readable, "pages of {page_size}");
        let after = bob
            .list_events(proto::ListEventsRequest {
                cursor,
                ..of_pool(page_size)
            })
            .await;
        assert!(after.events.is_empty(), "{:?}", after.events);
    }
    let mut stream = bob.watch(fixtures::scoped(&team.pool.id)).await;
    assert_eq!(next_event(&mut stream).await.lead_id, open.id);
    assert_eq!(next_event(&mut stream).await.lead_id, later.id);
    expect_heartbeat(&mut stream).await;

    for reader in [&alice, &mia, &app.as_admin(), &app.as_service()] {
        let (events, _) = list_pages(reader, of_pool(50)).await;
        let noted = (held.id.as_str(), K::FollowedUp, note);
        assert!(summary(&events).contains(&noted), "{:?}", reader.caller);
    }

    // Back in the pool, the lead's history is the next rep's, the note with it.
    mia.unlock(&held.id).await;
    alice.release(&held.id, "NO_BUDGET").await;
    let mut arrived = next_event(&mut stream).await;
    if arrived.kind() == K::Unlocked {
        // Read once the release had committed: the lead was back in the pool by then.
        arrived = next_event(&mut stream).await;
    }
    assert_eq!(
        (arrived.kind(), arrived.lead_id.as_str()),
        (K::Released, held.id.as_str())
    );
    let (events, _) = list_pages(&bob, of_pool(50)).await;
    let kinds: Vec<_> = summary(&events)
        .into_iter()
        .filter(|(lead, ..)| *lead == held.id)
        .map(|(_, kind, _)| kind)
        .collect();
    let history: Vec<_> = bob
        .history(&held.id)
        .await
        .iter()
        .map(|e| e.kind())
        .collect();
    assert_eq!(kinds, history);
    assert!(summary(&events).contains(&(held.id.as_str(), K::FollowedUp, note)));
}

#[tokio::test]
async fn an_idle_stream_sends_heartbeats_that_carry_a_resumable_cursor() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    // Once the creation was readable, the horizon (which only moves forward) is past it.
    wait_until_readable(&app, fixtures::TENANT).await;
    let mut stream = app
        .as_service()
        .watch(proto::WatchEventsRequest {
            from_now: true,
            ..Default::default()
        })
        .await;
    let heartbeat_cursor = expect_heartbeat(&mut stream).await;
    let now = app
        .as_service()
        .list_events(proto::ListEventsRequest {
            cursor: heartbeat_cursor.clone(),
            ..Default::default()
        })
        .await;
    assert!(
        now.events.is_empty(),
        "from now skips what was written before"
    );

    app.as_member("alice").claim(&lead.id).await;
    let claimed = next_event(&mut stream).await;
    assert_eq!(claimed.kind(), proto::EventKind::Claimed);
    expect_heartbeat(&mut stream).await;
    let (after_heartbeat, _) = list_all(&app.as_service(), &heartbeat_cursor, 50).await;
    assert_eq!(seqs(&after_heartbeat), [claimed.seq]);
}

#[tokio::test]
async fn a_stream_ends_with_deadline_exceeded_at_the_callers_deadline() {
    let app = TestApp::spawn().await;
    let mut request = Caller::service(fixtures::TENANT).req(proto::WatchEventsRequest {
        from_now: true,
        ..Default::default()
    });
    // Sent as `grpc-timeout`; the client does not end the call itself, the server must.
    request.set_timeout(std::time::Duration::from_millis(300));
    let mut stream = app
        .events()
        .watch_events(request)
        .await
        .expect("open")
        .into_inner();
    let ended = within("the stream's end", async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(status) => return Some(status),
            }
        }
    })
    .await;
    let status = ended.expect("the stream ends with a status, not OK");
    assert_error(Err::<(), _>(status), "DEADLINE_EXCEEDED");
}

#[tokio::test]
async fn streams_end_cleanly_when_the_server_shuts_down() {
    let (mut app, team) = fixtures::app_with_team(None).await;
    fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let mut stream = watch(&app.as_service(), "").await;
    next_event(&mut stream).await;
    expect_heartbeat(&mut stream).await;
    app.begin_shutdown();
    let end = within("the end of the stream", stream.message()).await;
    assert!(matches!(end, Ok(None)), "the stream ends with OK: {end:?}");
    within("the server to stop", app.stopped())
        .await
        .expect("server returns cleanly");
}
