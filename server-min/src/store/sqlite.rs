//! Rooms in one SQLite file: the embedded default under `--data-dir`.
//!
//! A room is kept with its epoch and definition (the JSON the REST API validated), and its
//! members in their own table, so later features (recordings, the webhook outbox, audit) can
//! refer to them. Writes go through one connection behind a mutex: room creation is rare and
//! small, and SQLite serializes writers anyway.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use assistrtc_core::protocol::RoomId;
use rusqlite::{Connection, OptionalExtension, params};

use super::{IssuedToken, RecordingStore, RoomDefinition, RoomStore, StoreError};

/// The schema this code reads and writes; recorded in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS rooms (
        id          TEXT PRIMARY KEY,
        epoch       TEXT NOT NULL,
        definition  TEXT NOT NULL,
        expires_at  INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS members (
        room_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        member_id   TEXT NOT NULL,
        role        TEXT NOT NULL,
        PRIMARY KEY (room_id, member_id)
    );
    -- Every join token issued, by id; kept past its room for audits.
    CREATE TABLE IF NOT EXISTS issued_tokens (
        jti         TEXT PRIMARY KEY,
        room_id     TEXT NOT NULL,
        member_id   TEXT NOT NULL,
        epoch       TEXT NOT NULL,
        expires_at  INTEGER NOT NULL
    );
    -- For the features that come next (cloud and local recording uploads, webhook delivery,
    -- the agent queue, the access audit): created now so they start at schema 1.
    CREATE TABLE IF NOT EXISTS recordings (
        id          TEXT PRIMARY KEY,
        room_id     TEXT NOT NULL,
        epoch       TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        manifest    TEXT,
        state       TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS webhook_outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id         TEXT NOT NULL,
        event           TEXT NOT NULL,
        payload         TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        delivered_at    INTEGER
    );
    CREATE TABLE IF NOT EXISTS queue (
        room_id     TEXT NOT NULL,
        member_id   TEXT NOT NULL,
        enqueued_at INTEGER NOT NULL,
        PRIMARY KEY (room_id, member_id)
    );
    CREATE TABLE IF NOT EXISTS audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        subject     TEXT NOT NULL,
        detail      TEXT
    );
";

/// Schema 2: the local recording upload. The `recordings` row gains who uploads it, the room
/// as it was (context), the sidecar, type, size and completion; chunks get a table.
const MIGRATE_2: &str = "
    ALTER TABLE recordings ADD COLUMN member_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE recordings ADD COLUMN context TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE recordings ADD COLUMN mime TEXT;
    ALTER TABLE recordings ADD COLUMN sidecar TEXT;
    ALTER TABLE recordings ADD COLUMN chunk_count INTEGER;
    ALTER TABLE recordings ADD COLUMN completed_at INTEGER;
    CREATE INDEX IF NOT EXISTS recordings_by_room ON recordings (room_id, created_at);
    CREATE TABLE IF NOT EXISTS recording_chunks (
        recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        n            INTEGER NOT NULL,
        bytes        INTEGER NOT NULL,
        sha256       TEXT NOT NULL,
        PRIMARY KEY (recording_id, n)
    );
    CREATE INDEX IF NOT EXISTS audit_by_subject ON audit (subject, id);
";

/// Schema 3: the create's idempotency key. Unique per creation of the room and member, so a
/// create retried after its answer was lost finds the recording instead of adding one; rows
/// from before have none (NULL, which the partial index leaves out).
const MIGRATE_3: &str = "
    ALTER TABLE recordings ADD COLUMN idempotency_key TEXT;
    CREATE UNIQUE INDEX IF NOT EXISTS recordings_by_key
        ON recordings (room_id, epoch, member_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
";

/// A [`RoomStore`] in a SQLite file.
#[derive(Debug)]
pub struct SqliteRoomStore {
    conn: Mutex<Connection>,
}

pub(super) fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

impl SqliteRoomStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(storage)?;
        // WAL: readers do not wait for the writer; NORMAL sync is durable across a crash of
        // the process (the common case), and much faster than FULL.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(storage)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(storage)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Storage(format!(
                "{} was written by a newer server (schema {version}, this one knows {SCHEMA_VERSION})",
                path.display()
            )));
        }
        conn.execute_batch(SCHEMA).map_err(storage)?;
        // Each in one transaction with its version bump: a crash never leaves half a
        // migration.
        for (to, migration) in [(2, MIGRATE_2), (3, MIGRATE_3)] {
            if version < to {
                conn.execute_batch(&format!(
                    "BEGIN; {migration} PRAGMA user_version = {to}; COMMIT;"
                ))
                .map_err(storage)?;
            }
        }
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(storage)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub(super) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic mid-call leaves SQLite's own transaction state consistent.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn decode(definition: &str) -> Result<RoomDefinition, StoreError> {
    serde_json::from_str(definition).map_err(storage)
}

impl RoomStore for SqliteRoomStore {
    fn create_room(&self, room: RoomDefinition, max_rooms: usize) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM rooms WHERE id = ?1)",
                params![room.id.as_str()],
                |r| r.get(0),
            )
            .map_err(storage)?;
        if exists {
            return Err(StoreError::Conflict(room.id));
        }
        let count: i64 = tx
            .query_row("SELECT COUNT(*) FROM rooms", [], |r| r.get(0))
            .map_err(storage)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_rooms {
            return Err(StoreError::Full { max: max_rooms });
        }
        let definition = serde_json::to_string(&room).map_err(storage)?;
        // SQLite integers are i64; "never" (u64::MAX) is kept as the largest.
        let expires_at = i64::try_from(room.expires_at).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO rooms (id, epoch, definition, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![room.id.as_str(), room.epoch, definition, expires_at],
        )
        .map_err(storage)?;
        for m in &room.members {
            tx.execute(
                "INSERT INTO members (room_id, member_id, role) VALUES (?1, ?2, ?3)",
                params![room.id.as_str(), m.id.as_str(), m.role.as_str()],
            )
            .map_err(storage)?;
        }
        tx.commit().map_err(storage)
    }

    fn get_room(&self, id: &RoomId) -> Result<Option<RoomDefinition>, StoreError> {
        let definition: Option<String> = self
            .conn()
            .query_row(
                "SELECT definition FROM rooms WHERE id = ?1",
                params![id.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        definition.as_deref().map(decode).transpose()
    }

    fn remove_room(&self, id: &RoomId) -> Result<bool, StoreError> {
        let removed = self
            .conn()
            .execute("DELETE FROM rooms WHERE id = ?1", params![id.as_str()])
            .map_err(storage)?;
        Ok(removed > 0)
    }

    fn record_tokens(&self, tokens: &[IssuedToken]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        for t in tokens {
            let at = i64::try_from(t.expires_at).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO issued_tokens (jti, room_id, member_id, epoch, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.jti, t.room.as_str(), t.member.as_str(), t.epoch, at],
            )
            .map_err(storage)?;
        }
        tx.commit().map_err(storage)
    }

    fn extend_room(&self, id: &RoomId, expires_at: u64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        let definition: Option<String> = tx
            .query_row(
                "SELECT definition FROM rooms WHERE id = ?1",
                params![id.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        let Some(mut def) = definition.as_deref().map(decode).transpose()? else {
            return Ok(());
        };
        if def.expires_at == super::NEVER || expires_at <= def.expires_at {
            return Ok(());
        }
        def.expires_at = expires_at;
        let definition = serde_json::to_string(&def).map_err(storage)?;
        let at = i64::try_from(expires_at).unwrap_or(i64::MAX);
        tx.execute(
            "UPDATE rooms SET definition = ?2, expires_at = ?3 WHERE id = ?1",
            params![id.as_str(), definition, at],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)
    }

    fn recordings(&self) -> Option<&dyn RecordingStore> {
        Some(self)
    }

    fn rooms(&self) -> Result<Vec<RoomDefinition>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT definition FROM rooms ORDER BY rowid")
            .map_err(storage)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(storage)?;
        let mut rooms = Vec::new();
        for row in rows {
            rooms.push(decode(&row.map_err(storage)?)?);
        }
        Ok(rooms)
    }
}

#[cfg(test)]
mod tests {
    use assistrtc_core::protocol::{MemberId, Permissions, Role};

    use super::*;
    use crate::store::{MemberSpec, NEVER};

    fn room(id: &str, epoch: &str) -> RoomDefinition {
        RoomDefinition {
            id: RoomId::new(id).unwrap(),
            members: vec![MemberSpec {
                id: MemberId::new("agent_1").unwrap(),
                role: Role::Host,
            }],
            permissions: Permissions::default(),
            epoch: epoch.into(),
            expires_at: NEVER,
        }
    }

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("assistrtc-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("state.sqlite3")
    }

    #[test]
    fn rooms_survive_reopening_with_their_epoch() {
        let path = temp_db("reopen");
        {
            let store = SqliteRoomStore::open(&path).unwrap();
            store.create_room(room("rm_1", "e1"), 10).unwrap();
            store.create_room(room("rm_2", "e2"), 10).unwrap();
            assert_eq!(
                store.create_room(room("rm_1", "e3"), 10),
                Err(StoreError::Conflict(RoomId::new("rm_1").unwrap()))
            );
            assert!(store.remove_room(&RoomId::new("rm_2").unwrap()).unwrap());
        }
        let store = SqliteRoomStore::open(&path).unwrap();
        assert_eq!(store.rooms().unwrap(), vec![room("rm_1", "e1")]);
        assert_eq!(
            store.get_room(&RoomId::new("rm_1").unwrap()).unwrap(),
            Some(room("rm_1", "e1"))
        );
        assert_eq!(store.get_room(&RoomId::new("rm_2").unwrap()).unwrap(), None);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn the_room_cap_and_member_rows() {
        let path = temp_db("cap");
        let store = SqliteRoomStore::open(&path).unwrap();
        store.create_room(room("rm_1", "e1"), 1).unwrap();
        assert_eq!(
            store.create_room(room("rm_2", "e2"), 1),
            Err(StoreError::Full { max: 1 })
        );
        let members: i64 = store
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM members WHERE room_id = 'rm_1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(members, 1);
        // Removing a room removes its members too.
        store.remove_room(&RoomId::new("rm_1").unwrap()).unwrap();
        let left: i64 = store
            .conn()
            .query_row("SELECT COUNT(*) FROM members", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn issued_tokens_are_recorded_by_id() {
        let path = temp_db("tokens");
        let store = SqliteRoomStore::open(&path).unwrap();
        store.create_room(room("rm_1", "e1"), 10).unwrap();
        let token = IssuedToken {
            jti: "j1".into(),
            room: RoomId::new("rm_1").unwrap(),
            member: MemberId::new("agent_1").unwrap(),
            epoch: "e1".into(),
            expires_at: 1_600,
        };
        store.record_tokens(std::slice::from_ref(&token)).unwrap();
        let (member, expires): (String, i64) = store
            .conn()
            .query_row(
                "SELECT member_id, expires_at FROM issued_tokens WHERE jti = 'j1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((member.as_str(), expires), ("agent_1", 1_600));
        // An id is issued once.
        assert!(store.record_tokens(&[token]).is_err());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_database_from_a_newer_server_is_refused() {
        let path = temp_db("newer");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA user_version = 99").unwrap();
        }
        let err = SqliteRoomStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("newer server"), "{err}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
