//! The database: which backend, the pool, migrations, and the write lock.
//!
//! Queries go through sqlx's `Any` driver with `$1`-style parameters, which both SQLite and
//! PostgreSQL accept, so one set of queries serves both backends. Only the schema differs
//! (`migrations/sqlite`, `migrations/postgres`).
//!
//! **Planner statistics.** PostgreSQL plans a query from statistics that only `ANALYZE`
//! writes. A table that was never analysed is planned with default guesses (an `IN` list of a
//! few hundred hashes is taken to match most of `member`), so a new county's database, which
//! starts empty and grows fast, would read whole tables per upload batch until autovacuum
//! happened to analyse them. The server does not wait for autovacuum: after the migrations,
//! and after every write that commits, it analyses each table of [`GROWING_TABLES`] that has
//! doubled in size since PostgreSQL last analysed it (see [`refresh_statistics`]). SQLite
//! needs none of this: without statistics its planner takes an index for every equality or
//! `IN` it can, which is the plan every hot query wants at any size; statistics could only
//! move it away from them, so the server never runs `ANALYZE` or `PRAGMA optimize` there.
//!
//! **SQLite checkpoints** (ADR 0013). A commit appends the pages it changed to the WAL; a
//! checkpoint copies them back into the database file. Left to SQLite, the commit that takes
//! the WAL past 1,000 pages runs the checkpoint itself, inside the request that committed.
//! On a large register every upload batch changes more pages than that (each insert into an
//! index on random keys, such as change hashes and ID-number hashes, lands on a leaf of its
//! own), so every upload's commit also paid for a checkpoint. Here a background task
//! ([`Db::checkpoint_forever`], run by the server) checkpoints after each commit, outside
//! the write order and every request, and SQLite's own checkpoint is only a backstop at
//! [`WAL_BACKSTOP_PAGES`], should that task fall behind.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database and the lock that orders writes.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Serialises this process's writes. Feed positions must become visible in the order
    /// they were assigned, or a device reading the feed could skip a change that commits
    /// late; on PostgreSQL an advisory lock extends the same order across servers.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// Set while this process checks or refreshes planner statistics, so that writes
    /// committing meanwhile do not queue up behind the same `ANALYZE`.
    refreshing_statistics: Arc<AtomicBool>,
    /// On SQLite: wakes the background checkpoint after a commit (see the module doc).
    wal_written: Option<Arc<tokio::sync::Notify>>,
}

/// Identifies the PostgreSQL advisory lock that orders writes across servers.
const WRITE_LOCK_KEY: i64 = 0x646f_6f72_7374_6570;

/// How long a request waits for a PostgreSQL connection before it is answered 503 (server
/// busy, retry): while the database is down or restarting, a phone hears so in seconds rather
/// than after half a minute, and requests do not pile up behind a dead pool.
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// On SQLite the database is a local file that cannot be down; a wait there is a queue of
/// writers behind the one write lock, which does end.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// SQLite's own checkpoint runs in the commit that takes the WAL past this many pages (64 MiB
/// of 4 KiB pages): only when the background checkpoint falls behind, for instance while a
/// long read keeps it from finishing, or in a command that runs none (`doorstep` other than
/// `serve`).
pub const WAL_BACKSTOP_PAGES: u32 = 16_384;

/// The most parameters one statement binds. Batched statements are split to stay under
/// both backends' limits (SQLite 32,766, PostgreSQL 65,535).
pub const MAX_PARAMS: usize = 30_000;

/// The tables that grow with the register and that ingest, the feed and the review queue
/// query by key. On PostgreSQL their statistics are kept fresh by the server.
pub const GROWING_TABLES: [&str; 11] = [
    "document",
    "change",
    "household",
    "member",
    "visit",
    "training",
    "subsidy",
    "review_item",
    "review_event",
    "quarantine",
    "audit_log",
];

/// A table is analysed again once it holds this many times the pages it held when last
/// analysed: the planner's picture of it is then never off by more than this factor, and
/// the `ANALYZE`s of a table growing from empty to any size cost, in all, about as much as
/// the last one alone.
const STATISTICS_GROWTH: i64 = 2;

/// Below this many pages (8 KB each) a table is not analysed: reading it whole costs next to
/// nothing, whatever the plan.
const STATISTICS_MIN_PAGES: i64 = 8;

impl Backend {
    /// The backend a connection talks to.
    pub fn of(conn: &AnyConnection) -> Backend {
        if conn.backend_name() == "PostgreSQL" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The rows of a multi-row `VALUES`: `($1, $2), ($3, $4)` for two rows of two columns
    /// (`(?, ?), (?, ?)` on SQLite, see [`Backend::parameter`]). One statement per batch
    /// instead of one per row saves a round trip through the driver per row, which on
    /// SQLite is a hand-off to sqlx's worker thread and back, and on PostgreSQL a network
    /// round trip.
    pub fn value_rows(self, rows: usize, columns: usize) -> String {
        let mut sql = String::with_capacity(rows * columns * 5);
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for column in 0..columns {
                if column > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&self.parameter(row * columns + column + 1));
            }
            sql.push(')');
        }
        sql
    }

    /// `$1, $2, …, $count` (or `?, ?, …`), for an `IN (…)` list.
    pub fn placeholders(self, count: usize) -> String {
        self.placeholders_from(1, count)
    }

    /// `$first, …` for `count` parameters: the next list of a statement that has one before
    /// it. A statement that needs the same values twice takes two lists and binds them twice,
    /// because SQLite's anonymous parameters cannot be referred to again.
    pub fn placeholders_from(self, first: usize, count: usize) -> String {
        (first..first + count)
            .map(|n| self.parameter(n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `n`th parameter of a statement whose parameters all come from these helpers, in
    /// order. SQLite gets anonymous `?`s, bound in order: for a numbered one sqlx asks SQLite
    /// its name, which SQLite finds by walking the statement's list of names, so binding
    /// costs the square of the parameter count (milliseconds for a batch of member rows).
    pub fn parameter(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }
}

/// How many rows of `columns` parameters fit in one statement.
pub fn rows_per_statement(columns: usize) -> usize {
    (MAX_PARAMS / columns.max(1)).max(1)
}

impl Db {
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(match backend {
                Backend::Sqlite => SQLITE_ACQUIRE_TIMEOUT,
                Backend::Postgres => POSTGRES_ACQUIRE_TIMEOUT,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        let backstop = format!("PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}");
                        conn.execute(sqlx::AssertSqlSafe(backstop)).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Db {
            pool,
            backend,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            refreshing_statistics: Arc::new(AtomicBool::new(false)),
            wal_written: (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Notify::new())),
        })
    }

    /// On SQLite, checkpoints the WAL after each write that commits, until the task is
    /// dropped; on PostgreSQL returns at once. The server runs it beside its requests, so
    /// that no commit copies pages into the database file while a phone waits for it.
    /// Commits during a checkpoint are taken by the next one. A failed checkpoint fails
    /// nothing: the next commit tries again, and SQLite's backstop holds meanwhile.
    pub async fn checkpoint_forever(&self) {
        let Some(wal_written) = &self.wal_written else {
            return;
        };
        loop {
            wal_written.notified().await;
            match self.checkpoint().await {
                Ok((frames, copied)) if copied < frames => tracing::debug!(
                    frames,
                    copied,
                    "a reader kept part of the WAL from the checkpoint; the next one takes it"
                ),
                Ok(_) => {}
                Err(err) => tracing::warn!(
                    error = %err,
                    "checkpointing the WAL failed; tried again after the next write"
                ),
            }
        }
    }

    /// One passive checkpoint: copies into the database file the WAL pages that no reader
    /// still needs, waiting for no one. Returns the WAL's frames and how many of them are
    /// now in the database file.
    pub async fn checkpoint(&self) -> Result<(i64, i64), sqlx::Error> {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        let log: i64 = row.try_get(1)?;
        let checkpointed: i64 = row.try_get(2)?;
        Ok((log, checkpointed))
    }

    /// Brings the schema up to date, then the planner statistics (see the module doc): a
    /// database that grew without them, on an older version or with autovacuum off, is
    /// planned well from this start on.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?;
            }
        }
        refresh_statistics(&self.pool, self.backend).await?;
        Ok(())
    }

    /// Begins a write transaction that holds the write order until it ends.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let guard = Arc::clone(&self.write_lock).lock_owned().await;
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
        }
        Ok(WriteTx {
            tx,
            _guard: guard,
            wal_written: self.wal_written.clone(),
            statistics: (self.backend == Backend::Postgres).then(|| StatisticsRefresh {
                pool: self.pool.clone(),
                running: Arc::clone(&self.refreshing_statistics),
            }),
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// A write transaction holding the write order.
#[derive(Debug)]
pub struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
    /// On SQLite: what wakes the background checkpoint once the write has committed.
    wal_written: Option<Arc<tokio::sync::Notify>>,
    /// On PostgreSQL: what refreshes planner statistics once the write has committed.
    statistics: Option<StatisticsRefresh>,
}

/// The pool to analyse through, and the flag that lets one refresh run at a time.
#[derive(Debug)]
struct StatisticsRefresh {
    pool: AnyPool,
    running: Arc<AtomicBool>,
}

impl WriteTx {
    /// Commits, releases the write order, wakes the background checkpoint (SQLite), then
    /// analyses any table the write made outgrow its statistics (PostgreSQL). The analysis
    /// happens here, in the request that wrote, rather than on a timer, so that the next
    /// batch is planned with them whatever the timing; it costs one catalog query, and
    /// rarely an `ANALYZE` (a sample of at most 30,000 rows, whatever the size), which
    /// takes no lock that writers or readers wait for. A failed refresh fails nothing:
    /// the write is in, and the next commit tries again.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let WriteTx {
            tx,
            _guard,
            wal_written,
            statistics,
        } = self;
        tx.commit().await?;
        drop(_guard);
        if let Some(wal_written) = wal_written {
            wal_written.notify_one();
        }
        if let Some(refresh) = statistics
            // Held until the refresh below has ended.
            && let Some(_running) = OneAtATime::claim(&refresh.running)
            && let Err(err) = refresh_statistics(&refresh.pool, Backend::Postgres).await
        {
            tracing::warn!(error = %err, "refreshing planner statistics failed");
        }
        Ok(())
    }
}

/// Holds the flag of a refresh in progress, and lowers it when dropped: also when the
/// request is abandoned mid-refresh, or the flag would stay up and this process would never
/// refresh again.
struct OneAtATime<'a>(&'a AtomicBool);

impl<'a> OneAtATime<'a> {
    /// Raises the flag, unless another refresh holds it.
    fn claim(flag: &'a AtomicBool) -> Option<OneAtATime<'a>> {
        (!flag.swap(true, Ordering::AcqRel)).then_some(OneAtATime(flag))
    }
}

impl Drop for OneAtATime<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// On PostgreSQL, analyses each of [`GROWING_TABLES`] that has at least
/// [`STATISTICS_MIN_PAGES`] pages and [`STATISTICS_GROWTH`] times the pages it had when last
/// analysed (or vacuumed), or was never analysed. Returns the tables analysed. PostgreSQL
/// itself keeps the size at the last `ANALYZE` (`pg_class.relpages`), so this holds across
/// restarts and across servers sharing the database, with no state of its own. On SQLite it
/// does nothing (see the module doc).
pub async fn refresh_statistics(
    pool: &AnyPool,
    backend: Backend,
) -> Result<Vec<String>, sqlx::Error> {
    if backend != Backend::Postgres {
        return Ok(Vec::new());
    }
    let tables = GROWING_TABLES
        .iter()
        .map(|table| format!("'{table}'"))
        .collect::<Vec<_>>()
        .join(", ");
    // Only the constant table names are formatted into the SQL.
    let sql = format!(
        "SELECT c.relname::TEXT AS name FROM pg_class c
         WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
           AND c.relname IN ({tables})
           AND pg_relation_size(c.oid) / current_setting('block_size')::BIGINT
               >= GREATEST($1, $2 * c.relpages::BIGINT)
         ORDER BY c.relname"
    );
    let stale: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(STATISTICS_MIN_PAGES)
        .bind(STATISTICS_GROWTH)
        .fetch_all(pool)
        .await?;
    if !stale.is_empty() {
        // The names come from the catalog query above, which only returns constant ones.
        let sql = format!("ANALYZE {}", stale.join(", "));
        pool.execute(sqlx::AssertSqlSafe(sql)).await?;
        tracing::info!(tables = ?stale, "analysed tables that outgrew their planner statistics");
    }
    Ok(stale)
}

/// A migrated SQLite database in `dir`, for tests of the modules that write it.
#[cfg(test)]
pub(crate) async fn test_sqlite(dir: &std::path::Path) -> Db {
    let url = crate::config::database_url(dir, None).expect("a data directory");
    let db = Db::connect(&url).await.expect("SQLite opens");
    db.migrate().await.expect("migrations run");
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_value_rows_number_parameters_row_by_row() {
        assert_eq!(
            Backend::Postgres.value_rows(2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(Backend::Sqlite.value_rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(Backend::Postgres.placeholders(3), "$1, $2, $3");
        assert_eq!(Backend::Sqlite.placeholders(2), "?, ?");
        assert_eq!(Backend::Postgres.placeholders_from(3, 2), "$3, $4");
        assert_eq!(Backend::Sqlite.placeholders_from(3, 2), "?, ?");
    }

    #[tokio::test]
    async fn test_a_sqlite_commit_leaves_its_checkpoint_to_the_background_task() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = test_sqlite(dir.path()).await;
        let file = dir.path().join("doorstep.db");
        let marker = "checkpoint-marker-5d41402abc4b2a76";
        let in_database_file = || {
            let bytes = std::fs::read(&file).expect("the database file reads");
            bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
        };
        let backstop: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&db.pool)
            .await
            .expect("the setting reads");
        assert_eq!(backstop, i64::from(WAL_BACKSTOP_PAGES));

        let mut write = db.begin_write().await.expect("a write begins");
        sqlx::query("INSERT INTO register_refill (household_id) VALUES ($1)")
            .bind(marker)
            .execute(&mut *write.tx)
            .await
            .expect("the row is written");
        write.commit().await.expect("the write commits");
        // Committed, in the WAL only: the commit did not checkpoint.
        assert!(!in_database_file());

        // The task started after the commit still hears of it.
        let checkpoints = tokio::spawn({
            let db = db.clone();
            async move { db.checkpoint_forever().await }
        });
        let mut waited = 0;
        while !in_database_file() {
            assert!(
                waited < 200,
                "the background task never checkpointed the commit"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
        checkpoints.abort();
    }

    #[test]
    fn test_one_statistics_refresh_at_a_time_and_the_flag_falls_when_it_is_dropped() {
        let flag = AtomicBool::new(false);
        let first = OneAtATime::claim(&flag);
        assert!(first.is_some());
        assert!(OneAtATime::claim(&flag).is_none());
        // An abandoned refresh drops its claim like a finished one.
        drop(first);
        assert!(OneAtATime::claim(&flag).is_some());
    }
}
