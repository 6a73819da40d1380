//! [`RecordingStore`] on the SQLite file (the `recordings`, `recording_chunks` and `audit`
//! tables, schema 3).

use std::io;

use assistrtc_core::protocol::{MemberId, RoomId};
use rusqlite::{Connection, OptionalExtension, params};

use super::recording::state_of;
use super::sqlite::storage;
use super::{
    AuditEntry, ChunkCommit, Completion, NewRecording, RecordingCreate, RecordingRecord,
    RecordingState, RecordingStore, SqliteRoomStore, StoreError, StoredChunk,
};

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

const RECORDING_COLUMNS: &str = "id, room_id, epoch, member_id, created_at, context, mime, state, \
                                 chunk_count, completed_at, manifest, sidecar, idempotency_key";

fn read_recording(conn: &Connection, id: &str) -> Result<Option<RecordingRecord>, StoreError> {
    let row = conn
        .query_row(
            &format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?1"),
            params![id],
            row_of,
        )
        .optional()
        .map_err(storage)?;
    let Some(row) = row else { return Ok(None) };
    let mut rec = record_of(row)?;
    rec.chunks = chunks_of(conn, id)?;
    Ok(Some(rec))
}

type Row = (
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn record_of(row: Row) -> Result<RecordingRecord, StoreError> {
    let (
        id,
        room,
        epoch,
        member,
        created_at,
        context,
        mime,
        state,
        count,
        done,
        manifest,
        sidecar,
        key,
    ) = row;
    Ok(RecordingRecord {
        room: RoomId::new(room).map_err(storage)?,
        member: MemberId::new(member).map_err(storage)?,
        id,
        epoch,
        created_at: uint(created_at),
        context,
        mime,
        idempotency_key: key,
        state: state_of(&state),
        chunks: Vec::new(),
        chunk_count: count.map(|c| u32::try_from(c).unwrap_or(u32::MAX)),
        completed_at: done.map(uint),
        manifest,
        sidecar,
    })
}

fn chunks_of(conn: &Connection, id: &str) -> Result<Vec<StoredChunk>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT n, bytes, sha256 FROM recording_chunks WHERE recording_id = ?1 ORDER BY n",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![id], |r| {
            Ok(StoredChunk {
                n: r.get(0)?,
                bytes: uint(r.get(1)?),
                sha256: r.get(2)?,
            })
        })
        .map_err(storage)?;
    rows.collect::<Result<_, _>>().map_err(storage)
}

impl RecordingStore for SqliteRoomStore {
    fn create_recording(
        &self,
        rec: NewRecording,
        max_per_room: usize,
    ) -> Result<RecordingCreate, StoreError> {
        // Holding the connection serializes creates: two with one key never both insert
        // (and the unique index would refuse the second).
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        if let Some(key) = &rec.idempotency_key {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM recordings WHERE room_id = ?1 AND epoch = ?2 \
                     AND member_id = ?3 AND idempotency_key = ?4",
                    params![rec.room.as_str(), rec.epoch, rec.member.as_str(), key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(storage)?;
            // Checked before the quota: the recording it names is counted already.
            if let Some(id) = existing {
                return Ok(RecordingCreate::Existing(id));
            }
        }
        let count: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM recordings WHERE room_id = ?1",
                params![rec.room.as_str()],
                |r| r.get(0),
            )
            .map_err(storage)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_room {
            return Ok(RecordingCreate::RoomFull);
        }
        tx.execute(
            "INSERT INTO recordings (id, room_id, epoch, member_id, created_at, context, mime, \
             state, idempotency_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                rec.id,
                rec.room.as_str(),
                rec.epoch,
                rec.member.as_str(),
                int(rec.created_at),
                rec.context,
                rec.mime,
                RecordingState::Uploading.as_str(),
                rec.idempotency_key,
            ],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(RecordingCreate::Created)
    }

    fn recording(&self, id: &str) -> Result<Option<RecordingRecord>, StoreError> {
        read_recording(&self.conn(), id)
    }

    fn recordings_of_room(&self, room: &RoomId) -> Result<Vec<RecordingRecord>, StoreError> {
        let conn = self.conn();
        let rows: Vec<Row> = {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {RECORDING_COLUMNS} FROM recordings WHERE room_id = ?1 \
                     ORDER BY created_at, rowid"
                ))
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![room.as_str()], row_of)
                .map_err(storage)?;
            rows.collect::<Result<_, _>>().map_err(storage)?
        };
        rows.into_iter()
            .map(|row| {
                let mut rec = record_of(row)?;
                rec.chunks = chunks_of(&conn, &rec.id)?;
                Ok(rec)
            })
            .collect()
    }

    fn commit_chunk(
        &self,
        id: &str,
        chunk: &StoredChunk,
        max_bytes: u64,
        place: &mut dyn FnMut() -> io::Result<()>,
    ) -> Result<ChunkCommit, StoreError> {
        // Holding the connection serializes every commit: the check, the file's placing and
        // the insert happen as one step.
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        let state: Option<String> = tx
            .query_row(
                "SELECT state FROM recordings WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        let Some(state) = state else {
            return Ok(ChunkCommit::NotFound);
        };
        let existing: Option<String> = tx
            .query_row(
                "SELECT sha256 FROM recording_chunks WHERE recording_id = ?1 AND n = ?2",
                params![id, chunk.n],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        match existing {
            Some(sha) if sha == chunk.sha256 => return Ok(ChunkCommit::Identical),
            Some(_) => {
                return Ok(ChunkCommit::Conflict(
                    "a different chunk with this number is stored",
                ));
            }
            None => {}
        }
        if state_of(&state) == RecordingState::Complete {
            return Ok(ChunkCommit::Conflict("the recording is complete"));
        }
        let total: i64 = tx
            .query_row(
                "SELECT COALESCE(SUM(bytes), 0) FROM recording_chunks WHERE recording_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .map_err(storage)?;
        if uint(total).saturating_add(chunk.bytes) > max_bytes {
            return Ok(ChunkCommit::TooLarge);
        }
        place().map_err(|e| StoreError::Storage(format!("cannot place chunk: {e}")))?;
        tx.execute(
            "INSERT INTO recording_chunks (recording_id, n, bytes, sha256) VALUES (?1, ?2, ?3, ?4)",
            params![id, chunk.n, int(chunk.bytes), chunk.sha256],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(ChunkCommit::Stored)
    }

    fn complete_recording(
        &self,
        id: &str,
        done: &Completion,
    ) -> Result<Option<RecordingRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        let Some(rec) = read_recording(&tx, id)? else {
            return Ok(None);
        };
        let exact = rec.chunks.len() == done.chunk_count as usize
            && rec.chunks.iter().zip(0..).all(|(c, n)| c.n == n);
        if rec.state == RecordingState::Complete || !exact {
            return Ok(Some(rec));
        }
        tx.execute(
            "UPDATE recordings SET state = ?2, chunk_count = ?3, completed_at = ?4, \
             manifest = ?5, sidecar = ?6, mime = COALESCE(?7, mime) WHERE id = ?1",
            params![
                id,
                RecordingState::Complete.as_str(),
                done.chunk_count,
                int(done.completed_at),
                done.manifest,
                done.sidecar,
                done.mime,
            ],
        )
        .map_err(storage)?;
        let after = read_recording(&tx, id)?;
        tx.commit().map_err(storage)?;
        Ok(after)
    }

    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    int(entry.at),
                    entry.actor,
                    entry.action,
                    entry.subject,
                    entry.detail
                ],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn audit_of(&self, subject: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT at, actor, action, subject, detail FROM audit WHERE subject = ?1 ORDER BY id",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map(params![subject], |r| {
                Ok(AuditEntry {
                    at: uint(r.get(0)?),
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    subject: r.get(3)?,
                    detail: r.get(4)?,
                })
            })
            .map_err(storage)?;
        rows.collect::<Result<_, _>>().map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RoomStore as _;

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("assistrtc-rec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("state.sqlite3")
    }

    fn new(id: &str) -> NewRecording {
        NewRecording {
            id: id.into(),
            room: RoomId::new("rm_1").unwrap(),
            epoch: "e1".into(),
            member: MemberId::new("agent_1").unwrap(),
            created_at: 1_000,
            context: "{}".into(),
            mime: None,
            idempotency_key: None,
        }
    }

    fn keyed(id: &str, member: &str, key: &str) -> NewRecording {
        NewRecording {
            member: MemberId::new(member).unwrap(),
            idempotency_key: Some(key.into()),
            ..new(id)
        }
    }

    fn chunk(n: u32, sha: &str) -> StoredChunk {
        StoredChunk {
            n,
            bytes: 10,
            sha256: sha.into(),
        }
    }

    #[test]
    fn chunks_commit_once_and_complete_checks_them() {
        let path = temp_db("commit");
        let store = SqliteRoomStore::open(&path).unwrap();
        let recs = store.recordings().unwrap();
        let created = Ok(RecordingCreate::Created);
        assert_eq!(recs.create_recording(new("rec_1"), 2), created);
        assert_eq!(recs.create_recording(new("rec_2"), 2), created);
        assert_eq!(
            recs.create_recording(new("rec_3"), 2),
            Ok(RecordingCreate::RoomFull)
        );

        let mut placed = 0;
        let mut place = || {
            placed += 1;
            Ok(())
        };
        let mut c = |n, sha| recs.commit_chunk("rec_1", &chunk(n, sha), 25, &mut place);
        assert_eq!(c(1, "aa").unwrap(), ChunkCommit::Stored);
        assert_eq!(c(1, "aa").unwrap(), ChunkCommit::Identical);
        assert!(matches!(c(1, "bb").unwrap(), ChunkCommit::Conflict(_)));
        assert_eq!(c(0, "cc").unwrap(), ChunkCommit::Stored);
        // 20 stored, 10 more would pass 25.
        assert_eq!(c(2, "dd").unwrap(), ChunkCommit::TooLarge);
        // Files were placed for the two new chunks only.
        assert_eq!(placed, 2);
        assert_eq!(
            recs.commit_chunk("rec_9", &chunk(0, "aa"), 25, &mut || Ok(()))
                .unwrap(),
            ChunkCommit::NotFound
        );

        let done = |count| Completion {
            chunk_count: count,
            manifest: "{}".into(),
            sidecar: None,
            mime: Some("video/webm".into()),
            completed_at: 2_000,
        };
        let rec = recs.complete_recording("rec_1", &done(3)).unwrap().unwrap();
        assert_eq!(rec.state, RecordingState::Uploading);
        let rec = recs.complete_recording("rec_1", &done(2)).unwrap().unwrap();
        assert_eq!(rec.state, RecordingState::Complete);
        assert_eq!(rec.chunk_count, Some(2));
        assert_eq!(rec.bytes(), 20);
        assert_eq!(rec.mime.as_deref(), Some("video/webm"));
        // Complete: no new chunk, the old ones are still recognised.
        let mut place = || Ok(());
        let mut c = |n, sha| recs.commit_chunk("rec_1", &chunk(n, sha), 25, &mut place);
        assert!(matches!(c(2, "ee").unwrap(), ChunkCommit::Conflict(_)));
        assert_eq!(c(0, "cc").unwrap(), ChunkCommit::Identical);
        drop(store);

        // Reopened (schema 3 kept), everything is there.
        let store = SqliteRoomStore::open(&path).unwrap();
        let recs = store.recordings().unwrap();
        let listed = recs
            .recordings_of_room(&RoomId::new("rm_1").unwrap())
            .unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].chunks.len(), 2);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_schema_1_database_is_migrated() {
        let path = temp_db("migrate");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE recordings (id TEXT PRIMARY KEY, room_id TEXT NOT NULL, \
                 epoch TEXT NOT NULL, created_at INTEGER NOT NULL, manifest TEXT, \
                 state TEXT NOT NULL);
                 CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, \
                 actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = SqliteRoomStore::open(&path).unwrap();
        let recs = store.recordings().unwrap();
        assert_eq!(
            recs.create_recording(new("rec_1"), 10),
            Ok(RecordingCreate::Created)
        );
        recs.audit(&AuditEntry {
            at: 1,
            actor: "api_key".into(),
            action: "recording.read".into(),
            subject: "recording:rec_1".into(),
            detail: None,
        })
        .unwrap();
        assert_eq!(recs.audit_of("recording:rec_1").unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_key_names_one_recording_per_member_and_room_creation() {
        let path = temp_db("key");
        let store = SqliteRoomStore::open(&path).unwrap();
        let recs = store.recordings().unwrap();
        let created = Ok(RecordingCreate::Created);
        let first = Ok(RecordingCreate::Existing("rec_1".into()));
        assert_eq!(
            recs.create_recording(keyed("rec_1", "agent_1", "k"), 2),
            created
        );
        // Again (its answer was lost): the first, nothing stored.
        assert_eq!(
            recs.create_recording(keyed("rec_2", "agent_1", "k"), 2),
            first
        );
        assert_eq!(recs.recording("rec_2").unwrap(), None);
        // Another member's key is its own: a recording of its own.
        assert_eq!(
            recs.create_recording(keyed("rec_3", "agent_2", "k"), 2),
            created
        );
        // The room is full now: a known key still finds its recording, a new one is refused.
        assert_eq!(
            recs.create_recording(keyed("rec_4", "agent_1", "k"), 2),
            first
        );
        assert_eq!(
            recs.create_recording(keyed("rec_5", "agent_1", "k2"), 2),
            Ok(RecordingCreate::RoomFull)
        );
        // A new creation of the room (a new epoch): the key starts afresh.
        let later = NewRecording {
            epoch: "e2".into(),
            ..keyed("rec_6", "agent_1", "k")
        };
        assert_eq!(recs.create_recording(later, 10), created);
        drop(store);

        let store = SqliteRoomStore::open(&path).unwrap();
        let recs = store.recordings().unwrap();
        let rec = recs.recording("rec_1").unwrap().unwrap();
        assert_eq!(rec.idempotency_key.as_deref(), Some("k"));
        assert_eq!(
            recs.create_recording(keyed("rec_7", "agent_1", "k"), 10),
            first
        );
        let listed = recs
            .recordings_of_room(&RoomId::new("rm_1").unwrap())
            .unwrap();
        let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["rec_1", "rec_3", "rec_6"]);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_schema_2_database_gains_the_key() {
        let path = temp_db("migrate3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE recordings (id TEXT PRIMARY KEY, room_id TEXT NOT NULL, \
                 epoch TEXT NOT NULL, created_at INTEGER NOT NULL, manifest TEXT, \
                 state TEXT NOT NULL, member_id TEXT NOT NULL DEFAULT '', \
                 context TEXT NOT NULL DEFAULT '{}', mime TEXT, sidecar TEXT, \
                 chunk_count INTEGER, completed_at INTEGER);
                 CREATE TABLE recording_chunks (recording_id TEXT NOT NULL, n INTEGER NOT NULL, \
                 bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (recording_id, n));
                 INSERT INTO recordings (id, room_id, epoch, created_at, state, member_id) \
                 VALUES ('rec_0', 'rm_1', 'e1', 500, 'uploading', 'agent_1');
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        }
        let store = SqliteRoomStore::open(&path).unwrap();
        let recs = store.recordings().unwrap();
        // The recording from before has no key, and counts against the quota.
        let old = recs.recording("rec_0").unwrap().unwrap();
        assert_eq!(old.idempotency_key, None);
        assert_eq!(
            recs.create_recording(keyed("rec_1", "agent_1", "k"), 2),
            Ok(RecordingCreate::Created)
        );
        assert_eq!(
            recs.create_recording(keyed("rec_2", "agent_1", "k"), 2),
            Ok(RecordingCreate::Existing("rec_1".into()))
        );
        assert_eq!(
            recs.create_recording(new("rec_3"), 2),
            Ok(RecordingCreate::RoomFull)
        );
        // The index holds even for writes that skip the check.
        let conn = store.conn();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 3);
        let duplicate = conn.execute(
            "INSERT INTO recordings (id, room_id, epoch, created_at, state, member_id, \
             idempotency_key) VALUES ('rec_9', 'rm_1', 'e1', 600, 'uploading', 'agent_1', 'k')",
            [],
        );
        assert!(duplicate.is_err(), "{duplicate:?}");
        drop(conn);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
