//! Substring search over name and company in Chinese, Latin and both: 1- and 2-character
//! Chinese queries (a surname, a given name, a city) find exactly the leads containing them,
//! and the gram index can serve every kind of query.

use leadpool::proto;
use leadpool::store::leads::list::{FEW_HITS, few_enough_to_sort};

use crate::fixtures::{self, list_all_leads};
use crate::harness::TestApp;

const LEADS: &[(&str, &str)] = &[
    ("王伟", "杭州西湖茶业有限公司"),
    ("王芳", "苏州丝绸"),
    ("李伟", "Hangzhou Tea Co"),
    ("Wang Wei", "O'Brien & Co."),
    ("张三", "上海王氏贸易"),
    ("Zoë Müller", "Café Zürich"),
    ("赵六", "3M 中国"),
];

async fn search(app: &TestApp, pool_id: &str, text: &str) -> Vec<String> {
    let request = proto::ListLeadsRequest {
        pool_id: pool_id.into(),
        query: text.into(),
        page_size: 2,
        ..Default::default()
    };
    names(app, request).await
}

/// The names of every lead the listing finds, sorted.
async fn names(app: &TestApp, request: proto::ListLeadsRequest) -> Vec<String> {
    let mut names: Vec<String> = list_all_leads(&app.as_admin(), request)
        .await
        .into_iter()
        .map(|lead| lead.name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn chinese_latin_and_mixed_queries_find_exactly_the_leads_containing_them() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "搜索", None).await;
    for (name, company) in LEADS {
        let lead = proto::NewLead {
            company: (*company).into(),
            ..fixtures::new_lead(name)
        };
        app.as_service().create_in(&pool.id, lead).await;
    }
    for (text, expected) in [
        ("王", &["张三", "王伟", "王芳"][..]),
        ("王伟", &["王伟"]),
        ("伟", &["李伟", "王伟"]),
        ("杭州", &["王伟"]),
        ("西湖茶业", &["王伟"]),
        ("湖茶业有限", &["王伟"]),
        ("西茶", &[]),
        ("hangzhou", &["李伟"]),
        ("Tea C", &["李伟"]),
        ("wan", &["Wang Wei"]),
        ("g W", &["Wang Wei"]),
        ("o'b", &["Wang Wei"]),
        ("Zürich", &["Zoë Müller"]),
        // Cased text matches whatever its case; text without case forms (Chinese, digits)
        // matches as it is.
        ("ZÜRICH", &["Zoë Müller"]),
        ("HANGZHOU", &["李伟"]),
        // ASCII text against rows with other letters too, whatever the case of either.
        ("zO", &["Zoë Müller"]),
        ("tEA c", &["李伟"]),
        // Wildcards in ASCII text are taken literally (unescaped, both would find `Wang Wei`).
        ("g_W", &[]),
        ("G%w", &[]),
        ("3m 中", &["赵六"]),
        ("3", &["赵六"]),
        ("王伟 Hangzhou", &[]),
        ("xyz", &[]),
    ] {
        assert_eq!(
            search(&app, &pool.id, text).await,
            expected,
            "query {text:?}"
        );
    }
}

#[tokio::test]
async fn the_gram_index_serves_one_and_two_character_chinese_and_latin_queries() {
    let app = TestApp::spawn().await;
    let mut tx = app.db.begin().await.expect("transaction");
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .expect("set");
    for text in ["王", "王伟", "杭州西湖", "wa", "hangzhou"] {
        let plan: Vec<String> = sqlx::query_scalar(
            "EXPLAIN SELECT lead_id FROM lead_search WHERE grams @> search_query_grams($1)",
        )
        .bind(text)
        .fetch_all(&mut *tx)
        .await
        .expect("plan");
        let plan = plan.join("\n");
        assert!(plan.contains("lead_search_grams_idx"), "{text:?}:\n{plan}");
    }
}

/// Leads whose search row is missing or stale against their name, company and tags.
async fn stale_search_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM leads l
         LEFT JOIN lead_search s ON s.tenant_id = l.tenant_id AND s.lead_id = l.id
         WHERE s.lead_id IS NULL OR s.grams <> lead_search_grams(l.name, l.company)
            OR s.tags <> l.tags",
    )
    .fetch_one(&app.db)
    .await
    .expect("search rows")
}

async fn tagged(app: &TestApp, pool_id: &str, tag: &str) -> Vec<String> {
    let request = proto::ListLeadsRequest {
        pool_id: pool_id.into(),
        tag: tag.into(),
        ..Default::default()
    };
    names(app, request).await
}

#[tokio::test]
async fn search_follows_creates_imports_edits_and_ownership_changes() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let pool_id = lead.pool_id.clone();
    app.as_service()
        .import_leads(proto::ImportLeadsRequest {
            pool_id: pool_id.clone(),
            leads: vec![proto::NewLead {
                tags: vec!["vip".into()],
                ..fixtures::new_lead("李娜")
            }],
            ..Default::default()
        })
        .await;
    let owned = app.as_member("alice").claim(&lead.id).await;
    app.as_member("alice")
        .update_lead(
            proto::Lead {
                name: "赵敏".into(),
                company: "苏州丝绸".into(),
                tags: vec!["新客".into()],
                ..owned
            },
            &["name", "company", "tags"],
        )
        .await;
    assert_eq!(
        search(&app, &pool_id, "Wang Wei").await,
        Vec::<String>::new()
    );
    assert_eq!(search(&app, &pool_id, "丝绸").await, ["赵敏"]);
    assert_eq!(search(&app, &pool_id, "赵敏").await, ["赵敏"]);
    assert_eq!(search(&app, &pool_id, "李").await, ["李娜"]);
    assert_eq!(tagged(&app, &pool_id, "新客").await, ["赵敏"]);
    assert_eq!(tagged(&app, &pool_id, "vip").await, ["李娜"]);
    let north = fixtures::pool(&app, "North", None).await;
    fixtures::member(&app, &north.id, "alice", proto::MemberRole::Member).await;
    app.as_member("alice")
        .release_to(&lead.id, "NO_BUDGET", &north.id)
        .await;
    assert_eq!(search(&app, &pool_id, "赵敏").await, Vec::<String>::new());
    assert_eq!(search(&app, &north.id, "赵敏").await, ["赵敏"]);
    assert_eq!(stale_search_rows(&app).await, 0);
}

/// `count` new leads named `{prefix}{i}` of companies `{company}{i}`.
fn numbered(prefix: &str, company: &str, count: usize) -> Vec<proto::NewLead> {
    (0..count)
        .map(|i| proto::NewLead {
            company: format!("{company}{i}"),
            ..fixtures::new_lead(&format!("{prefix}{i:05}"))
        })
        .collect()
}

/// Every shape of a text search (store/leads/list/search.rs) finds exactly the leads that
/// contain the text, in the order asked for, page by page, and only in the pool asked for: a
/// text in too many leads to sort by the statistics walks the page's order (and, where the walk
/// runs out, counts more than `FEW_HITS` gram matches and walks on); a rare text sorts its
/// matches by creation time, or in another order fetches and sorts them all.
#[tokio::test]
async fn a_query_matching_more_leads_than_the_listing_fetches_pages_through_them_in_order() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "杭州客户", None).await;
    let beside = fixtures::pool(&app, "隔壁", None).await;
    let many = FEW_HITS as usize + 150;
    let mut leads = numbered("杭州客户", "西湖茶业", many);
    leads.extend(numbered("苏州客户", "丝绸", 300));
    // Every trigram of `arci` (arc, rci) without the text itself: the grams find them, the
    // text check drops them.
    leads.extend(numbered("Marc Rcia ", "Co", 5));
    leads.extend(numbered("Garcia ", "Arcis Ltd", 40));
    fixtures::import_all(&app, &pool.id, leads).await;
    fixtures::import_all(&app, &beside.id, numbered("杭州别人", "杭州", 50)).await;
    // What autovacuum would do after such an import: the estimate reads the statistics.
    sqlx::query("ANALYZE lead_search")
        .execute(&app.db)
        .await
        .expect("analyze");
    let db = &app.db;
    let sorts = |text: &'static str| async move {
        let (hits, leads): (Option<i64>, i64) =
            sqlx::query_as("SELECT hits, leads FROM search_hits_estimate($1, $2)")
                .bind(fixtures::TENANT)
                .bind(text)
                .fetch_one(db)
                .await
                .expect("estimate");
        few_enough_to_sort(hits.expect("the text has grams"), leads)
    };
    assert!(!sorts("杭州").await, "杭州 is walked for");
    assert!(sorts("arci").await, "arci's matches are sorted");
    let hits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lead_search WHERE grams @> search_query_grams('杭州')",
    )
    .fetch_one(&app.db)
    .await
    .expect("hits");
    assert!(hits > i64::from(FEW_HITS), "{hits} gram matches");

    let reader = app.as_admin();
    for (text, order_by, page_size, wanted) in [
        ("杭州", "created_at asc", 97, many),
        ("杭州", "follow_up_deadline desc", 250, many),
        ("arci", "created_at desc", 7, 40),
        ("arci", "grade asc", 7, 40),
    ] {
        let everything = proto::ListLeadsRequest {
            pool_id: pool.id.clone(),
            order_by: order_by.into(),
            page_size: 250,
            ..Default::default()
        };
        let want: Vec<String> = list_all_leads(&reader, everything.clone())
            .await
            .into_iter()
            .filter(|lead| {
                [&lead.name, &lead.company]
                    .iter()
                    .any(|s| s.to_lowercase().contains(text))
            })
            .map(|lead| lead.id)
            .collect();
        let searched = proto::ListLeadsRequest {
            query: text.into(),
            page_size,
            ..everything
        };
        let got: Vec<String> = list_all_leads(&reader, searched)
            .await
            .into_iter()
            .map(|lead| lead.id)
            .collect();
        assert_eq!(got.len(), wanted, "{text:?} {order_by}");
        assert_eq!(got, want, "{text:?} {order_by}");
    }
}

/// The service keeps a text's estimate for a minute (service/search_estimates.rs): one read when
/// the text was rare still lists every match, in order, after the pool filled with them.
#[tokio::test]
async fn an_estimate_kept_from_before_an_import_still_lists_every_match() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "杭州客户", None).await;
    let reader = app.as_admin();
    let listed = async |order_by: &str, query: &str| {
        let request = proto::ListLeadsRequest {
            pool_id: pool.id.clone(),
            order_by: order_by.into(),
            query: query.into(),
            page_size: 40,
            ..Default::default()
        };
        let leads = list_all_leads(&reader, request).await.into_iter();
        let found = leads.filter(|lead| lead.name.contains("杭州"));
        found.map(|lead| lead.id).collect::<Vec<_>>()
    };
    fixtures::import_all(&app, &pool.id, numbered("杭州早", "西湖", 3)).await;
    let analyze = async || {
        sqlx::query("ANALYZE lead_search")
            .execute(&app.db)
            .await
            .expect("analyze")
    };
    analyze().await;
    assert_eq!(listed("", "杭州").await.len(), 3);
    let late = numbered("杭州晚", "西湖", FEW_HITS as usize + 150);
    fixtures::import_all(&app, &pool.id, late).await;
    fixtures::import_all(&app, &pool.id, numbered("苏州", "丝绸", 20)).await;
    analyze().await;
    for order_by in ["created_at asc", "created_at desc"] {
        let every = listed(order_by, "").await;
        assert_eq!(every.len(), FEW_HITS as usize + 153);
        assert_eq!(listed(order_by, "杭州").await, every, "{order_by}");
    }
}
