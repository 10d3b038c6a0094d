//! Seeding with set-based SQL: one `INSERT … SELECT generate_series` per table (leads in
//! batches, so a progress bar can move), consistent with the schema: state, owner and
//! `held_count` in step, and a `CREATED` event for every lead seeded with an owner (leads seeded
//! into the pool have no event, which the replay check reads as "never owned").

use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;
use crate::service::Caller;

pub const TENANT: &str = "bench";
/// Rows per seeding statement: big enough to be set-based, small enough for the bar to move.
const BATCH: i64 = 50_000;

/// What a scenario seeds.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub leads: i64,
    pub members: i32,
    /// Cap on held leads per member; None: no cap.
    pub cap: Option<i32>,
    /// Every `owned_every`-th lead starts owned (members in turn); 0: all in the pool.
    pub owned_every: i64,
}

/// The seeded pool and its members' user ids (`rep0001`, `rep0002`, …).
#[derive(Debug, Clone)]
pub struct Fixture {
    pub pool_id: Uuid,
    pub members: Vec<String>,
    /// Halfway between the earliest and the latest follow-up deadline of the owned leads.
    pub deadline_midpoint: Option<DateTime<Utc>>,
}

impl Fixture {
    /// Each member as a caller of the seeded tenant, in the order of `members`.
    pub fn callers(&self) -> Result<Vec<Caller>> {
        self.members
            .iter()
            .map(|m| Caller::new(TENANT, m, None))
            .collect()
    }
}

pub async fn seed(db: &PgPool, plan: Plan) -> Result<Fixture> {
    seed_named(db, "Bench pool", plan).await
}

/// Like [`seed`], with the realistic names and companies of [`people`] (the `list` scenario's
/// search corpus) instead of `Lead <n>` and `Company <n> Ltd`.
pub async fn seed_people(db: &PgPool, plan: Plan) -> Result<Fixture> {
    seed_with(db, "Bench pool", plan, Names::People).await
}

/// Like [`seed`], for a scenario that needs several pools (each with its own members and leads).
/// Leads seeded with an owner get their `CREATED` events once per tenant: seed those in one pool.
pub async fn seed_named(db: &PgPool, name: &str, plan: Plan) -> Result<Fixture> {
    seed_with(db, name, plan, Names::Numbered).await
}

/// What the seeded leads and their companies are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// `Lead <n>`, `Company <n> Ltd`.
    Numbered,
    /// [`people`]'s.
    People,
}

async fn seed_with(db: &PgPool, name: &str, plan: Plan, names: Names) -> Result<Fixture> {
    let pool_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO pools (tenant_id, id, name, timezone, max_held_per_member, created_at, updated_at)
         VALUES ($1, $2, $4, 'Asia/Shanghai', $3, now(), now())",
    )
    .bind(TENANT)
    .bind(pool_id)
    .bind(plan.cap)
    .bind(name)
    .execute(db)
    .await?;
    // joined_at apart by a microsecond each, so the join order is the name order.
    sqlx::query(
        "INSERT INTO members (tenant_id, pool_id, user_id, role, joined_at, updated_at)
         SELECT $1, $2, 'rep' || lpad(g::text, 4, '0'), 'MEMBER',
                now() + g * interval '1 microsecond', now()
         FROM generate_series(1, $3) AS g",
    )
    .bind(TENANT)
    .bind(pool_id)
    .bind(plan.members)
    .execute(db)
    .await?;
    seed_leads(db, pool_id, plan, names).await?;
    count_owned(db).await?;
    analyze(db).await?;
    let members = (1..=plan.members).map(|i| format!("rep{i:04}")).collect();
    let deadline_midpoint = sqlx::query_scalar(
        "SELECT min(follow_up_deadline) + (max(follow_up_deadline) - min(follow_up_deadline)) / 2
         FROM leads WHERE tenant_id = $1",
    )
    .bind(TENANT)
    .fetch_one(db)
    .await?;
    Ok(Fixture {
        pool_id,
        members,
        deadline_midpoint,
    })
}

/// One batch of leads: rows `$3` to `$4` of the series. Ids are UUID v7 like the service's
/// (PostgreSQL 15 has no uuidv7()): the millisecond timestamp over the first 6 bytes of a random
/// UUID, version 7 in byte 6; `created_at` is one millisecond apart per lead, so the creation
/// order is the id order. `{NAMES}` is a lateral subquery giving each row its `name` and
/// `company`.
const LEADS_SQL: &str = r#"
    INSERT INTO leads (tenant_id, id, pool_id, name, company, phone, email, source, region,
                       industry, grade, state, owner_id, acquired_at, acquired_via,
                       follow_up_deadline, close_deadline, pool_entered_at,
                       created_at, updated_at)
    SELECT $1, encode(set_byte(overlay(uuid_send(gen_random_uuid())
               PLACING substring(int8send((extract(epoch FROM t.at) * 1000)::bigint) FROM 3)
               FROM 1 FOR 6), 6, 112 + (g % 16)::int), 'hex')::uuid,
           $2, n.name, n.company, '+86 138' || lpad(g::text, 8, '0'),
           'lead' || g || '@example.com', 'bench',
           (ARRAY['east', 'west', 'north', 'south'])[g % 4 + 1],
           (ARRAY['retail', 'tech', 'finance'])[g % 3 + 1],
           (ARRAY['A', 'B', 'C', 'D'])[g / 4 % 4 + 1],
           CASE WHEN o.owner IS NULL THEN 'IN_POOL' ELSE 'OWNED' END, o.owner,
           CASE WHEN o.owner IS NOT NULL THEN t.at END,
           CASE WHEN o.owner IS NOT NULL THEN 'CREATE' END,
           -- Due a month or more from now, in creation order: the recycle scheduler
           -- of the service under test must find nothing due in the middle of a run.
           CASE WHEN o.owner IS NOT NULL THEN t.at + interval '60 days' END,
           CASE WHEN o.owner IS NOT NULL THEN t.at + interval '90 days' END,
           CASE WHEN o.owner IS NULL THEN t.at END,
           t.at, t.at
    FROM generate_series($3::bigint, $4::bigint) AS g
    CROSS JOIN LATERAL (
        SELECT date_trunc('day', now()) - interval '30 days' + g * interval '1 millisecond' AS at
    ) t
    CROSS JOIN LATERAL (
        SELECT CASE WHEN $5::bigint > 0 AND g % $5 = 0
                    THEN 'rep' || lpad(((g / $5) % $6 + 1)::text, 4, '0') END AS owner
    ) o
    CROSS JOIN LATERAL ({NAMES}) n"#;

/// The leads, `BATCH` rows per statement.
async fn seed_leads(db: &PgPool, pool_id: Uuid, plan: Plan, names: Names) -> Result<()> {
    let sql = LEADS_SQL.replace(
        "{NAMES}",
        match names {
            Names::Numbered => "SELECT 'Lead ' || g AS name, 'Company ' || g || ' Ltd' AS company",
            Names::People => people::NAMES_SQL,
        },
    );
    let vocabulary = people::Vocabulary::new();
    let bar = bar(plan.leads as u64, "leads");
    let mut from = 1;
    while from <= plan.leads {
        let to = (from + BATCH - 1).min(plan.leads);
        let query = sqlx::query(&sql)
            .bind(TENANT)
            .bind(pool_id)
            .bind(from)
            .bind(to)
            .bind(plan.owned_every)
            .bind(i64::from(plan.members));
        let query = match names {
            Names::Numbered => query,
            Names::People => vocabulary.bind(query),
        };
        query.execute(db).await?;
        bar.inc((to - from + 1) as u64);
        from = to + 1;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Every member's held count set to the leads they own, after a seed wrote `leads` directly.
pub async fn recount_held(db: impl sqlx::PgExecutor<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE members m SET held_count = o.n
         FROM (SELECT pool_id, owner_id, count(*) AS n FROM leads
               WHERE tenant_id = $1 AND owner_id IS NOT NULL GROUP BY pool_id, owner_id) o
         WHERE m.tenant_id = $1 AND m.pool_id = o.pool_id AND m.user_id = o.owner_id",
    )
    .bind(TENANT)
    .execute(db)
    .await?;
    Ok(())
}

/// Held counts and `CREATED` events for the leads seeded with an owner, as `CreateLead` with an
/// owner would have left them.
async fn count_owned(db: &PgPool) -> Result<()> {
    recount_held(db).await?;
    sqlx::query(
        "INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, to_owner, actor, occurred_at)
         SELECT tenant_id, id, pool_id, 'CREATED', owner_id, 'bench-seed', created_at
         FROM leads WHERE tenant_id = $1 AND owner_id IS NOT NULL ORDER BY created_at",
    )
    .bind(TENANT)
    .execute(db)
    .await?;
    Ok(())
}

/// Statistics and the visibility map, as autovacuum would leave a settled table, so plans and
/// index-only scans are those of a database in service rather than of a fresh bulk load.
async fn analyze(db: &PgPool) -> Result<()> {
    let spinner = spinner("VACUUM ANALYZE");
    sqlx::raw_sql("VACUUM (ANALYZE) pools, members, leads, lead_search, lead_events")
        .execute(db)
        .await?;
    spinner.finish_and_clear();
    Ok(())
}

/// Lead ids in creation order.
pub async fn lead_ids(db: &PgPool) -> Result<Vec<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM leads WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(TENANT)
            .fetch_all(db)
            .await?,
    )
}

/// A progress bar over `len` items (hidden when stderr is not a terminal, as in CI).
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:>12} [{bar:40}] {human_pos}/{human_len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

pub fn spinner(what: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(what.to_owned());
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

/// The `list` scenario's search corpus: half the leads Chinese (a surname by its frequency and a
/// one- or two-character given name; a company of city, trade name and industry, such as
/// 杭州华信科技有限公司), half Latin (`Wang Wei` or `Maria Garcia`; `Hangzhou Tea Co`). Every
/// choice is a hash of the row number, so a seed is the same on every run; 杭州 (Hangzhou) is the
/// city of 10% of companies; every [`RARE_EVERY`](people::RARE_EVERY)-th lead, and no other, is
/// a 司马 (a rare compound surname); and no name or company holds 诸葛.
pub mod people {
    use sqlx::Postgres;
    use sqlx::postgres::PgArguments;
    use sqlx::query::Query;

    /// One lead in this many (0.05%) is named 司马…, the rare 2-character name.
    pub const RARE_EVERY: i64 = 2003;

    /// Each row's `name` and `company`, as a lateral subquery over the row number `g`:
    /// `$7` is [`RARE_EVERY`], `$8`… the arrays of [`Vocabulary::bind`], each with a word
    /// repeated by its weight, indexed by a hash of `g` with its own seed.
    pub const NAMES_SQL: &str = r#"
        SELECT CASE WHEN g % $7 = 1 THEN '司马' || $10[1 + h.a % cardinality($10)]
                    WHEN h.kind % 2 = 0 THEN $8[1 + h.s % cardinality($8)]
                         || $10[1 + h.a % cardinality($10)] || $11[1 + h.b % cardinality($11)]
                    WHEN h.kind % 4 = 1 THEN $9[1 + h.s % cardinality($9)]
                         || ' ' || $16[1 + h.a % cardinality($16)]
                    ELSE $17[1 + h.a % cardinality($17)] || ' ' || $18[1 + h.s % cardinality($18)]
               END AS name,
               CASE WHEN h.kind % 2 = 0 THEN $12[1 + h.city % cardinality($12)]
                         || $14[1 + h.word % cardinality($14)]
                         || $15[1 + h.trade % cardinality($15)] || '有限公司'
                    ELSE $13[1 + h.city % cardinality($13)] || ' '
                         || $19[1 + h.word % cardinality($19)] || ' '
                         || $20[1 + h.trade % cardinality($20)]
               END AS company
        FROM (SELECT hashint8extended(g, 0) & 2147483647 AS kind,
                     hashint8extended(g, 1) & 2147483647 AS s,
                     hashint8extended(g, 2) & 2147483647 AS a,
                     hashint8extended(g, 3) & 2147483647 AS b,
                     hashint8extended(g, 4) & 2147483647 AS city,
                     hashint8extended(g, 5) & 2147483647 AS word,
                     hashint8extended(g, 6) & 2147483647 AS trade) h"#;

    /// Surnames with their pinyin, in tenths of a percent of the population (the 50 commonest,
    /// then 40 more at 0.2% for the long tail).
    #[rustfmt::skip]
    const SURNAMES: &[(&str, &str, usize)] = &[
        ("王", "Wang", 71), ("李", "Li", 70), ("张", "Zhang", 66), ("刘", "Liu", 54),
        ("陈", "Chen", 45), ("杨", "Yang", 31), ("黄", "Huang", 23), ("赵", "Zhao", 20),
        ("吴", "Wu", 19), ("周", "Zhou", 19), ("徐", "Xu", 13), ("孙", "Sun", 12),
        ("马", "Ma", 11), ("朱", "Zhu", 11), ("胡", "Hu", 10), ("郭", "Guo", 10),
        ("何", "He", 9), ("高", "Gao", 9), ("林", "Lin", 9), ("罗", "Luo", 9),
        ("郑", "Zheng", 8), ("梁", "Liang", 8), ("谢", "Xie", 6), ("宋", "Song", 6),
        ("唐", "Tang", 5), ("许", "Xu", 5), ("韩", "Han", 5), ("冯", "Feng", 5), ("邓", "Deng", 5),
        ("曹", "Cao", 4), ("彭", "Peng", 4), ("曾", "Zeng", 4), ("肖", "Xiao", 4), ("田", "Tian", 4),
        ("董", "Dong", 4), ("袁", "Yuan", 4), ("潘", "Pan", 3), ("于", "Yu", 3), ("蒋", "Jiang", 3),
        ("蔡", "Cai", 3), ("余", "Yu", 3), ("杜", "Du", 3), ("叶", "Ye", 3), ("程", "Cheng", 3),
        ("苏", "Su", 3), ("魏", "Wei", 3), ("吕", "Lv", 3), ("丁", "Ding", 3), ("任", "Ren", 3),
        ("沈", "Shen", 2), ("姚", "Yao", 2), ("卢", "Lu", 2), ("姜", "Jiang", 2), ("崔", "Cui", 2),
        ("钟", "Zhong", 2), ("谭", "Tan", 2), ("陆", "Lu", 2), ("汪", "Wang", 2), ("范", "Fan", 2),
        ("金", "Jin", 2), ("石", "Shi", 2), ("廖", "Liao", 2), ("贾", "Jia", 2), ("夏", "Xia", 2),
        ("韦", "Wei", 2), ("付", "Fu", 2), ("方", "Fang", 2), ("白", "Bai", 2), ("邹", "Zou", 2),
        ("孟", "Meng", 2), ("熊", "Xiong", 2), ("秦", "Qin", 2), ("邱", "Qiu", 2), ("江", "Jiang", 2),
        ("尹", "Yin", 2), ("薛", "Xue", 2), ("闫", "Yan", 2), ("段", "Duan", 2), ("雷", "Lei", 2),
        ("侯", "Hou", 2), ("龙", "Long", 2), ("史", "Shi", 2), ("陶", "Tao", 2), ("黎", "Li", 2),
        ("贺", "He", 2), ("顾", "Gu", 2), ("毛", "Mao", 2), ("郝", "Hao", 2), ("龚", "Gong", 2),
        ("邵", "Shao", 2),
    ];
    /// The first (or only) character of a given name.
    #[rustfmt::skip]
    const GIVEN_FIRST: &[(&str, usize)] = &[
        ("伟", 6), ("芳", 4), ("娜", 3), ("敏", 4), ("静", 4), ("丽", 3), ("强", 3), ("磊", 3),
        ("军", 3), ("洋", 2), ("勇", 2), ("艳", 2), ("杰", 3), ("娟", 2), ("涛", 2), ("明", 3),
        ("超", 2), ("秀", 4), ("霞", 2), ("平", 2), ("刚", 2), ("桂", 2), ("建", 4), ("志", 3),
        ("文", 3), ("晓", 4), ("海", 3), ("国", 3), ("春", 2), ("玉", 3), ("宏", 2), ("嘉", 2),
        ("俊", 2), ("思", 2), ("雨", 2), ("梓", 2), ("浩", 2), ("宇", 2), ("欣", 2), ("佳", 2),
        ("金", 2), ("德", 2), ("永", 2), ("红", 2), ("立", 1), ("晨", 1), ("鹏", 2), ("辉", 2),
        ("婷", 2), ("雪", 2), ("琳", 1), ("颖", 1), ("倩", 1), ("鑫", 2),
    ];
    /// The second character of a given name; none for a one-character given name (about a third
    /// of them).
    #[rustfmt::skip]
    const GIVEN_SECOND: &[(&str, usize)] = &[
        ("", 30), ("华", 4), ("明", 3), ("平", 3), ("英", 4), ("军", 3), ("东", 3), ("伟", 3),
        ("兰", 3), ("芳", 3), ("强", 2), ("杰", 2), ("涛", 2), ("轩", 2), ("萱", 2), ("怡", 2),
        ("涵", 2), ("辉", 2), ("峰", 2), ("林", 2), ("梅", 2), ("霞", 2), ("婷", 2), ("琳", 2),
        ("宁", 2), ("龙", 2), ("飞", 2), ("成", 2), ("亮", 2), ("燕", 2), ("红", 2), ("玲", 2),
    ];
    /// Company cities with their pinyin, in percent; 杭州 is 10%.
    #[rustfmt::skip]
    const CITIES: &[(&str, &str, usize)] = &[
        ("北京", "Beijing", 12), ("上海", "Shanghai", 12), ("广州", "Guangzhou", 9),
        ("深圳", "Shenzhen", 9), ("杭州", "Hangzhou", 10), ("南京", "Nanjing", 6),
        ("苏州", "Suzhou", 6), ("成都", "Chengdu", 7), ("武汉", "Wuhan", 6), ("西安", "Xian", 4),
        ("重庆", "Chongqing", 5), ("天津", "Tianjin", 4), ("长沙", "Changsha", 3),
        ("郑州", "Zhengzhou", 3), ("青岛", "Qingdao", 2), ("宁波", "Ningbo", 2),
    ];
    /// Chinese trade names (the 某某 of 杭州某某科技有限公司).
    #[rustfmt::skip]
    const TRADE_NAMES: &[(&str, usize)] = &[
        ("华信", 1), ("恒达", 1), ("鼎盛", 1), ("新源", 1), ("远航", 1), ("博创", 1), ("金诚", 1),
        ("天成", 1), ("瑞丰", 1), ("宏图", 1), ("中联", 1), ("汇通", 1), ("聚力", 1), ("星辰", 1),
        ("云帆", 1), ("领航", 1), ("卓越", 1), ("同创", 1), ("安泰", 1), ("嘉禾", 1),
    ];
    #[rustfmt::skip]
    const INDUSTRIES: &[(&str, usize)] = &[
        ("科技", 6), ("网络科技", 3), ("贸易", 4), ("实业", 2), ("电子", 2), ("信息技术", 3),
        ("文化传媒", 2), ("建设工程", 2), ("食品", 2), ("医药", 1), ("教育科技", 1), ("咨询", 1),
        ("物流", 2), ("机械", 1), ("新能源", 1),
    ];
    /// Latin given names after a pinyin surname (`Wang Wei`).
    #[rustfmt::skip]
    const PINYIN_GIVEN: &[(&str, usize)] = &[
        ("Wei", 5), ("Fang", 3), ("Na", 3), ("Min", 3), ("Jing", 3), ("Lei", 3), ("Yang", 2),
        ("Jun", 2), ("Tao", 2), ("Ming", 3), ("Chao", 2), ("Jie", 2), ("Yan", 2), ("Qiang", 2),
        ("Hui", 2), ("Hong", 2), ("Ping", 2), ("Gang", 1), ("Xin", 2), ("Yu", 2), ("Hao", 2),
        ("Li", 2), ("Xiaoming", 1), ("Jianguo", 1), ("Lina", 1), ("Haiyan", 1), ("Zihan", 1),
    ];
    #[rustfmt::skip]
    const FIRST_NAMES: &[(&str, usize)] = &[
        ("Maria", 4), ("John", 3), ("David", 3), ("Anna", 3), ("James", 2), ("Michael", 3),
        ("Sarah", 2), ("Laura", 2), ("Carlos", 2), ("Ana", 2), ("Peter", 2), ("Thomas", 2),
        ("Emma", 2), ("Sophie", 1), ("Daniel", 2), ("Jose", 2), ("Juan", 2), ("Elena", 1),
        ("Paul", 2), ("Mark", 2), ("Linda", 1), ("Robert", 2), ("Marco", 1), ("Lucia", 1),
        ("Hans", 1), ("Olga", 1), ("Yuki", 1), ("Priya", 1),
    ];
    #[rustfmt::skip]
    const LAST_NAMES: &[(&str, usize)] = &[
        ("Garcia", 4), ("Smith", 5), ("Johnson", 3), ("Brown", 3), ("Martinez", 3),
        ("Rodriguez", 3), ("Lopez", 2), ("Gonzalez", 2), ("Muller", 2), ("Schmidt", 2),
        ("Rossi", 2), ("Silva", 2), ("Santos", 2), ("Nguyen", 3), ("Kim", 3), ("Lee", 3),
        ("Williams", 3), ("Jones", 3), ("Miller", 2), ("Davis", 2), ("Wilson", 2), ("Taylor", 2),
        ("Martin", 2), ("Fernandez", 2), ("Perez", 2), ("Sanchez", 2), ("Dubois", 1),
        ("Novak", 1), ("Kowalski", 1), ("Ivanov", 1), ("Tanaka", 1), ("Patel", 2),
    ];
    /// What a Latin company does, after its city (`Hangzhou Tea Co`).
    #[rustfmt::skip]
    const BUSINESSES: &[(&str, usize)] = &[
        ("Tea", 2), ("Silk Trading", 1), ("Bright Technology", 2), ("Star Electronics", 1),
        ("Ocean Logistics", 1), ("Golden Foods", 1), ("Green Energy", 1), ("Dragon Media", 1),
        ("Sun Pharma", 1), ("River Consulting", 1), ("Peak Machinery", 1), ("Unity Software", 2),
        ("Garden Supplies", 1), ("Harmony Education", 1), ("Pacific Trading", 2),
        ("Lotus Textiles", 1), ("Jade Furniture", 1), ("Phoenix Networks", 1),
        ("Summit Capital", 1), ("Orient Travel", 1),
    ];
    #[rustfmt::skip]
    const SUFFIXES: &[(&str, usize)] = &[
        ("Co", 4), ("Ltd", 3), ("Co., Ltd.", 2), ("Inc", 1), ("Group", 1),
    ];

    /// The word lists of [`NAMES_SQL`], each word repeated by its weight.
    pub struct Vocabulary {
        arrays: [Vec<&'static str>; 13],
    }

    impl Vocabulary {
        pub fn new() -> Self {
            let first = |t: &[(&'static str, &'static str, usize)]| {
                weighted(&t.iter().map(|&(w, _, n)| (w, n)).collect::<Vec<_>>())
            };
            let second = |t: &[(&'static str, &'static str, usize)]| {
                weighted(&t.iter().map(|&(_, w, n)| (w, n)).collect::<Vec<_>>())
            };
            Self {
                arrays: [
                    first(SURNAMES),
                    second(SURNAMES),
                    weighted(GIVEN_FIRST),
                    weighted(GIVEN_SECOND),
                    first(CITIES),
                    second(CITIES),
                    weighted(TRADE_NAMES),
                    weighted(INDUSTRIES),
                    weighted(PINYIN_GIVEN),
                    weighted(FIRST_NAMES),
                    weighted(LAST_NAMES),
                    weighted(BUSINESSES),
                    weighted(SUFFIXES),
                ],
            }
        }

        /// Binds `$7` ([`RARE_EVERY`]) and `$8`–`$20` (the word lists) after `$1`–`$6`.
        pub fn bind<'q>(
            &'q self,
            query: Query<'q, Postgres, PgArguments>,
        ) -> Query<'q, Postgres, PgArguments> {
            let mut query = query.bind(RARE_EVERY);
            for array in &self.arrays {
                query = query.bind(array.as_slice());
            }
            query
        }
    }

    fn weighted(words: &[(&'static str, usize)]) -> Vec<&'static str> {
        words
            .iter()
            .flat_map(|&(word, n)| std::iter::repeat_n(word, n))
            .collect()
    }
}
